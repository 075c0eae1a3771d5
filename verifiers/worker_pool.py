"""A pool of killable host-side worker processes speaking length-prefixed JSON over pipes.

Why processes and not threads or signals: a check can spin inside C code (a huge integer
power, a regex) where neither a thread nor ``signal.alarm`` can stop it, and alarms only
work in the main thread. A worker that overruns its wall-time deadline is SIGKILLed with
its process group and replaced; a worker that dies is replaced. Each worker sets its own
address-space rlimit and parent-death signal at start-up (see ``worker_main``).

Workers are started with ``python -I -c`` (isolated: no user site, no PYTHONPATH from the
environment) and import the verifier module by absolute path of this package's parent.
"""
from __future__ import annotations

import atexit
import collections
import json
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable

_HEADER = struct.Struct(">I")
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
WORKER_START_TIMEOUT_S = 60.0
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class WorkerLost(RuntimeError):
    """The worker died or broke protocol before answering."""


def write_message(fd: int, obj: Any) -> None:
    data = json.dumps(obj).encode()
    if len(data) > MAX_MESSAGE_BYTES:
        raise ValueError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
    payload = _HEADER.pack(len(data)) + data
    view = memoryview(payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exactly(fd: int, n: int) -> bytes:
    chunks, remaining = [], n
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise EOFError("pipe closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_message(fd: int) -> Any:
    (length,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size))
    if length > MAX_MESSAGE_BYTES:
        raise ValueError(f"message of {length} bytes exceeds {MAX_MESSAGE_BYTES}")
    return json.loads(_read_exactly(fd, length))


def set_parent_death_signal() -> None:
    """Ask the kernel to SIGKILL this process when its parent goes (Linux only)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # pragma: no cover - non-Linux
        pass


def worker_main(handle: Callable[[Any], Any], address_space_bytes: int | None,
                warm_up: Callable[[], None] | None = None,
                on_exit: Callable[[], None] | None = None) -> None:
    """Loop run inside a worker: read a request, write ``handle(request)``; on EOF run
    ``on_exit`` and exit.

    stdout is the protocol channel, so it is moved to a private fd and fd 1 is pointed at
    stderr: a stray print in a library cannot corrupt the stream.
    """
    set_parent_death_signal()
    if os.getppid() == 1:  # parent already gone
        os._exit(0)
    channel_out = os.dup(1)
    os.dup2(2, 1)
    channel_in = 0
    if warm_up is not None:
        warm_up()
    if address_space_bytes:
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (address_space_bytes, address_space_bytes))
    write_message(channel_out, {"ready": os.getpid()})
    while True:
        try:
            request = read_message(channel_in)
        except EOFError:
            if on_exit is not None:
                on_exit()
            os._exit(0)
        try:
            reply = handle(request)
        except MemoryError:
            reply = {"status": "memory_limit", "detail": "check exceeded the worker memory limit"}
        except RecursionError:
            reply = {"status": "parse_error", "detail": "input nested too deeply"}
        except Exception as error:  # the worker must answer every request
            reply = {"status": "internal_error", "detail": f"{type(error).__name__}: {error}"[:500]}
        write_message(channel_out, reply)


@dataclass(eq=False)
class _Worker:
    proc: subprocess.Popen
    ready: bool = False
    started: float = field(default_factory=time.monotonic)

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not ignorable
            pass


@dataclass(frozen=True)
class Timeout:
    """Returned in place of a reply when a request overran its deadline."""
    seconds: float


@dataclass(frozen=True)
class Lost:
    """Returned in place of a reply when the worker died before answering."""
    detail: str


_LIVE_POOLS: "weakref.WeakSet[WorkerPool]" = weakref.WeakSet()
MAX_START_FAILURES = 3


class WorkerPool:
    """``size`` workers running ``module.worker_entry()``; ``run`` maps requests to replies.

    Thread-safe (one batch at a time); fork-aware (a forked child starts its own workers).
    """

    def __init__(self, module: str, size: int, env: dict[str, str] | None = None) -> None:
        self.module = module
        self.size = max(1, size)
        self.env = env
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._owner_pid = os.getpid()
        self._start_failures = 0
        _LIVE_POOLS.add(self)

    def _spawn(self) -> _Worker:
        code = (f"import sys; sys.path.insert(0, {_PACKAGE_PARENT!r}); "
                f"import {self.module} as m; m.worker_entry()")
        env = dict(self.env if self.env is not None else os.environ)
        env.setdefault("OMP_NUM_THREADS", "1")
        proc = subprocess.Popen([sys.executable, "-I", "-c", code], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                start_new_session=True, close_fds=True, env=env)
        return _Worker(proc)

    def _ensure_workers(self) -> None:
        if os.getpid() != self._owner_pid:  # forked: never touch the parent's workers
            self._workers, self._owner_pid = [], os.getpid()
        alive = []
        for worker in self._workers:
            if worker.proc.poll() is None:
                alive.append(worker)
            else:
                worker.kill()
        self._workers = alive
        while len(self._workers) < self.size:
            self._workers.append(self._spawn())

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        self._workers[self._workers.index(worker)] = self._spawn()

    def warm(self, timeout_s: float = WORKER_START_TIMEOUT_S) -> None:
        """Start the workers and wait until each reports ready."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            self._ensure_workers()
            while not all(w.ready for w in self._workers) and time.monotonic() < deadline:
                self._pump({}, [], deadline)

    def _pump(self, busy: dict, results: list, start_deadline: float) -> None:
        """Wait once for output from a starting or busy worker; record replies, replace the dead.

        busy: worker -> (request index, deadline)."""
        watched = {w.proc.stdout.fileno(): w for w in self._workers if not w.ready or w in busy}
        if not watched:
            return
        wake = min([start_deadline] + [deadline for _, deadline in busy.values()])
        readable, _, _ = select.select(list(watched), [], [],
                                       min(max(0.0, wake - time.monotonic()), 0.5))
        for fd in readable:
            worker = watched[fd]
            try:
                message = read_message(fd)
            except (EOFError, ValueError, OSError) as error:
                code = worker.proc.poll()
                if worker in busy:
                    index, _ = busy.pop(worker)
                    results[index] = Lost(f"worker exited (code {code}): {error}")
                elif not worker.ready:
                    self._start_failures += 1
                    if self._start_failures >= MAX_START_FAILURES:
                        worker.kill()
                        self._workers.remove(worker)
                        raise RuntimeError(
                            f"verifier worker {self.module} failed to start "
                            f"{self._start_failures} times (exit code {code}); run "
                            f"`{sys.executable} -c 'import {self.module}'` to see why")
                self._replace(worker)
                continue
            if not worker.ready:
                worker.ready = True
                self._start_failures = 0
            elif worker in busy:
                index, _ = busy.pop(worker)
                results[index] = message
        now = time.monotonic()
        for worker in list(self._workers):
            if not worker.ready and now - worker.started > WORKER_START_TIMEOUT_S:
                self._replace(worker)

    def run(self, requests: list[Any], timeout_s: float) -> list[Any]:
        """Reply for each request, or ``Timeout`` / ``Lost``; each request gets ``timeout_s``
        of wall time from the moment a ready worker receives it."""
        results: list[Any] = [None] * len(requests)
        if not requests:
            return results
        with self._lock:
            self._ensure_workers()
            queue = collections.deque(range(len(requests)))
            busy: dict[_Worker, tuple[int, float]] = {}
            start_deadline = time.monotonic() + WORKER_START_TIMEOUT_S
            while queue or busy:
                for worker in list(self._workers):
                    if queue and worker.ready and worker not in busy:
                        index = queue.popleft()
                        try:
                            write_message(worker.proc.stdin.fileno(), requests[index])
                        except OSError:  # died while idle
                            queue.appendleft(index)
                            self._replace(worker)
                            continue
                        busy[worker] = (index, time.monotonic() + timeout_s)
                if queue and not busy and time.monotonic() > start_deadline:
                    while queue:
                        results[queue.popleft()] = Lost("no worker became ready")
                    break
                self._pump(busy, results, start_deadline)
                now = time.monotonic()
                for worker, (index, deadline) in list(busy.items()):
                    if now >= deadline:
                        del busy[worker]
                        results[index] = Timeout(timeout_s)
                        self._replace(worker)
        return results

    def close(self, grace_s: float = 3.0) -> None:
        """Ask each worker to exit (EOF on its stdin, so it can clean up), then SIGKILL."""
        with self._lock:
            if os.getpid() == self._owner_pid:
                for worker in self._workers:
                    try:
                        worker.proc.stdin.close()
                    except OSError:
                        pass
                deadline = time.monotonic() + grace_s
                for worker in self._workers:
                    try:
                        worker.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
                    except subprocess.TimeoutExpired:
                        pass
                    worker.kill()
            self._workers = []


@atexit.register
def _close_all_pools() -> None:
    for pool in list(_LIVE_POOLS):
        pool.close()
