"""The student's kernel process: resource limits and isolation.

nbgrader executes each submission in a Jupyter kernel. When grading a class
(:mod:`autograder.grade`) that kernel is started through this module instead of the plain
``ipykernel_launcher``::

    python -m autograder.sandbox -f CONNECTION_FILE [ipykernel options]

Before any student code runs, :func:`main`

1. sets resource limits (:func:`apply_limits`): memory (``RLIMIT_DATA``, which still lets
   ``import torch`` map its large shared libraries), CPU seconds (a backstop behind the
   grader's wall-clock limit), the size of any file written, and no core dumps;
2. isolates the file system where Linux allows it (:func:`isolate`): in a private mount
   namespace the course's ``solutions/``, its git history, the grader's output folder and
   gradebooks, the submissions folder and every other student's sandbox are covered by
   empty read-only file systems; the whole file system is read-only except this
   submission's own sandbox folder and a private ``/dev/shm``; a new PID namespace with its
   own ``/proc`` hides the grader's processes; a last user namespace locks those mounts so
   that student code cannot undo them, even as root;
3. starts ipykernel, takes the integrity snapshot (:func:`autograder.integrity.take_snapshot`)
   and installs an audit hook (:func:`install_audit_hook`) that refuses to open or list the
   hidden paths, to write outside the sandbox, to start programs and to signal other
   processes. The hook is the only file-system guard where namespaces are not available
   (macOS, containers without ``CAP_SYS_ADMIN`` or user namespaces); it stops ordinary
   Python code, not native code. Which layers were active is part of the runtime report.

The parent side (:mod:`autograder.preprocessors`) passes a :class:`SandboxSpec` in the
environment variable :data:`ENV_VAR`, and applies the wall-clock limit and the output cap.

This module imports only the standard library at import time, so a kernel starts fast.
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ENV_VAR = "COURSE_GRADER_SANDBOX"
KERNEL_NAME = "course-grader-sandbox"

# Environment variables passed from the grader to the student's kernel. Everything else
# (tokens, credentials, the instructor's paths) is dropped.
_ENV_KEEP = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "SYSTEMROOT",
             "NBGRADER_EXECUTION", "CUDA_VISIBLE_DEVICES")


@dataclass
class SandboxSpec:
    """What the kernel launcher does before student code runs (JSON in :data:`ENV_VAR`).

    Attributes:
        sandbox: absolute path of this submission's sandbox folder; the kernel's working
            directory is inside it and it is the only writable place (besides ``/dev/shm``).
        hide: absolute paths (folders or files) that student code must not see.
        memory_mb: ``RLIMIT_DATA`` of the kernel in MiB (0: no limit).
        cpu_s: ``RLIMIT_CPU`` in CPU seconds (0: no limit).
        fsize_mb: ``RLIMIT_FSIZE`` in MiB (0: no limit).
        namespaces: try the Linux namespace isolation (the audit hook is always installed).
        root: an empty folder outside the sandbox on which the kernel's private root file
            system is mounted.
        workdir: the kernel's working directory, inside ``sandbox`` (default: ``sandbox``).
    """

    sandbox: str
    hide: list[str] = field(default_factory=list)
    memory_mb: int = 0
    cpu_s: int = 0
    fsize_mb: int = 0
    namespaces: bool = True
    root: str = ""
    workdir: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "SandboxSpec":
        return cls(**json.loads(text))


# --------------------------------------------------------------------------- parent side

def write_kernelspec(directory: Path) -> Path:
    """Write a Jupyter kernelspec named :data:`KERNEL_NAME` under ``directory/kernels/``.

    Returns the folder that holds ``kernel.json`` (pass its parent to a
    ``KernelSpecManager(kernel_dirs=[...])``).
    """
    spec_dir = Path(directory) / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "autograder.sandbox", "-f", "{connection_file}"],
        "display_name": "Python 3 (course grader sandbox)",
        "language": "python",
        "interrupt_mode": "signal",
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return spec_dir


def kernel_env(spec: SandboxSpec, threads: int, repo_root: Path) -> dict[str, str]:
    """The whole environment of a student's kernel.

    Only a few variables of the grader's environment are kept (:data:`_ENV_KEEP`); HOME,
    TMPDIR, the IPython and matplotlib folders point into the sandbox; BLAS/OpenMP use
    ``threads`` threads so that parallel graders do not oversubscribe the cores.
    """
    sandbox = Path(spec.sandbox)
    env = {k: v for k, v in os.environ.items() if k in _ENV_KEEP}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "/usr/bin:/bin")])
    home = sandbox / "home"
    env.update({
        "HOME": str(home),
        "TMPDIR": str(sandbox / "tmp"),
        "IPYTHONDIR": str(home / ".ipython"),
        "MPLCONFIGDIR": str(home / ".config" / "matplotlib"),
        "JUPYTER_RUNTIME_DIR": str(home / ".local" / "share" / "jupyter" / "runtime"),
        "PYTHONPATH": str(repo_root),
        "PYTHONSAFEPATH": "1",           # python -m does not put the working directory first on sys.path
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",           # the same submission grades the same way twice
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
        "LOKY_MAX_CPU_COUNT": str(threads),  # joblib would otherwise start `lscpu` (blocked) and warn
        ENV_VAR: spec.to_json(),
    })
    return env


# --------------------------------------------------------------------------- limits

def apply_limits(spec: SandboxSpec) -> list[str]:
    """Set the resource limits of this process (inherited by anything it starts).

    Returns notes on limits that could not be set (empty when all were applied).
    """
    notes = []
    wanted = [
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_DATA, spec.memory_mb * 1024 * 1024, 0),
        (resource.RLIMIT_CPU, spec.cpu_s, 5),  # SIGXCPU at the soft limit, SIGKILL 5 s later
        (resource.RLIMIT_FSIZE, spec.fsize_mb * 1024 * 1024, 0),
    ]
    for which, value, grace in wanted:
        if which != resource.RLIMIT_CORE and not value:
            continue
        try:
            _, hard = resource.getrlimit(which)
            if hard != resource.RLIM_INFINITY:
                value, grace = min(value, hard), 0
            resource.setrlimit(which, (value, value + grace if hard == resource.RLIM_INFINITY else hard))
        except (ValueError, OSError) as exc:
            notes.append(f"resource limit {which} not set: {exc}")
    if spec.fsize_mb:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write fails with EFBIG instead of killing
    return notes


# --------------------------------------------------------------------------- namespaces

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 16384, 1 << 18
_MS_NOATIME, _MS_NODIRATIME, _MS_RELATIME = 1024, 2048, 1 << 21
_MOUNT_ATTR_RDONLY = 0x1
_AT_FDCWD, _AT_RECURSIVE = -100, 0x8000
_SYS_MOUNT_SETATTR = 442  # the same number on every architecture (asm-generic)
_PR_SET_PDEATHSIG = 1


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


class _Linux:
    """Thin ctypes wrappers that raise :class:`OSError` with the failing step in the message."""

    def __init__(self):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
        self.libc.unshare.argtypes = [ctypes.c_int]
        self.libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        self.libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

    @staticmethod
    def _check(result: int, what: str) -> None:
        if result != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    def unshare(self, flags: int, what: str) -> None:
        self._check(self.libc.unshare(flags), f"unshare({what})")

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
        enc = lambda s: None if s is None else os.fsencode(s)  # noqa: E731
        self._check(self.libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")

    def mount_setattr(self, path: str, recursive: bool, set_: int = 0, clear: int = 0) -> None:
        attr = _MountAttr(set_, clear, 0, 0)
        res = self.libc.syscall(_SYS_MOUNT_SETATTR, _AT_FDCWD, os.fsencode(path),
                                _AT_RECURSIVE if recursive else 0, ctypes.byref(attr), ctypes.sizeof(attr))
        self._check(res, f"mount_setattr {path}")

    def pdeathsig(self, sig: int) -> None:
        self._check(self.libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")


def _map_user(uid: int, gid: int) -> None:
    """After ``unshare(CLONE_NEWUSER)``: become root inside, mapped to ``uid``/``gid`` outside."""
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"0 {uid} 1")
    Path("/proc/self/gid_map").write_text(f"0 {gid} 1")


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _mount_points() -> list[tuple[str, int]]:
    """(mount point, per-mount flags to keep) of this mount namespace, from /proc/self/mountinfo."""
    keep = {"nosuid": _MS_NOSUID, "nodev": _MS_NODEV, "noexec": _MS_NOEXEC, "noatime": _MS_NOATIME,
            "nodiratime": _MS_NODIRATIME, "relatime": _MS_RELATIME}
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        parts = line.split()
        target = parts[4].encode().decode("unicode_escape")  # octal escapes such as \040
        flags = 0
        for opt in parts[5].split(","):
            flags |= keep.get(opt, 0)
        points.append((target, flags))
    return points


def _read_only_everywhere(linux: _Linux, except_: list[str]) -> None:
    """Make every mount read-only, then writable again at ``except_`` (mount points)."""
    try:
        linux.mount_setattr("/", recursive=True, set_=_MOUNT_ATTR_RDONLY)
        for path in except_:
            linux.mount_setattr(path, recursive=False, clear=_MOUNT_ATTR_RDONLY)
        return
    except OSError as exc:
        if exc.errno not in (38, 22):  # ENOSYS (kernel < 5.12), EINVAL: fall back to remounting
            raise
    for target, flags in _mount_points():
        if target in except_:
            continue
        try:
            linux.mount(None, target, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | flags)
        except OSError:
            pass  # a mount we may not touch (e.g. locked flags); the audit hook still guards writes


_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/sys", "/dev")
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "loongarch64": 41}
_MNT_DETACH = 2


def _bind(linux: _Linux, src: str, newroot: str, writable: bool = False) -> None:
    """Make ``src`` appear at the same path inside ``newroot`` (read-only unless ``writable``)."""
    dst = newroot + src
    if os.path.islink(src) and os.path.dirname(src) == "/":
        os.symlink(os.readlink(src), dst)  # merged /usr: /lib -> usr/lib
        return
    if os.path.isdir(src):
        os.makedirs(dst, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        open(dst, "a").close()
    linux.mount(src, dst, None, _MS_BIND | _MS_REC)
    if not writable:
        try:
            linux.mount_setattr(dst, recursive=True, set_=_MOUNT_ATTR_RDONLY)
        except OSError:
            linux.mount(None, dst, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY)


def _private_root(linux: _Linux, spec: SandboxSpec, keep_visible: list[str], sandbox: str) -> None:
    """Build a new root file system that holds only what the kernel needs, and pivot into it.

    Visible, read-only: the system folders (``/usr``, ``/etc``, ``/lib*``, ``/opt``, ``/sys``,
    ``/dev``) and ``keep_visible`` (the Python installation, the virtual environment, the
    course's own packages). Writable: the sandbox, a private ``/tmp`` and ``/dev/shm``.
    Everything else (home folders, other courses and gradebooks in /tmp, the repository's
    ``solutions/`` and ``.git``) does not exist for student code.
    """
    number = _PIVOT_ROOT.get(os.uname().machine)
    if number is None or not spec.root:
        raise OSError(38, f"no private root on {os.uname().machine}")
    newroot = os.path.realpath(spec.root)
    linux.mount("tmpfs", newroot, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,mode=0755")
    # The private /tmp comes first: what is bound below may live under /tmp (a repository
    # cloned there, its virtual environment, the sandbox) and must stay visible on top of it.
    os.makedirs(newroot + "/tmp", exist_ok=True)
    linux.mount("tmpfs", newroot + "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, "size=64m,mode=1777")
    bound: list[str] = []
    for path in _SYSTEM_DIRS:
        if os.path.lexists(path):
            _bind(linux, path, newroot)
            bound.append(path)
    for path in sorted({os.path.realpath(p) for p in keep_visible} | set(keep_visible)):
        if os.path.exists(path) and not any(_is_within(path, b) for b in bound):
            _bind(linux, path, newroot)
            bound.append(path)
    os.makedirs(newroot + "/proc", exist_ok=True)
    linux.mount("/proc", newroot + "/proc", None, _MS_BIND | _MS_REC)  # covered by a fresh /proc later
    if os.path.isdir(newroot + "/dev/shm"):
        linux.mount("tmpfs", newroot + "/dev/shm", "tmpfs", _MS_NOSUID | _MS_NODEV, "size=256m,mode=1777")
    _bind(linux, sandbox, newroot, writable=True)
    for raw in spec.hide:  # hidden paths that lie inside something made visible above
        path = os.path.realpath(raw)
        if any(_is_within(path, b) for b in bound) and os.path.lexists(newroot + path) \
                and not _is_within(sandbox, path):
            if os.path.isdir(newroot + path):
                linux.mount("tmpfs", newroot + path, "tmpfs", _MS_RDONLY | _MS_NOSUID | _MS_NODEV, "size=4k,mode=0555")
            else:
                linux.mount("/dev/null", newroot + path, None, _MS_BIND)
    old = newroot + "/.oldroot"
    os.mkdir(old)
    if linux.libc.syscall(number, os.fsencode(newroot), os.fsencode(old)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"pivot_root: {os.strerror(err)}")
    os.chdir("/")
    linux._check(linux.libc.umount2(b"/.oldroot", _MNT_DETACH), "umount old root")
    os.rmdir("/.oldroot")
    linux.mount(None, "/", None, _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)


def _hide_in_place(linux: _Linux, spec: SandboxSpec, keep_visible: list[str], sandbox: str, notes: list[str]) -> bool:
    """Fallback when no private root can be built: cover the hidden paths, make the rest read-only.

    Returns False when some step failed (the notes say which).
    """
    ok = True
    writable = [sandbox, "/dev/shm"]
    base = os.path.dirname(sandbox)
    try:
        # Other students' sandboxes: cover the folder of sandboxes, then bind ours back.
        fd = os.open(sandbox, os.O_PATH | os.O_DIRECTORY)
        linux.mount("tmpfs", base, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=64k,mode=0755")
        os.makedirs(sandbox, exist_ok=True)
        linux.mount(f"/proc/self/fd/{fd}", sandbox, None, _MS_BIND | _MS_REC)
        os.close(fd)
        if os.path.isdir("/dev/shm"):
            linux.mount("tmpfs", "/dev/shm", "tmpfs", _MS_NOSUID | _MS_NODEV, "size=256m,mode=1777")
        else:
            writable.remove("/dev/shm")
        _read_only_everywhere(linux, writable)
    except OSError as exc:
        ok = False
        notes.append(f"sandbox folder or read-only file system not set up: {exc}")
    needed = [os.path.realpath(p) for p in keep_visible] + [sandbox]
    for raw in spec.hide:
        path = os.path.realpath(raw)
        if not os.path.lexists(path) or _is_within(path, base):
            continue
        if any(_is_within(n, path) for n in needed):
            notes.append(f"{path} not hidden: the kernel needs something inside it")
            continue
        try:
            if os.path.isdir(path):
                linux.mount("tmpfs", path, "tmpfs", _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, "size=4k,mode=0555")
            else:
                linux.mount("/dev/null", path, None, _MS_BIND)
        except OSError as exc:
            ok = False
            notes.append(f"{path} not hidden: {exc}")
    return ok


def kernel_needs() -> list[str]:
    """Absolute paths a kernel must still see after :func:`isolate`, read-only.

    The Python installation (prefixes, the interpreter's folder, site-packages: the virtual
    environment with torch, ipykernel, nbgrader) and the course's own packages
    ``autograder`` and ``course_utils``. Nothing else of the repository.
    """
    import site

    here = Path(__file__).resolve().parent
    return [sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable)),
            str(here), str(here.parent / "course_utils"), *site.getsitepackages()]


def isolate(spec: SandboxSpec, keep_visible: list[str]) -> list[str]:
    """Confine the file system view of this process and its children (Linux only).

    Must be called while the process is still single-threaded (before importing torch or
    starting ipykernel): it forks once to enter a new PID namespace, and only the child
    returns. ``keep_visible`` lists what the kernel needs (the Python installation, the
    course's own packages).

    In order: a private mount namespace (a user namespace first when not root); a private
    root holding only system folders, ``keep_visible`` and the sandbox (or, if that fails,
    ``spec.hide`` covered in place and the rest made read-only); a PID namespace with a fresh
    ``/proc``; and a last user namespace that locks every mount. Returns notes, the first of
    which names the level reached. Never raises: a failed step is reported and the audit
    hook remains as the guard.
    """
    if not sys.platform.startswith("linux") or not spec.namespaces:
        return ["isolation: audit hook only (namespaces not used)"]
    try:
        linux = _Linux()
        uid, gid = os.geteuid(), os.getegid()
        if uid == 0:
            linux.unshare(_CLONE_NEWNS, "mount namespace")
        else:
            linux.unshare(_CLONE_NEWUSER | _CLONE_NEWNS, "user+mount namespace")
            _map_user(uid, gid)
        linux.mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    except OSError as exc:
        return [f"isolation: audit hook only ({exc})"]

    notes: list[str] = []
    sandbox = os.path.realpath(spec.sandbox)
    try:
        _private_root(linux, spec, keep_visible, sandbox)
        level = "private root"
    except OSError as exc:
        notes.append(f"no private root ({exc}); hid the listed paths instead")
        level = "namespaces" if _hide_in_place(linux, spec, keep_visible, sandbox, notes) else "partial namespaces"
    # A new PID namespace with its own /proc; the parent stays behind as a reaper.
    try:
        linux.unshare(_CLONE_NEWPID, "PID namespace")
    except OSError as exc:
        level = "partial namespaces"
        notes.append(f"grader processes stay visible in /proc: {exc}")
    else:
        _fork_and_wait()  # only the child returns
        try:
            linux.pdeathsig(signal.SIGKILL)
            linux.mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
        except OSError as exc:
            level = "partial namespaces"
            notes.append(f"grader processes stay visible in /proc: {exc}")
    # Lock: in a new user namespace every mount above is locked; even root cannot undo them.
    try:
        linux.unshare(_CLONE_NEWUSER | _CLONE_NEWNS, "locking user namespace")
        _map_user(0, 0)
    except OSError as exc:
        level = "partial namespaces"
        notes.append(f"mounts not locked (root could undo them): {exc}")
    return [f"isolation: {level}"] + notes


def _fork_and_wait() -> None:
    """Fork; the parent waits for the child and exits with its status; the child returns.

    The parent ignores SIGINT (jupyter_client interrupts the whole process group, which
    reaches the kernel) and kills the child on SIGTERM/SIGHUP.
    """
    pid = os.fork()
    if pid == 0:
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def _kill_child(signum, frame):  # noqa: ARG001
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _kill_child)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            os._exit(1)
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)


# --------------------------------------------------------------------------- audit hook

DENIED: list[str] = []     # what the audit hook refused, newest last (at most _MAX_DENIED)
ISOLATION: list[str] = []  # notes from isolate(): the first names the level reached
_MAX_DENIED = 50
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def install_audit_hook(spec: SandboxSpec, visible: Sequence[str] = ()) -> None:
    """Install the permanent audit hook (``sys.addaudithook``; it cannot be removed).

    Refuses, with :class:`PermissionError`: opening, listing or connecting SQLite to a path
    under ``spec.hide`` (other than the sandbox itself); writing, creating, renaming or
    deleting outside the sandbox and ``/dev``; starting programs (``subprocess``,
    ``os.system``, ``os.exec*``, ``os.posix_spawn``); signalling another process. Each refusal
    is recorded in :data:`DENIED` for the runtime report.

    Without a private root (see :func:`isolate`) the whole file system is still there, so the
    hook also refuses to list any folder outside the sandbox, the system folders and
    ``visible`` (what the kernel needs, :func:`kernel_needs`): ``glob`` and ``os.walk`` over
    ``/tmp`` or the home folder find nothing. Listings made by the import system are let
    through (it must search ``sys.path``); reading what they name is still refused.
    """
    sandbox = os.path.realpath(spec.sandbox)
    hidden = tuple(os.path.realpath(p) for p in spec.hide)
    writable = (sandbox, "/dev/shm", "/dev/null", "/dev/zero", "/dev/tty")
    private_root = bool(ISOLATION) and ISOLATION[0] == "isolation: private root"
    if private_root:
        writable += ("/tmp",)  # a private tmpfs: nothing else can see it
        listable = None       # everything there is may be listed: it holds only what is allowed
    else:
        listable = tuple({os.path.realpath(p) for p in (*_SYSTEM_DIRS, "/proc", *visible)})
    own_pid = os.getpid()

    def deny(what: str) -> None:
        if len(DENIED) < _MAX_DENIED:
            DENIED.append(what)
        raise PermissionError(f"{what}: not allowed while grading (course grader sandbox)")

    def resolve(path) -> str | None:
        if path is None or isinstance(path, int):
            return None
        try:
            return os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return None

    def check_read(path) -> None:
        real = resolve(path)
        if real is None or _is_within(real, sandbox):
            return
        for root in hidden:
            if _is_within(real, root):
                deny(f"reading {real}")
        # Other courses' gradebooks and solutions anywhere on the machine (reachable only
        # without a private root): no SQLite database and no solutions/ folder outside the sandbox.
        if real.endswith((".db", ".sqlite", ".sqlite3")) or f"{os.sep}solutions{os.sep}" in real + os.sep:
            deny(f"reading {real}")

    def check_write(path) -> None:
        real = resolve(path)
        if real is None:
            return
        check_read(path)
        if not any(_is_within(real, w) for w in writable):
            deny(f"writing {real}")

    def on_open(args) -> None:
        path, mode, flags = (tuple(args) + (None, None, None))[:3]
        if path is None or isinstance(path, int):
            return
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                  (isinstance(flags, int) and flags & _WRITE_FLAGS)
        (check_write if writing else check_read)(path)

    def on_program(args) -> None:
        deny("starting a program")

    def on_kill(args) -> None:
        pid = args[0] if args else None
        if pid not in (0, own_pid, os.getpid()):
            deny(f"signalling process {pid}")

    def on_killpg(args) -> None:
        if args and args[0] not in (0, os.getpgrp()):
            deny(f"signalling process group {args[0]}")

    def first_path(args) -> None:
        check_write(args[0] if args else None)

    def two_paths(args) -> None:
        check_write(args[0] if args else None)
        check_write(args[1] if len(args) > 1 else None)

    def called_by_import() -> bool:
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_filename == __file__:
            frame = frame.f_back  # skip this hook's own frames
        return frame is not None and frame.f_code.co_filename.startswith("<frozen importlib")

    def read_first(args) -> None:
        path = args[0] if args and args[0] is not None else "."
        check_read(path)
        real = resolve(path)
        if listable is None or real is None or _is_within(real, sandbox):
            return
        if not any(_is_within(real, v) for v in listable) and not called_by_import():
            deny(f"listing {real}")

    def sqlite(args) -> None:
        db = args[0] if args else None
        if isinstance(db, (str, bytes, os.PathLike)) and os.fsdecode(db) not in ("", ":memory:") \
                and not os.fsdecode(db).startswith("file:"):
            check_write(db)

    handlers = {
        "open": on_open,
        "os.listdir": read_first, "os.scandir": read_first,
        "sqlite3.connect": sqlite,
        "os.remove": first_path, "os.rmdir": first_path, "os.mkdir": first_path, "os.chmod": first_path,
        "os.chown": first_path, "os.utime": first_path, "os.truncate": first_path, "shutil.rmtree": first_path,
        "os.chflags": first_path, "os.setxattr": first_path, "os.removexattr": first_path,
        "os.rename": two_paths, "os.link": two_paths, "os.symlink": two_paths,
        "subprocess.Popen": on_program, "os.system": on_program, "os.exec": on_program,
        "os.posix_spawn": on_program, "os.spawn": on_program, "os.startfile": on_program,
        "os.kill": on_kill, "os.killpg": on_killpg,
    }

    def hook(event: str, args: tuple) -> None:
        handler = handlers.get(event)
        if handler is not None:
            handler(args)

    sys.addaudithook(hook)


# --------------------------------------------------------------------------- entry point

def main(argv: list[str] | None = None) -> None:
    """Kernel entry point (see the module docstring). ``argv``: ipykernel's arguments."""
    argv = sys.argv[1:] if argv is None else argv
    if __name__ == "__main__":
        # Run as `python -m autograder.sandbox`: continue in the importable copy of this module,
        # whose DENIED and ISOLATION lists autograder.integrity reports.
        import autograder.sandbox as importable

        return importable.main(argv)
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    raw = os.environ.pop(ENV_VAR, None)
    if raw is None:
        sys.exit(f"autograder.sandbox: {ENV_VAR} is not set; this module is started by the grader "
                 "(python3 course.py grade), not by hand.")
    spec = SandboxSpec.from_json(raw)
    if sys.platform.startswith("linux"):
        try:  # die with the grading worker that started us, whatever happens to it
            _Linux().pdeathsig(signal.SIGKILL)
        except OSError:
            pass
    notes = apply_limits(spec)
    needs = kernel_needs()
    cwd = os.getcwd()
    ISOLATION.extend(isolate(spec, needs) + notes)
    os.chdir(cwd)

    from ipykernel.kernelapp import IPKernelApp

    from autograder import integrity

    app = IPKernelApp.instance()
    app.initialize(argv)
    integrity.take_snapshot(app.shell)
    install_audit_hook(spec, needs)
    app.start()


if __name__ == "__main__":
    main()
