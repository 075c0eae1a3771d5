"""Start the sandbox (bubblewrap + a zygote interpreter) and build its seccomp filters.

Isolation, in layers (each assumes the others may fail; ISOLATION.md names the test that
proves each one):
- host identity: bubblewrap is started as an unprivileged host user, nobody (65534) when
  this process is root and the calling user otherwise, never as root. Root's bubblewrap
  leaves the sandbox host root by another name: it reads root's 0600 files, writes
  /proc/sys and is exempt from RLIMIT_NPROC. The interpreter the sandbox runs must then be
  one that user can read (``sandbox_python``): this interpreter's prefix, a system
  interpreter of the same major.minor, or a root-owned read-only copy of the prefix.
- bubblewrap: new user/pid/net/ipc/uts/cgroup namespaces (no network, cannot see or
  signal host processes), read-only /usr, interpreter prefix and site-packages only (no
  project, no home), every kernel interface under /proc (each top-level entry that is not
  a process: sys, sysrq-trigger, irq, bus, fs, pressure, ...) bound read-only over
  itself, read-only empty /tmp and read-only /dev (nothing a candidate writes can survive
  it), uid/gid 65534, all capabilities dropped, no nested user namespaces, own session,
  SIGKILLed when its parent (the host worker) dies.
- seccomp, two layers: the zygote's (via bwrap) refuses ptrace, process_vm_*, keyrings,
  SysV/POSIX IPC objects and new namespaces; each candidate child adds its own that also
  refuses fork/vfork and clone without CLONE_THREAD, so a candidate cannot start
  processes at all nor leave state behind for the next candidate.
- rlimits: the zygote's set before exec; each child's (CPU seconds, address space, file
  size, open files, processes and threads, no core dumps) set by the child before the
  candidate's code runs. RLIMIT_NPROC binds because the sandbox's host uid is not root.
- the zygote and each child are non-dumpable: a child cannot read or write the zygote.
The zygote is the namespace's pid 1 (bwrap --as-pid-1): there is no bwrap reaper inside,
a dumpable process of the candidate's uid whose memory a candidate could write. The host
kills a candidate through the zygote, and the whole sandbox (its pid namespace, every
process in it) by killing the zygote.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import resource
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

SERVER_SOURCE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_sandbox_server.py")
DEFAULT_MEMORY_BYTES = 512 << 20
DEFAULT_FILE_BYTES = 1 << 20
ZYGOTE_MEMORY_BYTES = 1 << 30
ZYGOTE_CPU_SECONDS = 3600
SANDBOX_UID = SANDBOX_GID = 65534  # nobody: inside the sandbox always, on the host when we are root
SANDBOX_PREFIX_DIR = "/opt/py"              # where a prefix outside /usr appears in the sandbox
SANDBOX_SITE_DIR = "/opt/site-packages"     # where host site-packages outside /usr appear
CACHE_DIR_ENV = "VERIFIERS_SANDBOX_CACHE"
DEFAULT_CACHE_DIR = "/var/cache/verifiers-sandbox"
TEST_RO_BINDS_ENV = "VERIFIERS_SANDBOX_TEST_RO_BINDS"
TEST_BIND_ROOT = "/mnt/"
# OpenBLAS (numpy) starts a thread per core at import, each with its own buffers: on a
# large machine more threads than a candidate's RLIMIT_NPROC allows, and more memory
# than its address-space limit, before the candidate has done anything.
_THREAD_POOL_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# Not needed to run candidates; the test suite alone is larger than the rest of the stdlib.
_PREFIX_COPY_SKIP = ("site-packages", "dist-packages", "test", "tests", "idlelib", "tkinter",
                     "turtledemo", "ensurepip", "config-*")
INSTALL_HINT = ("bubblewrap (bwrap) is required to run untrusted code: install it with "
                "`apt-get install bubblewrap` (or pass --unsafe-no-sandbox / "
                "unsafe_no_sandbox=True to run WITHOUT isolation on a throwaway machine)")
USERNS_HINT = ("bubblewrap runs unprivileged here, so unprivileged user namespaces must be "
               "enabled (sysctl user.max_user_namespaces > 0; on Debian/Ubuntu also "
               "kernel.unprivileged_userns_clone=1 and, with AppArmor, "
               "kernel.apparmor_restrict_unprivileged_userns=0)")


class SandboxUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Limits:
    """A candidate's rlimits, applied by its child process before its code runs."""
    cpu_seconds: int
    memory_bytes: int = DEFAULT_MEMORY_BYTES
    file_bytes: int = DEFAULT_FILE_BYTES
    open_files: int = 64
    # Processes and threads of the sandbox's uid in its user namespace (the zygote and the
    # namespace's init count too). The seccomp filter already refuses new processes; this
    # bounds threads.
    processes: int = 64

    def as_rlimits(self) -> dict[str, int]:
        return {"RLIMIT_CPU": self.cpu_seconds, "RLIMIT_AS": self.memory_bytes,
                "RLIMIT_FSIZE": self.file_bytes, "RLIMIT_NOFILE": self.open_files,
                "RLIMIT_NPROC": self.processes, "RLIMIT_CORE": 0}


# --- seccomp ------------------------------------------------------------------------------
_BPF_LD_W_ABS, _BPF_JEQ_K, _BPF_JGE_K, _BPF_JSET_K, _BPF_RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
_RET_ALLOW, _RET_KILL_PROCESS, _RET_ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
_EPERM, _ENOSYS, _CLONE_THREAD = 1, 38, 0x00010000


@dataclass(frozen=True)
class _Arch:
    audit_arch: int
    always_refused: dict[str, int]   # refused in the zygote and in every candidate
    process_calls: dict[str, int]    # refused in candidates only
    clone: int
    clone3: int


_ARCHES = {
    "x86_64": _Arch(0xC000003E, {"ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
                                 "add_key": 248, "request_key": 249, "keyctl": 250,
                                 "shmget": 29, "semget": 64, "msgget": 68, "mq_open": 240,
                                 "unshare": 272, "setns": 308},
                    {"fork": 57, "vfork": 58}, 56, 435),
    "aarch64": _Arch(0xC00000B7, {"ptrace": 117, "process_vm_readv": 270,
                                  "process_vm_writev": 271, "add_key": 217, "request_key": 218,
                                  "keyctl": 219, "shmget": 194, "semget": 190, "msgget": 186,
                                  "mq_open": 180, "unshare": 97, "setns": 268},
                     {}, 220, 435),
}


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def seccomp_program(allow_processes: bool) -> bytes:
    """Classic BPF for the running arch. Always: kill on a foreign ABI, EPERM for the
    calls in ``always_refused``, ENOSYS for clone3 (libc then falls back to clone, whose
    flags a filter can read). Unless allow_processes: EPERM for fork/vfork and for clone
    without CLONE_THREAD (threads stay allowed)."""
    machine = platform.machine()
    if machine not in _ARCHES:
        raise SandboxUnavailable(f"no seccomp filter for architecture {machine}")
    arch = _ARCHES[machine]
    denials = list(arch.always_refused.values())
    if not allow_processes:
        denials += list(arch.process_calls.values())
    # [0 load arch][1 check arch][2 load nr][3 x32?][denials][clone3]
    # ([clone?][load arg0][jset THREAD])  [ALLOW][EPERM][ENOSYS][KILL]; jumps: i + 1 + k.
    allow = 4 + len(denials) + 1 + (0 if allow_processes else 3)
    eperm, enosys, kill = allow + 1, allow + 2, allow + 3
    program = [_insn(_BPF_LD_W_ABS, 4), _insn(_BPF_JEQ_K, arch.audit_arch, 0, kill - 2),
               _insn(_BPF_LD_W_ABS, 0), _insn(_BPF_JGE_K, 0x40000000, eperm - 4, 0)]
    for number in denials:
        program.append(_insn(_BPF_JEQ_K, number, eperm - len(program) - 1, 0))
    program.append(_insn(_BPF_JEQ_K, arch.clone3, enosys - len(program) - 1, 0))
    if not allow_processes:
        program.append(_insn(_BPF_JEQ_K, arch.clone, 0, allow - len(program) - 1))
        program.append(_insn(_BPF_LD_W_ABS, 16))  # low 32 bits of args[0] (little-endian)
        here = len(program)
        program.append(_insn(_BPF_JSET_K, _CLONE_THREAD, allow - here - 1, eperm - here - 1))
    assert len(program) == allow
    program += [_insn(_BPF_RET_K, _RET_ALLOW), _insn(_BPF_RET_K, _RET_ERRNO | _EPERM),
                _insn(_BPF_RET_K, _RET_ERRNO | _ENOSYS), _insn(_BPF_RET_K, _RET_KILL_PROCESS)]
    return b"".join(program)


@lru_cache(maxsize=1)
def candidate_filter_hex() -> str | None:
    """The candidates' filter, hex-encoded for the zygote; None where unsupported."""
    try:
        return seccomp_program(allow_processes=False).hex()
    except SandboxUnavailable:
        return None


# --- who runs the sandbox, and which interpreter ------------------------------------------
def bwrap_host_ids() -> tuple[int, int] | None:
    """(uid, gid) that bubblewrap is started as: nobody's when this process is root,
    None (this process's own ids) otherwise."""
    return (SANDBOX_UID, SANDBOX_GID) if os.geteuid() == 0 else None


def _as_sandbox_user() -> dict:
    """Popen keyword arguments that start a process as the sandbox's host user."""
    ids = bwrap_host_ids()
    return {} if ids is None else {"user": ids[0], "group": ids[1], "extra_groups": []}


def _sandbox_user_name() -> str:
    ids = bwrap_host_ids()
    return f"uid {ids[0]}" if ids is not None else f"this user (uid {os.geteuid()})"


def readable_by_sandbox_user(paths: Sequence[str]) -> list[bool]:
    """For each path: can the sandbox's host user read it (and enter it, if a directory)?

    Asked of the kernel by a shell running as that user, so mode bits, ACLs and every
    ancestor directory count exactly as they will for bubblewrap's binds."""
    if not paths:
        return []
    if bwrap_host_ids() is None:
        return [os.access(p, os.R_OK | (os.X_OK if os.path.isdir(p) else 0)) for p in paths]
    script = ('for p; do if [ -r "$p" ] && { [ ! -d "$p" ] || [ -x "$p" ]; }; '
              'then echo 1; else echo 0; fi; done')
    try:
        result = subprocess.run(["/bin/sh", "-c", script, "sh", *paths], capture_output=True,
                                text=True, timeout=10, env={}, cwd="/", **_as_sandbox_user())
    except (OSError, subprocess.TimeoutExpired):
        return [False] * len(paths)
    answers = result.stdout.split()
    return [a == "1" for a in answers] if len(answers) == len(paths) else [False] * len(paths)


def host_site_dirs() -> list[str]:
    """This interpreter's site-packages directories (real paths), where numpy & co live."""
    found: list[str] = []
    for entry in sys.path:
        if os.path.basename(entry) in ("site-packages", "dist-packages") and os.path.isdir(entry):
            real = os.path.realpath(entry)
            if real not in found:
                found.append(real)
    return found


@dataclass(frozen=True)
class SandboxPython:
    """The interpreter the sandbox runs, as the sandbox sees it.

    binary: its path inside the sandbox; library_dir: LD_LIBRARY_PATH inside (libpython of a
    shared build); binds: (host path, sandbox path) pairs bound read-only besides /usr;
    site_dirs: in-sandbox directories the zygote appends to sys.path (numpy & co);
    unavailable: (host site-packages, why the sandbox cannot see it); origin: where the
    interpreter comes from, for messages."""
    binary: str
    library_dir: str
    binds: tuple[tuple[str, str], ...]
    site_dirs: tuple[str, ...]
    unavailable: tuple[tuple[str, str], ...]
    origin: str


def _interpreter_name() -> str:
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def _probe_interpreter(binary: str, library_dir: str | None = None) -> tuple[str, str] | None:
    """(version "X.Y.Z", sys.prefix) if the sandbox's host user can run ``binary``, else None."""
    code = "import sys; print('%d.%d.%d' % sys.version_info[:3]); print(sys.prefix)"
    env = {"LD_LIBRARY_PATH": library_dir} if library_dir else {}
    try:
        result = subprocess.run([binary, "-I", "-S", "-c", code], capture_output=True, text=True,
                                timeout=30, env=env, cwd="/", **_as_sandbox_user())
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = result.stdout.splitlines()
    if result.returncode != 0 or len(lines) < 2:
        return None
    return lines[0], lines[1]


def _closed_to_others(path: str) -> bool:
    """Is ``path`` and each directory above it owned by root or us and writable by no one
    else? The interpreter runs the zygote, which confines every candidate: one that
    another user could replace must not be picked up from PATH."""
    current = os.path.realpath(path)
    while True:
        try:
            info = os.stat(current)
        except OSError:
            return False
        if info.st_uid not in (0, os.geteuid()) or info.st_mode & 0o022:
            return False
        if current == "/":
            return True
        current = os.path.dirname(current)


def _interpreter_candidates(name: str) -> list[tuple[str, str]]:
    """(binary, origin) in order of preference: this interpreter's own prefix, then a
    system interpreter of the same major.minor (standard directories, then PATH)."""
    candidates = [(os.path.join(os.path.realpath(sys.base_prefix), "bin", name),
                   "this interpreter's prefix")]
    path_dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if os.path.isabs(d)]
    for directory in ["/usr/bin", "/usr/local/bin", "/bin", *path_dirs]:
        binary = os.path.join(directory, name)
        if os.path.isfile(binary) and _closed_to_others(binary):
            candidates.append((os.path.realpath(binary), f"system {name}"))
    unique: dict[str, str] = {}
    for binary, origin in candidates:
        unique.setdefault(binary, origin)
    return list(unique.items())


def _describe(prefix: str, name: str, origin: str) -> SandboxPython:
    """Where the interpreter at ``prefix`` and the host's site-packages appear in the sandbox."""
    prefix = os.path.realpath(prefix)
    binds: list[tuple[str, str]] = []
    if prefix == "/usr" or prefix.startswith("/usr/"):
        inside = prefix  # /usr is bound as a whole
    else:
        inside = SANDBOX_PREFIX_DIR
        binds.append((prefix, SANDBOX_PREFIX_DIR))
    site_dirs: list[str] = []
    unavailable: list[tuple[str, str]] = []
    hosts = host_site_dirs()
    for index, (host, readable) in enumerate(zip(hosts, readable_by_sandbox_user(hosts))):
        if not readable:
            unavailable.append((host, f"not readable by {_sandbox_user_name()}"))
        elif host == "/usr" or host.startswith("/usr/"):
            site_dirs.append(host)
        elif host.startswith(prefix + os.sep) and inside == SANDBOX_PREFIX_DIR:
            site_dirs.append(SANDBOX_PREFIX_DIR + host[len(prefix):])
        else:
            binds.append((host, f"{SANDBOX_SITE_DIR}/{index}"))
            site_dirs.append(f"{SANDBOX_SITE_DIR}/{index}")
    return SandboxPython(f"{inside}/bin/{name}", f"{inside}/lib", tuple(binds), tuple(site_dirs),
                         tuple(unavailable), f"{origin} ({prefix})")


def _require_private_directory(path: str) -> None:
    """Refuse a cache directory another user could write into (and so swap the
    interpreter every sandbox runs): it and every ancestor must be root's, not writable
    by group or others."""
    current = path
    while True:
        info = os.lstat(current)
        if info.st_uid != 0 or info.st_mode & 0o022:
            raise SandboxUnavailable(
                f"{current} is not a root-owned directory closed to other users, so the "
                f"interpreter copy under {path} could be swapped; set {CACHE_DIR_ENV} to one")
        if current == "/":
            return
        current = os.path.dirname(current)


def _normalise_modes(root: str) -> None:
    """Root-owned (we are root), world-readable, writable by root only."""
    for directory, dirs, files in os.walk(root):
        os.chmod(directory, 0o755)
        for entry in files:
            path = os.path.join(directory, entry)
            if not os.path.islink(path):
                os.chmod(path, 0o755 if os.stat(path).st_mode & 0o111 else 0o644)


def prefix_copy(cache_dir: str | None = None) -> str:
    """A read-only copy of this interpreter's prefix that nobody can run: the binary,
    libpython and the standard library (no tests, no site-packages), root-owned and
    world-readable under the cache directory. Built once per interpreter, atomically
    (a staging directory renamed into place); returns the copy's prefix."""
    name = _interpreter_name()
    source = os.path.realpath(sys.base_prefix)
    cache = os.path.realpath(cache_dir or os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR)
    digest = hashlib.sha256(f"{source}\0{sys.version}".encode()).hexdigest()[:12]
    target = os.path.join(cache, f"{name}-{platform.python_version()}-{digest}")
    os.makedirs(cache, mode=0o755, exist_ok=True)
    _require_private_directory(cache)
    if os.path.isfile(os.path.join(target, "bin", name)):
        return target
    staging = tempfile.mkdtemp(prefix=".partial-", dir=cache)
    try:
        os.makedirs(os.path.join(staging, "bin"))
        shutil.copy2(os.path.realpath(os.path.join(source, "bin", name)),
                     os.path.join(staging, "bin", name))
        os.makedirs(os.path.join(staging, "lib"))
        for entry in os.listdir(os.path.join(source, "lib")):
            if entry.startswith((f"lib{name}", "libpython3.so")):
                shutil.copy2(os.path.join(source, "lib", entry),
                             os.path.join(staging, "lib", entry))
        shutil.copytree(os.path.join(source, "lib", name), os.path.join(staging, "lib", name),
                        symlinks=True, ignore=shutil.ignore_patterns(*_PREFIX_COPY_SKIP))
        _normalise_modes(staging)
        try:
            os.rename(staging, target)
        except OSError:  # another worker finished first
            if not os.path.isfile(os.path.join(target, "bin", name)):
                raise
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging, ignore_errors=True)
    return target


@lru_cache(maxsize=1)
def sandbox_python() -> SandboxPython:
    """The interpreter the sandbox runs: the first of this interpreter's prefix, a system
    pythonX.Y of the same major.minor, or (as root) a read-only copy of the prefix
    (``prefix_copy``) that the sandbox's host user can run. Raises SandboxUnavailable with
    what was tried and what to do when there is none."""
    name = _interpreter_name()
    wanted = f"{sys.version_info.major}.{sys.version_info.minor}"
    tried = []
    for binary, origin in _interpreter_candidates(name):
        found = _probe_interpreter(binary)
        if found is None:
            tried.append(f"{binary}: {_sandbox_user_name()} cannot run it")
        elif found[0].rsplit(".", 1)[0] != wanted:
            tried.append(f"{binary} is Python {found[0]}")
        elif not os.path.isfile(os.path.join(found[1], "bin", name)):
            tried.append(f"{binary}: no bin/{name} under its prefix {found[1]}")
        else:
            return _describe(found[1], name, origin)
    if bwrap_host_ids() is not None:
        try:
            copy = prefix_copy()
            found = _probe_interpreter(os.path.join(copy, "bin", name), os.path.join(copy, "lib"))
            if found is not None:
                return _describe(copy, name, "read-only copy of this interpreter's prefix")
            tried.append(f"the copy in {copy}: {_sandbox_user_name()} cannot run it")
        except (OSError, SandboxUnavailable) as error:
            tried.append(f"copying {sys.base_prefix} into a cache directory failed: {error}")
    raise SandboxUnavailable(
        f"no Python {wanted} interpreter that the sandbox's host user ({_sandbox_user_name()}) "
        f"can run: {'; '.join(tried)}. Install one system-wide (e.g. `apt-get install "
        f"python{wanted}`), make {sys.base_prefix} readable by others, or set "
        f"{CACHE_DIR_ENV} to a root-owned directory for a read-only copy")


def missing_package_note(module: str) -> str:
    """Why an import the host could satisfy fails in the sandbox ('' if the host cannot
    import it either, or the sandbox sees every site-packages)."""
    top = module.split(".")[0]
    if not top.isidentifier():
        return ""
    try:
        unavailable = sandbox_python().unavailable
    except SandboxUnavailable:
        return ""
    for site_dir, why in unavailable:
        if any(os.path.exists(os.path.join(site_dir, top + suffix))
               for suffix in ("", ".py", "/__init__.py")) or any(
                entry.startswith(top + ".") and entry.endswith(".so")
                for entry in _listdir(site_dir)):
            return (f"{top} is installed on the host ({site_dir}) but not available in the "
                    f"sandbox: that directory is {why}")
    return ""


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


# --- command line ---------------------------------------------------------------------------
@lru_cache(maxsize=1)
def server_source() -> str:
    with open(SERVER_SOURCE_PATH, encoding="utf-8") as handle:
        return handle.read()


def bwrap_path() -> str | None:
    return shutil.which("bwrap") or (os.path.exists("/usr/bin/bwrap") and "/usr/bin/bwrap") or None


def proc_kernel_entries() -> list[str]:
    """Every top-level /proc entry that is not a process (or a link into one): the
    kernel's interfaces (sys, sysrq-trigger, irq, bus, fs, pressure, ...). Each is bound
    read-only over itself in the sandbox, so no write reaches the kernel through /proc,
    whatever a file's mode or namespace owner says."""
    return [entry for entry in sorted(os.listdir("/proc"))
            if not entry.isdigit() and entry not in ("self", "thread-self")
            and not os.path.islink(f"/proc/{entry}")]


def test_ro_binds() -> list[tuple[str, str]]:
    """Test hook: JSON [[host path, sandbox path], ...] in VERIFIERS_SANDBOX_TEST_RO_BINDS,
    each bound read-only under /mnt/ (the isolation tests show a candidate a root-only
    file beside a world-readable one). Unset in normal use."""
    raw = os.environ.get(TEST_RO_BINDS_ENV)
    if not raw:
        return []
    try:
        pairs = [(str(host), str(inside)) for host, inside in json.loads(raw)]
    except (ValueError, TypeError) as error:
        raise SandboxUnavailable(f"{TEST_RO_BINDS_ENV} is not a JSON list of pairs: {error}")
    for _, inside in pairs:
        if not inside.startswith(TEST_BIND_ROOT) or ".." in inside.split("/"):
            raise SandboxUnavailable(f"{TEST_RO_BINDS_ENV}: {inside} is not under {TEST_BIND_ROOT}")
    return pairs


def bwrap_command(seccomp_fd: int, info_fd: int | None, arguments: list[str],
                  extra_ro_binds: Sequence[tuple[str, str]] = ()) -> list[str]:
    """bwrap argv that runs the sandbox's interpreter (``sandbox_python``) with
    ``arguments`` (its flags and script) as uid 65534 inside."""
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxUnavailable(INSTALL_HINT)
    python = sandbox_python()
    command = [bwrap, "--ro-bind", "/usr", "/usr"]
    for link in ("lib", "lib64", "bin", "sbin"):
        if os.path.islink(f"/{link}"):
            command += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
        elif os.path.isdir(f"/{link}"):
            command += ["--ro-bind", f"/{link}", f"/{link}"]
    for host, inside in [*python.binds, *extra_ro_binds, *test_ro_binds()]:
        command += ["--ro-bind", host, inside]
    command += ["--proc", "/proc"]
    for entry in proc_kernel_entries():
        command += ["--ro-bind", f"/proc/{entry}", f"/proc/{entry}"]
    command += [
        "--dev", "/dev", "--remount-ro", "/dev",
        "--tmpfs", "/tmp", "--remount-ro", "/tmp",
        "--unshare-all", "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID),
        # The interpreter is the namespace's pid 1, not a bwrap reaper: a reaper is a
        # dumpable process of the candidate's uid, whose memory (/proc/1/mem) a candidate
        # could write, escaping its own seccomp filter and rlimits inside the sandbox. The
        # zygote is non-dumpable, and as pid 1 it ignores the candidate's signals.
        "--as-pid-1",
        "--hostname", "sandbox", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
        "--disable-userns", "--clearenv", "--setenv", "PATH", "/usr/bin",
        "--setenv", "LD_LIBRARY_PATH", python.library_dir, "--setenv", "HOME", "/tmp",
    ]
    for key, value in _THREAD_POOL_ENV.items():
        command += ["--setenv", key, value]
    command += ["--chdir", "/tmp", "--seccomp", str(seccomp_fd),
                *(["--info-fd", str(info_fd)] if info_fd is not None else []),
                python.binary, *arguments]
    return command


def _zygote_limits() -> None:
    for which, value in ((resource.RLIMIT_CPU, ZYGOTE_CPU_SECONDS),
                         (resource.RLIMIT_AS, ZYGOTE_MEMORY_BYTES),
                         (resource.RLIMIT_NOFILE, 256), (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(which, (value, value))


@dataclass
class StartedZygote:
    proc: subprocess.Popen
    control: socket.socket        # SOCK_SEQPACKET to the zygote
    info_fd: int | None           # bwrap --info-fd read end (sandbox init's host pid)


def _seccomp_pipe(allow_processes: bool) -> int:
    """Read end of a pipe holding the filter for bwrap's --seccomp (fits a pipe buffer)."""
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, seccomp_program(allow_processes=allow_processes))
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    return read_end


def start_zygote(*, unsafe_no_sandbox: bool = False) -> StartedZygote:
    """Start the zygote (under bwrap as the sandbox's host user unless unsafe) in its own
    session. The zygote appends the in-sandbox site-packages (argv[2], JSON) to sys.path.

    preexec_fn is safe here: it is only called from the single-threaded host worker."""
    host_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        if unsafe_no_sandbox:
            arguments = ["-I", "-S", "-B", "-c", server_source(), str(zygote_end.fileno()),
                         json.dumps(host_site_dirs())]
            proc = subprocess.Popen([sys.executable, *arguments], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True, pass_fds=(zygote_end.fileno(),),
                                    preexec_fn=_zygote_limits, cwd="/tmp",
                                    env={"PATH": "/usr/bin", "HOME": "/tmp", **_THREAD_POOL_ENV})
            return StartedZygote(proc, host_end, None)
        arguments = ["-I", "-S", "-B", "-c", server_source(), str(zygote_end.fileno()),
                     json.dumps(list(sandbox_python().site_dirs))]
        seccomp_read = _seccomp_pipe(allow_processes=True)
        info_read, info_write = os.pipe()
        try:
            proc = subprocess.Popen(
                bwrap_command(seccomp_read, info_write, arguments), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                pass_fds=(seccomp_read, info_write, zygote_end.fileno()),
                preexec_fn=_zygote_limits, env={}, cwd="/", **_as_sandbox_user())
        except BaseException:
            os.close(info_read)
            raise
        finally:
            os.close(seccomp_read)
            os.close(info_write)
        return StartedZygote(proc, host_end, info_read)
    except BaseException:
        host_end.close()
        raise
    finally:
        zygote_end.close()


def read_init_pid(info_fd: int, timeout_s: float) -> int | None:
    """Host pid of the sandbox's pid-namespace init, from bwrap's --info-fd JSON (written
    in several pieces, so read until it parses); None if bwrap gave none in time."""
    deadline = time.monotonic() + timeout_s
    data = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([info_fd], [], [], remaining)[0]:
            return None
        chunk = os.read(info_fd, 4096)
        if not chunk:
            return None
        data += chunk
        try:
            pid = json.loads(data)["child-pid"]
        except ValueError:
            continue  # not all of it yet
        except (KeyError, TypeError):
            return None
        return pid if type(pid) is int else None


def host_uids(pid: int) -> tuple[int, ...]:
    """(real, effective, saved, filesystem) uid of a process as the host sees them; () if gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("Uid:"):
                    return tuple(int(field) for field in line.split()[1:5])
    except (OSError, ValueError):
        pass
    return ()


@dataclass(frozen=True)
class SandboxRun:
    """What ``run_in_sandbox`` saw: the program's exit code and output, and the host uids
    of the sandbox's init while the program ran (() if it was gone before the host looked)."""
    returncode: int
    stdout: str
    stderr: str
    host_uids: tuple[int, ...]


def run_in_sandbox(code: str, *, extra_ro_binds: Sequence[tuple[str, str]] = (),
                   allow_processes: bool = True, timeout_s: float = 30.0) -> SandboxRun:
    """Run trusted ``code`` with ``python -I -S`` in a sandbox built as the zygote's is (same
    host user, binds, /proc, namespaces, the zygote's seccomp filter, or the candidates'
    with allow_processes=False; no candidate rlimits). For diagnostics and the isolation
    tests. The program's stdin stays open until the host has read the sandbox's host uids,
    so a program that reads stdin to its end is still running when they are read."""
    seccomp_read = _seccomp_pipe(allow_processes)
    info_read, info_write = os.pipe()
    try:
        proc = subprocess.Popen(
            bwrap_command(seccomp_read, info_write, ["-I", "-S", "-c", code], extra_ro_binds),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=(seccomp_read, info_write), env={}, cwd="/", start_new_session=True,
            **_as_sandbox_user())
    finally:
        os.close(seccomp_read)
        os.close(info_write)
    uids: tuple[int, ...] = ()
    try:
        init_pid = read_init_pid(info_read, timeout_s)
        if init_pid is not None:
            uids = host_uids(init_pid)
        stdout, stderr = proc.communicate(b"", timeout=timeout_s)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        os.close(info_read)
    return SandboxRun(proc.returncode, stdout.decode(errors="replace"),
                      stderr.decode(errors="replace"), uids)


def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state letter) for every process /proc shows (a process that ends
    while it is read is left out)."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    stat = handle.read()
            except OSError:
                continue
            # the command name may hold spaces and parentheses: fields start after the last ")"
            fields = stat[stat.rindex(b")") + 2:].split()
            table[int(entry)] = (int(fields[1]), fields[0].decode())
    return table


@lru_cache(maxsize=1)
def sandbox_problem() -> str | None:
    """None if bwrap starts a sandboxed interpreter here as an unprivileged host user,
    else why not (actionable)."""
    if bwrap_path() is None:
        return INSTALL_HINT
    try:
        run = run_in_sandbox("import os, sys\nprint(os.getuid(), flush=True)\nsys.stdin.read()")
    except SandboxUnavailable as error:
        return str(error)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap sandbox failed to start: {error}. {INSTALL_HINT}"
    if run.returncode != 0 or run.stdout.strip() != str(SANDBOX_UID):
        hint = USERNS_HINT if bwrap_host_ids() is not None else INSTALL_HINT
        return (f"bubblewrap sandbox failed to start (exit {run.returncode}): "
                f"{run.stderr.strip()[:300]}. {hint}")
    if not run.host_uids or 0 in run.host_uids:
        return (f"the sandbox runs as host uid {run.host_uids or 'unknown'}, not as an "
                f"unprivileged user: is bwrap setuid root? Candidates must not run as root")
    return None


PREFLIGHT_ALTERNATIVES = (
    "What to do, on the machine (or cluster node) that runs the code checks:\n"
    "  - install bubblewrap (`apt-get install bubblewrap`, `dnf install bubblewrap`) and enable "
    "unprivileged user namespaces (sysctl user.max_user_namespaces > 0; Debian/Ubuntu also "
    "kernel.unprivileged_userns_clone=1 and, under AppArmor, kernel.apparmor_restrict_unprivileged_userns=0), "
    "or ask the administrators to;\n"
    "  - on a cluster, run the jobs that check code on nodes that have both: give the `evaluate` "
    "rule (and `train` when it trains on a code suite) a partition or constraint that has them in "
    "workflow/profiles/slurm/config.yaml (set-resources: slurm_partition / constraint);\n"
    "  - or run those jobs inside a container runtime the cluster offers that allows user "
    "namespaces (Apptainer/Singularity, Podman) with bubblewrap installed in the image;\n"
    "  - or leave the code benchmarks out of this config (benchmarks:, train.suite, warmstart.suites).\n"
    "The code verifier never runs model output unsandboxed on its own: the only way past this "
    "check is verifiers' explicit unsafe flag (--unsafe-no-sandbox), for a throwaway machine.")


def preflight(where: str = "this machine") -> None:
    """Check, before any work, that code can be verified here: bubblewrap present, started as
    an unprivileged host user, in a user namespace. Raises SandboxUnavailable naming the
    problem, ``where`` it was found, and the alternatives; returns None when the sandbox works.

    The workflow calls it at its start when a config verifies code (workflow/rules/common.smk),
    so a machine without a sandbox fails in a second, not at the first code item hours later."""
    sandbox_problem.cache_clear()  # the answer of a moment ago may not hold on this node
    problem = sandbox_problem()
    if problem is not None:
        raise SandboxUnavailable(f"no code sandbox on {where}: {problem}\n{PREFLIGHT_ALTERNATIVES}")
