"""The one result type every verifier returns."""
from __future__ import annotations

from dataclasses import asdict, dataclass

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
