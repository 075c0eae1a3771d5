"""Code answers: the candidate runs in a bubblewrap sandbox, the trusted tests on the host.

    verify("code", candidate_source, {"tests": "def check(candidate): ...",
                                      "entry_point": "add", "prompt": optional})

The response is the candidate program (for HumanEval: prompt + completion). If it contains
markdown fences, the last fenced block is taken. The item's optional "prompt" is TRUSTED
benchmark text: it is executed beside the tests so that helpers they call (HumanEval/32
``poly``, /38 ``encode_cyclic``, /50 ``encode_shift``) exist on the host side.
See _code_worker.py for the proxy protocol and sandbox.py for the isolation.
"""
from __future__ import annotations

import os
import re
import select
import signal
import time

from verifiers import sandbox
from verifiers.verdict import Verdict, failed
from verifiers.worker_pool import Lost, Timeout, WorkerPool, _Worker

DEFAULT_TIMEOUT_S = 10.0
MAX_SOURCE_CHARS = 200_000
HOST_GRACE_S = 10.0  # sandbox start-up and test loading on top of the candidate's time
_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)

_pool: WorkerPool | None = None




def _descendants(root: int, table: dict[int, tuple[int, str]]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, frontier = set(), [root]
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found


def kill_process_tree(root: int, timeout_s: float = 5.0) -> None:
    """SIGKILL ``root`` and every process descended from it, and return once each has
    exited (a worker's sandboxes: bwrap, the zygote that is the namespace's pid 1, the
    candidate). The kernel kills a parent's children only asynchronously (PDEATHSIG),
    so without this a killed worker's sandbox outlives the verdict. All of them are
    stopped first, until no new descendant appears (for at most a fifth of the time),
    so none can fork a process the kill misses; the wait is on pidfds, so a reused pid
    is never mistaken for one."""
    deadline = time.monotonic() + timeout_s
    stop_deadline = time.monotonic() + timeout_s / 5
    pidfds: dict[int, int] = {}
    try:
        while time.monotonic() < stop_deadline:
            table = sandbox.process_table()
            new = ({root} | _descendants(root, table)) - set(pidfds)
            for pid in new:
                try:
                    pidfds[pid] = os.pidfd_open(pid)
                    signal.pidfd_send_signal(pidfds[pid], signal.SIGSTOP)
                except OSError:  # already gone
                    pass
            running = [pid for pid in pidfds if table.get(pid, (0, "T"))[1] not in "TtZX"]
            if not new and not running:
                break
            time.sleep(0.001)
        for pidfd in pidfds.values():
            try:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            except OSError:
                pass
        waiting = list(pidfds.values())
        while waiting and time.monotonic() < deadline:
            readable, _, _ = select.select(waiting, [], [], deadline - time.monotonic())
            waiting = [fd for fd in waiting if fd not in readable]
    finally:
        for pidfd in pidfds.values():
            os.close(pidfd)


class _SandboxOwningWorker(_Worker):
    """A code worker, killed together with its sandboxes (see kill_process_tree)."""

    def kill(self) -> None:
        if self.proc.poll() is None:
            kill_process_tree(self.proc.pid)
        super().kill()


class CodeWorkerPool(WorkerPool):
    """The code workers' pool: a worker the pool kills (overrun, lost, closed) takes its
    sandboxes with it before the pool answers for it."""

    def _spawn(self) -> _Worker:
        return _SandboxOwningWorker(super()._spawn().proc)


def code_pool() -> WorkerPool:
    global _pool
    if _pool is None:
        size = int(os.environ.get("VERIFIERS_CODE_WORKERS", min(2, os.cpu_count() or 1)))
        _pool = CodeWorkerPool("verifiers._code_worker", size)
    return _pool


def shutdown() -> None:
    """Kill the host workers and their spare sandboxes (they restart on the next call)."""
    if _pool is not None:
        _pool.close()


def require_sandbox() -> None:
    problem = sandbox.sandbox_problem()
    if problem is not None:
        raise sandbox.SandboxUnavailable(problem)


def candidate_source(response: str) -> str:
    blocks = _FENCE.findall(response) if "```" in response else []
    return blocks[-1] if blocks else response


def _request(response: str, reference, timeout_s: float, unsafe: bool) -> dict | Verdict:
    if not isinstance(reference, dict) or not isinstance(reference.get("tests"), str) \
            or not isinstance(reference.get("entry_point"), str):
        raise ValueError("a code reference must be a dict with 'tests' (Python source defining "
                         "check(candidate)) and 'entry_point' (the function's name)")
    if not isinstance(response, str):
        return failed("no_answer", "response is not a string")
    if len(response) > MAX_SOURCE_CHARS:
        return failed("parse_error", f"response has {len(response)} chars "
                                     f"(limit {MAX_SOURCE_CHARS})")
    source = candidate_source(response)
    if not source.strip():
        return failed("no_answer", "empty program")
    return {"source": source, "tests": reference["tests"], "entry_point": reference["entry_point"],
            "prompt": reference.get("prompt") or "", "timeout_s": float(timeout_s),
            "unsafe": bool(unsafe)}


def verify_code_batch(responses: list[str], references: list, timeout_s: float = DEFAULT_TIMEOUT_S,
                      *, unsafe_no_sandbox: bool = False) -> list[Verdict]:
    if not unsafe_no_sandbox:
        require_sandbox()
    verdicts: list[Verdict | None] = [None] * len(responses)
    requests, positions = [], []
    for index, (response, reference) in enumerate(zip(responses, references, strict=True)):
        request = _request(response, reference, timeout_s, unsafe_no_sandbox)
        if isinstance(request, Verdict):
            verdicts[index] = request
        else:
            requests.append(request)
            positions.append(index)
    replies = code_pool().run(requests, timeout_s + HOST_GRACE_S) if requests else []
    for index, reply in zip(positions, replies):
        if isinstance(reply, Timeout):
            verdicts[index] = failed("timeout", f"check exceeded {timeout_s:g} s (+ grace)")
        elif isinstance(reply, Lost):
            verdicts[index] = failed("internal_error", reply.detail)
        else:
            score = 1.0 if reply.get("status") == "ok" and reply.get("score") == 1.0 else 0.0
            verdicts[index] = Verdict(score, reply.get("status", "internal_error"),
                                      reply.get("detail", ""))
    return verdicts  # type: ignore[return-value]


# --- diagnostics ------------------------------------------------------------------------------
def _read_proc(pid: int) -> dict | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
        with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as handle:
            status = handle.read()
        namespace = os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None
    ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
    nspid = next((line.split()[1:] for line in status.splitlines()
                  if line.startswith("NSpid:")), [str(pid)])
    state = stat[stat.rindex(b")") + 2:].split()[0].decode()
    return {"pid": pid, "ppid": ppid, "ns": namespace, "inner_pid": int(nspid[-1]), "state": state,
            "name": stat[stat.index(b"(") + 1:stat.rindex(b")")].decode(errors="replace")}


def stray_processes() -> list[dict]:
    """Processes a candidate left behind: anything in a foreign pid namespace except the
    zygote (the namespace's pid 1) of this pool's warm sandboxes (candidate children are
    reaped after every check), and any host-side descendant of a host worker other than
    a sandbox's bwrap. Empty when clean.
    (Sandboxes started by other programs on the machine would also be listed.)"""
    processes = [info for info in map(_read_proc, (int(e) for e in os.listdir("/proc")
                                                   if e.isdigit())) if info]
    own_ns = os.readlink("/proc/self/ns/pid")
    workers = {w.proc.pid for w in (_pool._workers if _pool is not None else [])}
    monitors = {p["pid"] for p in processes if p["ppid"] in workers and p["ns"] == own_ns}
    spare_namespaces = {p["ns"] for p in processes if p["ppid"] in monitors and p["ns"] != own_ns}
    strays = []
    for info in processes:
        if info["state"] == "Z" and info["ppid"] == 1:
            continue
        if info["ns"] != own_ns:
            if info["ns"] not in spare_namespaces or info["inner_pid"] > 1:
                strays.append(info)
        elif info["ppid"] in monitors:
            strays.append(info)
    return strays
