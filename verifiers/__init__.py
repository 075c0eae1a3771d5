"""Verifiers that cannot be fooled or escaped: math, code (sandboxed), science (units).

    from verifiers import verify, verify_batch, Verdict
    verify("math", "7+12=19\\nA: 19", "19")  -> Verdict(score=1.0, status="ok", detail=...)

``reference`` is the benchmark item dict (with "answer"; for code "tests" defining
``check(candidate)`` and "entry_point") or, for math and science, the answer string.
Model output is never evaluated in the calling process: math goes through string parsing
and killable LaTeX/sympy workers, science quantities through killable pint workers, code
runs in a bubblewrap sandbox.
"""
from __future__ import annotations

from verifiers.verdict import STATUSES, Verdict

DOMAINS = ("math", "code", "science")

__all__ = ["DOMAINS", "STATUSES", "Verdict", "verify", "verify_batch"]


def verify_batch(domain: str, responses: list[str], references: list, *,
                 timeout_s: float | None = None,
                 unsafe_no_sandbox: bool = False) -> list[Verdict]:
    """One Verdict per (response, reference) pair; timeout_s is per check (domain default
    if None). unsafe_no_sandbox (code only) runs candidates without bubblewrap."""
    if len(responses) != len(references):
        raise ValueError(f"verify_batch got {len(responses)} responses but "
                         f"{len(references)} references")
    if domain == "math":
        from verifiers.math_verifier import DEFAULT_TIMEOUT_S, verify_math_batch
        return verify_math_batch(responses, references,
                                 DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s)
    if domain == "code":
        from verifiers.code_verifier import DEFAULT_TIMEOUT_S, verify_code_batch
        return verify_code_batch(responses, references,
                                 DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s,
                                 unsafe_no_sandbox=unsafe_no_sandbox)
    if domain == "science":
        from verifiers.science_verifier import DEFAULT_TIMEOUT_S, verify_science_batch
        return verify_science_batch(responses, references,
                                    DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s)
    raise ValueError(f"unknown verifier domain {domain!r}; expected one of {DOMAINS}")


def verify(domain: str, response: str, reference, *, timeout_s: float | None = None,
           unsafe_no_sandbox: bool = False) -> Verdict:
    """Verdict for one response; see verify_batch."""
    return verify_batch(domain, [response], [reference], timeout_s=timeout_s,
                        unsafe_no_sandbox=unsafe_no_sandbox)[0]
