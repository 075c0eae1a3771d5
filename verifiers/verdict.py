"""The one result type every verifier returns."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

STATUSES = frozenset({
    "ok",                 # the check completed; score says right (1.0) or wrong (0.0)
    "no_answer",          # no answer could be extracted from the response
    "parse_error",        # an answer was found but could not be parsed (or was too large)
    "timeout",            # the check ran past its wall-time limit and was killed
    "runtime_error",      # the candidate raised, crashed or returned something unserialisable
    "memory_limit",       # the check hit its address-space limit
    "sandbox_violation",  # the candidate tried something the sandbox forbids (e.g. exiting early)
    "output_limit",       # the candidate's output was over the host decoder's limits (bytes,
                          # nesting, keys sharing one hash): refused, not decoded
    "internal_error",     # the verifier itself failed; never counts as right
})


@dataclass(frozen=True)
class Verdict:
    """score: 1.0 or 0.0; status: one of STATUSES; detail: a short human-readable reason."""

    score: float
    status: str
    detail: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"Verdict status {self.status!r} is not one of {sorted(STATUSES)}")
        if self.score not in (0.0, 1.0):
            raise ValueError(f"Verdict score must be 0.0 or 1.0, got {self.score!r}")
        if self.score == 1.0 and self.status != "ok":
            raise ValueError(f"only an 'ok' verdict can score 1.0 (status {self.status!r})")

    def to_dict(self) -> dict:
        return asdict(self)


def right(detail: str = "") -> Verdict:
    return Verdict(1.0, "ok", detail)


def wrong(detail: str = "") -> Verdict:
    return Verdict(0.0, "ok", detail)


def failed(status: str, detail: str) -> Verdict:
    return Verdict(0.0, status, detail)


def from_worker_reply(reply: Any, check: str, max_detail: int | None = None) -> Verdict:
    """The Verdict of a killable worker's reply (`verifiers.worker_pool`): its deadline
    passed (timeout), it was SIGKILLed while busy (the kernel, for memory: memory_limit) or
    died otherwise (internal_error), or it answered {"status", "score", "detail"}; a reply
    with a status outside STATUSES is an internal_error, never a raise. ``check`` names the
    check in the timeout's detail; ``max_detail`` caps the detail's length."""
    from verifiers.worker_pool import Lost, Timeout

    if isinstance(reply, Timeout):
        return failed("timeout", f"{check} exceeded {reply.seconds:g} s")
    if isinstance(reply, Lost):
        return failed("memory_limit" if "code -9" in reply.detail else "internal_error", reply.detail)
    status = reply.get("status") if isinstance(reply, dict) else None
    if status not in STATUSES:
        return failed("internal_error", f"malformed worker reply {reply!r:.80}")
    score = 1.0 if reply.get("score") == 1.0 and status == "ok" else 0.0
    detail = str(reply.get("detail", ""))
    return Verdict(score, status, detail if max_detail is None else detail[:max_detail])
