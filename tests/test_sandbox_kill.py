"""No process of a killed candidate outlives its verdict, checked the moment each verdict
returns (issue 16, finding 3: after the kill, stray processes were seen).

A watcher thread pins (pidfd) every process it sees in the pool's workers' trees while a
check runs. When verify returns, each pinned process must have exited, unless it still
belongs to a live worker's tree, and no live sandbox may hold a candidate (a process
other than the zygote, the namespace's pid 1).
"""
from __future__ import annotations

import os
import select
import textwrap
import threading
import time

import pytest

from verifiers import code_verifier, sandbox, verify
from verifiers.code_verifier import _descendants
from verifiers.sandbox import process_table as _process_table

SPAWNS_THREADS = textwrap.dedent("""
    import threading, time
    def probe(x):
        for _ in range(3):
            threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
        return x
""")


@pytest.fixture(scope="module", autouse=True)
def _sandbox_works():
    problem = sandbox.sandbox_problem()
    assert problem is None, problem


def _inner_pid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except OSError:
        pass
    return None


class TreeWatcher:
    """Pins every process in the pool's workers' trees while a check runs."""

    def __init__(self) -> None:
        self.pool = code_verifier.code_pool()
        self.pool.warm()
        self.pinned: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch)

    def _watch(self) -> None:
        while not self._stop.is_set():
            table = _process_table()
            for worker in list(self.pool._workers):
                for pid in _descendants(worker.proc.pid, table) - set(self.pinned):
                    try:
                        self.pinned[pid] = os.pidfd_open(pid)
                    except OSError:
                        pass
            time.sleep(0.002)

    def __enter__(self) -> "TreeWatcher":
        self._thread.start()
        return self

    def survivors(self) -> tuple[list[int], list[int]]:
        """(pinned processes still running outside every live worker's tree, candidates
        still running inside one); call the moment the verdict is back."""
        running = [pid for pid, fd in list(self.pinned.items())
                   if not select.select([fd], [], [], 0)[0]]
        table = _process_table()
        live = set().union(*(_descendants(w.proc.pid, table) for w in self.pool._workers))
        in_sandboxes = [pid for pid in live if os.readlink(f"/proc/{pid}/ns/pid")
                        != os.readlink("/proc/self/ns/pid")] if live else []
        candidates = [pid for pid in in_sandboxes if (_inner_pid(pid) or 0) > 1
                      and table.get(pid, (0, "Z"))[1] != "Z"]
        return [pid for pid in running if pid not in live], candidates

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for fd in self.pinned.values():
            os.close(fd)


# A process that holds 400 MB takes tens of milliseconds to die: long enough for a
# verdict to come back before it is gone, unless the kill waits for it.
HOGS_MEMORY = "hog = []\ndef probe(x):\n    hog.append(bytearray(400 << 20))\n    return x\n"


@pytest.mark.parametrize("source", [SPAWNS_THREADS, HOGS_MEMORY], ids=["threads", "memory"])
def test_killed_workers_sandbox_is_gone_when_its_verdict_returns(monkeypatch, source):
    """The tests (trusted, on the host) spin after a call, so the pool kills the host
    worker at its deadline while its sandbox holds a live candidate."""
    monkeypatch.setattr(code_verifier, "HOST_GRACE_S", 0.5)
    tests = "def check(candidate):\n    candidate(1)\n    while True:\n        pass\n"
    with TreeWatcher() as watcher:
        for _ in range(3):
            verdict = verify("code", source, {"tests": tests, "entry_point": "probe"},
                             timeout_s=1.0)
            outside, candidates = watcher.survivors()
            assert verdict.status == "timeout", verdict
            assert (outside, candidates) == ([], [])
        assert len(watcher.pinned) >= 6  # three sandboxes were seen: the check is not blind


@pytest.mark.parametrize("source", [
    "def probe(x):\n    while True:\n        pass\n",
    SPAWNS_THREADS.replace("return x", "time.sleep(60)"),
    HOGS_MEMORY.replace("return x", "while True:\n        pass"),
    "import os, struct, time\ndef probe(x):\n    for fd in range(3, 64):\n        try:\n"
    "            os.write(fd, struct.pack('>I', 2**31))\n        except OSError:\n"
    "            pass\n    time.sleep(60)\n",
], ids=["spin", "threads_sleep", "memory_spin", "over_the_byte_cap_then_sleep"])
def test_timed_out_or_refused_candidate_is_gone_when_its_verdict_returns(source):
    tests = "def check(candidate):\n    assert candidate(1) == 1\n"
    with TreeWatcher() as watcher:
        started = time.monotonic()
        verdict = verify("code", source, {"tests": tests, "entry_point": "probe"}, timeout_s=1.0)
        outside, candidates = watcher.survivors()
    assert verdict.status in ("timeout", "output_limit"), verdict
    assert (outside, candidates) == ([], [])
    if "2**31" in source:  # refused on its header, not after the candidate's deadline
        assert verdict.status == "output_limit" and time.monotonic() - started < 1.0
