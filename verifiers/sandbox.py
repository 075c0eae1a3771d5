"""Start the sandbox (bubblewrap + a zygote interpreter) and build its seccomp filters.

Isolation (each layer assumes the others may fail):
- bubblewrap: new user/pid/net/ipc/uts/cgroup namespaces (no network, cannot see or
  signal host processes), read-only /usr and Python prefix only (no project, no home),
  read-only empty /tmp and read-only /dev (nothing a candidate writes can survive it),
  uid/gid 65534, all capabilities dropped, no nested user namespaces, own session,
  SIGKILLed when its parent (the host worker) dies.
- seccomp, two layers: the zygote's (via bwrap) refuses ptrace, process_vm_*, keyrings,
  SysV/POSIX IPC objects and new namespaces; each candidate child adds its own that also
  refuses fork/vfork and clone without CLONE_THREAD, so a candidate cannot start
  processes at all (RLIMIT_NPROC does not bind here: the sandbox's uid maps to host root,
  which the kernel exempts from it) nor leave state behind for the next candidate.
- rlimits: the zygote's set before exec; each child's (CPU seconds, address space, file
  size, open files, no core dumps) set by the child before the candidate's code runs.
- the zygote and each child are non-dumpable: a child cannot read or write the zygote.
The host kills a candidate through the zygote, and the whole sandbox (its pid namespace,
every process in it) through the namespace's init.
"""
from __future__ import annotations

import os
import platform
import resource
import shutil
import socket
import struct
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache

SERVER_SOURCE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_sandbox_server.py")
DEFAULT_MEMORY_BYTES = 512 << 20
DEFAULT_FILE_BYTES = 1 << 20
ZYGOTE_MEMORY_BYTES = 1 << 30
ZYGOTE_CPU_SECONDS = 3600
INSTALL_HINT = ("bubblewrap (bwrap) is required to run untrusted code: install it with "
                "`apt-get install bubblewrap` (or pass --unsafe-no-sandbox / "
                "unsafe_no_sandbox=True to run WITHOUT isolation on a throwaway machine)")


class SandboxUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Limits:
    """A candidate's rlimits, applied by its child process before its code runs."""
    cpu_seconds: int
    memory_bytes: int = DEFAULT_MEMORY_BYTES
    file_bytes: int = DEFAULT_FILE_BYTES
    open_files: int = 64
    # Binds only where the sandbox uid is not host root (the kernel exempts root); the
    # seccomp filter is what stops a candidate from starting processes.
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


# --- command line ---------------------------------------------------------------------------
@lru_cache(maxsize=1)
def server_source() -> str:
    with open(SERVER_SOURCE_PATH, encoding="utf-8") as handle:
        return handle.read()


def _python_home() -> tuple[str, str]:
    """(host prefix of the base interpreter, its binary's name)."""
    prefix = os.path.realpath(sys.base_prefix)
    name = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if not os.path.exists(os.path.join(prefix, "bin", name)):
        raise SandboxUnavailable(f"cannot find {name} under {prefix}/bin")
    return prefix, name


def bwrap_path() -> str | None:
    return shutil.which("bwrap") or (os.path.exists("/usr/bin/bwrap") and "/usr/bin/bwrap") or None


def bwrap_command(seccomp_fd: int, info_fd: int | None, program: list[str]) -> list[str]:
    """bwrap argv running ``program`` ([python, args...] with python relative to the
    interpreter prefix: the first item is replaced by the in-sandbox interpreter path)."""
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxUnavailable(INSTALL_HINT)
    prefix, name = _python_home()
    command = [bwrap, "--ro-bind", "/usr", "/usr"]
    for link in ("lib", "lib64", "bin", "sbin"):
        if os.path.islink(f"/{link}"):
            command += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
        elif os.path.isdir(f"/{link}"):
            command += ["--ro-bind", f"/{link}", f"/{link}"]
    if prefix.startswith("/usr/"):
        python, libdir = os.path.join(prefix, "bin", name), os.path.join(prefix, "lib")
    else:
        command += ["--ro-bind", prefix, "/opt/py"]
        python, libdir = f"/opt/py/bin/{name}", "/opt/py/lib"
    command += [
        "--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev",
        "--tmpfs", "/tmp", "--remount-ro", "/tmp",
        "--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534",
        "--hostname", "sandbox", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
        "--disable-userns", "--clearenv", "--setenv", "PATH", "/usr/bin",
        "--setenv", "LD_LIBRARY_PATH", libdir, "--setenv", "HOME", "/tmp",
        "--chdir", "/tmp", "--seccomp", str(seccomp_fd),
        *(["--info-fd", str(info_fd)] if info_fd is not None else []),
        python, *program[1:],
    ]
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


def start_zygote(*, unsafe_no_sandbox: bool = False) -> StartedZygote:
    """Start the zygote (under bwrap unless unsafe) in its own session.

    preexec_fn is safe here: it is only called from the single-threaded host worker."""
    host_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    program = [sys.executable, "-I", "-S", "-B", "-c", server_source(), str(zygote_end.fileno())]
    try:
        if unsafe_no_sandbox:
            proc = subprocess.Popen(program, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True,
                                    pass_fds=(zygote_end.fileno(),), preexec_fn=_zygote_limits,
                                    cwd="/tmp", env={"PATH": "/usr/bin", "HOME": "/tmp"})
            return StartedZygote(proc, host_end, None)
        seccomp_read, seccomp_write = os.pipe()
        info_read, info_write = os.pipe()
        try:
            os.write(seccomp_write, seccomp_program(allow_processes=True))  # fits a pipe buffer
            os.close(seccomp_write)
            seccomp_write = -1
            proc = subprocess.Popen(
                bwrap_command(seccomp_read, info_write, program), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                pass_fds=(seccomp_read, info_write, zygote_end.fileno()),
                preexec_fn=_zygote_limits, env={})
        except BaseException:
            os.close(info_read)
            raise
        finally:
            os.close(seccomp_read)
            os.close(info_write)
            if seccomp_write >= 0:
                os.close(seccomp_write)
        return StartedZygote(proc, host_end, info_read)
    except BaseException:
        host_end.close()
        raise
    finally:
        zygote_end.close()


@lru_cache(maxsize=1)
def sandbox_problem() -> str | None:
    """None if bwrap starts a sandboxed interpreter here, else why not (actionable)."""
    if bwrap_path() is None:
        return INSTALL_HINT
    try:
        _, name = _python_home()
        read_end, write_end = os.pipe()
        os.write(write_end, seccomp_program(allow_processes=True))
        os.close(write_end)
        command = bwrap_command(read_end, None, [name, "-I", "-S", "-c",
                                                 "import os; print(os.getuid())"])
        result = subprocess.run(command, pass_fds=(read_end,), capture_output=True,
                                timeout=30, env={}, text=True)
        os.close(read_end)
    except (SandboxUnavailable, OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap sandbox failed to start: {error}. {INSTALL_HINT}"
    if result.returncode != 0 or result.stdout.strip() != "65534":
        return (f"bubblewrap sandbox failed to start (exit {result.returncode}): "
                f"{result.stderr.strip()[:300]}. {INSTALL_HINT}")
    return None
