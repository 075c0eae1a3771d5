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
- code: no opinion (abstains): an independent judge would run the item's tests through a
  second sandbox path, which the arena does not have.

Model text is judged in a worker process (``_judge_worker``: address-space limit, killed
past its deadline), never in the trainer: math-verify's parsers and sympy can hang or blow
up on hostile input. An abstention (None) is counted apart from agreement and disagreement.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

JUDGE_TIMEOUT_S = 5.0
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
    """The one worker process of this trainer (started on first use, closed at exit).

    Started from the calling thread, on purpose not from a short-lived helper thread: a
    worker asks for SIGKILL when the *thread* that started it ends (PR_SET_PDEATHSIG), so a
    background warm-up would kill it. Its start (about half a second) is paid once per run."""
    global _pool
    with _lock:
        if _pool is None:
            from verifiers.worker_pool import WorkerPool

            _pool = WorkerPool("harness.integrity._judge_worker", 1)
        return _pool


def request_for(completion: str, item: dict[str, Any]) -> dict[str, Any] | None:
    """The worker request for one completion of ``item``; None where no judge exists."""
    domain = item.get("domain")
    if domain not in ("math", "science"):
        return None
    return {"domain": domain, "completion": completion[-MAX_JUDGED_CHARS:], "answer": str(item.get("answer", "")),
            "rel_tol": float(item.get("rel_tol", 1e-6))}


def judge_many(pairs: list[tuple[str, dict[str, Any]]]) -> list[Opinion]:
    """Opinions on (completion, item) pairs, in order."""
    requests = [request_for(text, item) for text, item in pairs]
    opinions: list[Opinion | None] = [None] * len(pairs)
    for i, item in enumerate(pairs):
        if requests[i] is None:
            opinions[i] = Opinion(None, f"no independent judge for domain {item[1].get('domain')!r}", "none")
    sent = [i for i, r in enumerate(requests) if r is not None]
    if sent:
        from verifiers.worker_pool import Lost, Timeout

        replies = judge_pool().run([requests[i] for i in sent], timeout_s=JUDGE_TIMEOUT_S)
        for i, reply in zip(sent, replies):
            if isinstance(reply, Timeout):
                opinions[i] = Opinion(None, f"judge timed out after {reply.seconds:g} s", "worker")
            elif isinstance(reply, Lost) or not isinstance(reply, dict):
                opinions[i] = Opinion(None, f"judge lost: {getattr(reply, 'detail', reply)}", "worker")
            else:
                opinions[i] = Opinion(reply.get("score"), str(reply.get("detail", ""))[:200], str(reply.get("judge", "?")))
    return opinions  # type: ignore[return-value]
