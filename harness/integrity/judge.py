"""The second opinion: an independent judge of a completion, run in a killable worker.

Independent of ``verifiers/`` in every part that decides a verdict:
- math: the final answer read by ``detectors.final_answer`` (else the last number), an
  unevaluated expression is wrong where a number is asked (``detectors``' own rule), and
  equivalence is math-verify's own (its LaTeX parser, sympy, its 6-decimal float rounding),
  not the project's rounding policy or its number-literal fast path. When math-verify is not
  installed, an exact-number judge (the answer's value equals the reference's) takes its
  place; every opinion names the judge that gave it.
- science: a choice letter must equal the reference letter; a number with a unit must have
  the reference's unit, spelled the same, and its value within the item's relative
  tolerance; a different spelling of a unit (mV vs V) is an abstention, not a verdict.
- code: the item's tests run again on a second harness path inside the same bubblewrap
  sandbox (``code_judge``: tests and candidate in two fresh sandboxed interpreters joined by
  a socket, literals as ``repr`` lines, the tests' exit status as the verdict), not the
  verifier's zygote, host-side test runner and JSON channel. Where no sandbox works it
  abstains and says why; model text never runs outside the sandbox.

Model text is judged in a worker process (``_judge_worker``: address-space limit, killed
past its deadline), never in the trainer: math-verify's parsers and sympy can hang or blow
up on hostile input. An abstention (None) is counted apart from agreement and disagreement.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

JUDGE_TIMEOUT_S = 5.0
#: on top of a code batch's longest limit (code_judge: each check's host deadline is its
#: limit + HOST_GRACE_S; the checks of a batch run at once)
CODE_GRACE_S = 10.0
MAX_JUDGED_CHARS = 20_000
_pool: Any = None
_lock = threading.Lock()


@dataclass(frozen=True)
class Opinion:
    """score: 1.0 right, 0.0 wrong, None no opinion; judge: which judge gave it."""

    score: float | None
    detail: str
    judge: str


def judge_pool() -> Any:
    """The one worker process of this trainer (started on first use, closed at exit): a
    ``CodeWorkerPool``, so a judge worker the pool kills (past its deadline, at exit) takes
    the code judge's sandboxes with it.

    Started from the calling thread, on purpose not from a short-lived helper thread: a
    worker asks for SIGKILL when the *thread* that started it ends (PR_SET_PDEATHSIG), so a
    background warm-up would kill it. Its start (about half a second) is paid once per run."""
    global _pool
    with _lock:
        if _pool is None:
            from verifiers.code_verifier import CodeWorkerPool

            _pool = CodeWorkerPool("harness.integrity._judge_worker", 1)
        return _pool


def request_for(completion: str, item: dict[str, Any]) -> dict[str, Any] | None:
    """The worker request for one completion of ``item``; None where no judge exists."""
    domain = item.get("domain")
    if domain == "code":
        if not isinstance(item.get("tests"), str) or not isinstance(item.get("entry_point"), str):
            return None
        from harness.integrity.code_judge import request_for_code

        return request_for_code(completion, item)
    if domain not in ("math", "science"):
        return None
    return {"domain": domain, "completion": completion[-MAX_JUDGED_CHARS:], "answer": str(item.get("answer", "")),
            "rel_tol": float(item.get("rel_tol", 1e-6))}


def judge_many(pairs: list[tuple[str, dict[str, Any]]]) -> list[Opinion]:
    """Opinions on (completion, item) pairs, in order; an item without a judge (or a code
    item without tests) gets an abstention that says so."""
    requests = [request_for(text, item) for text, item in pairs]
    opinions: list[Opinion | None] = [None] * len(pairs)
    for i, item in enumerate(pairs):
        if requests[i] is None:
            opinions[i] = Opinion(None, f"no independent judge for domain {item[1].get('domain')!r}", "none")
    sent = [i for i, r in enumerate(requests) if r is not None and r["domain"] != "code"]
    if sent:
        replies = judge_pool().run([requests[i] for i in sent], timeout_s=JUDGE_TIMEOUT_S)
        for i, reply in zip(sent, replies):
            opinions[i] = _opinion_of(reply)
    code = [i for i, r in enumerate(requests) if r is not None and r["domain"] == "code"]
    if code:  # one request: the worker runs the batch's sandboxes at once, under the slowest one's deadline
        timeout_s = max(requests[i]["timeout_s"] for i in code) + CODE_GRACE_S
        (reply,) = judge_pool().run([{"domain": "code", "checks": [requests[i] for i in code]}], timeout_s=timeout_s)
        batch = reply.get("opinions") if isinstance(reply, dict) else None
        if not isinstance(batch, list) or len(batch) != len(code):
            batch = [reply] * len(code)  # a timeout, a lost worker, or the worker's error reply
        for i, one in zip(code, batch):
            opinions[i] = _opinion_of(one)
    return opinions  # type: ignore[return-value]


def _opinion_of(reply: Any) -> Opinion:
    """An Opinion from the worker's reply, or the abstention a Timeout / Lost / error reply means."""
    from verifiers.worker_pool import Lost, Timeout

    if isinstance(reply, Timeout):
        return Opinion(None, f"judge timed out after {reply.seconds:g} s", "worker")
    if isinstance(reply, Lost) or not isinstance(reply, dict) or "score" not in reply:
        return Opinion(None, f"judge lost: {str(getattr(reply, 'detail', reply))[:200]}", "worker")
    return Opinion(reply.get("score"), str(reply.get("detail", ""))[:200], str(reply.get("judge", "?")))
