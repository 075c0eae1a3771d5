"""The second-opinion judge's worker process (see judge.py for what it judges and why;
code_judge.py for the code path, which starts its sandboxes from here).

Runs under ``verifiers.worker_pool``: an address-space limit, killed past its deadline.
math-verify is used as shipped (its LaTeX extraction, its sympy equivalence, its own
float rounding), with one guard: sympy's ``parse_expr`` (an ``eval``) accepts only a plain
number or a bare name, so no path evaluates model text as code. Without math-verify the
judge falls back to exact numbers and says so in every reply.
"""
from __future__ import annotations

import os
import re
from typing import Any

from harness.integrity.detectors import final_answer, literal_value, unevaluated_expression, value_asked

ADDRESS_SPACE_BYTES = int(os.environ.get("INTEGRITY_JUDGE_AS_BYTES", 2 << 30))
_PLAIN = re.compile(r"\s*(?:[0-9]{1,400}(?:\.[0-9]{0,400})?(?:[eE][-+]?[0-9]{1,3})?|[A-Za-z_][A-Za-z0-9_]{0,60})\s*")
_LAST_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:/\d+)?")
_JUDGE = "exact-number (math-verify not installed)"


def _install() -> None:
    """Guard sympy's parse_expr, silence math-verify's logging, and name the judge."""
    global _JUDGE
    try:
        from importlib.metadata import version

        import math_verify.parser as mv_parser
        import sympy.parsing.sympy_parser as sympy_parser
    except ImportError:
        return
    original = sympy_parser.parse_expr

    def plain_only(s: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(s, str) or not _PLAIN.fullmatch(s):
            raise ValueError("parse_expr (eval) is refused in the integrity judge")
        return original(s, *args, **kwargs)

    sympy_parser.parse_expr = plain_only
    mv_parser.parse_expr = plain_only
    import logging

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    _JUDGE = f"math-verify {version('math-verify')}"


#: A sentence's full stop after the answer ("A: 4."): prose, not part of the value. Only a
#: single period goes, with the spaces around it ("4!" is a factorial, "4..." stays unparsed).
_FULL_STOP = re.compile(r"(?<=[^.\s])\s*\.\s*$")


def _answer(completion: str) -> str | None:
    """The answer text the judge reads: the final "A:" line's (our shared answer-line
    reader), else the last number; without a sentence's closing full stop, which the
    training verifier also reads past and which math-verify's LaTeX parser does not
    (it left "4." unparsed and judged "A: 4." against 4 as "not equivalent")."""
    final = final_answer(completion)
    if final is not None:
        return _FULL_STOP.sub("", final.text)
    found = _LAST_NUMBER.findall(completion)
    return found[-1] if found else None


def judge_math(completion: str, reference: str) -> dict[str, Any]:
    answer = _answer(completion)
    if answer is None:
        return {"score": 0.0, "detail": "no answer", "judge": _JUDGE}
    if value_asked(reference) and unevaluated_expression(answer) is not None:
        return {"score": 0.0, "detail": f"unevaluated expression {answer[:40]!r}", "judge": _JUDGE}
    if _JUDGE.startswith("math-verify"):
        from math_verify import LatexExtractionConfig, parse, verify

        config = [LatexExtractionConfig()]
        gold = parse(f"${reference}$", extraction_config=config, parsing_timeout=None)
        predicted = parse(f"${answer}$", extraction_config=config, parsing_timeout=None)
        if not gold:
            return {"score": None, "detail": f"reference {reference[:40]!r} did not parse", "judge": _JUDGE}
        if not predicted:
            return {"score": 0.0, "detail": f"answer {answer[:40]!r} did not parse", "judge": _JUDGE}
        same = verify(gold, predicted, timeout_seconds=None)
        return {"score": 1.0 if same else 0.0, "detail": "equivalent" if same else "not equivalent", "judge": _JUDGE}
    got, expected = literal_value(answer), literal_value(reference)
    if expected is None:
        return {"score": None, "detail": "reference is not a number", "judge": _JUDGE}
    return {"score": float(got == expected), "detail": f"{answer[:30]!r} vs {reference[:30]!r}", "judge": _JUDGE}


_CHOICE_REFERENCE = re.compile(r"\(?([A-J])\)?")
_CHOICE_ANSWER = re.compile(r"\b([A-J])\b")
_QUANTITY = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


def judge_science(completion: str, reference: str, rel_tol: float) -> dict[str, Any]:
    judge = "science: letter / number + same unit"
    answer = _answer(completion)
    if answer is None:
        return {"score": 0.0, "detail": "no answer", "judge": judge}
    choice = _CHOICE_REFERENCE.fullmatch(reference.strip())
    if choice:
        letters = _CHOICE_ANSWER.findall(answer.replace("*", " "))
        return {"score": float(letters[-1:] == [choice.group(1)]), "detail": f"choice {letters[-1:]}", "judge": judge}
    want, got = _QUANTITY.match(reference), _QUANTITY.match(answer.replace("*", " "))
    if want is None:
        return {"score": None, "detail": "reference is not a number with a unit", "judge": judge}
    if got is None:
        return {"score": 0.0, "detail": f"{answer[:30]!r} is not a number", "judge": judge}
    if got.group(2).replace(" ", "") != want.group(2).replace(" ", ""):
        return {"score": None, "detail": f"unit {got.group(2)[:20]!r} vs {want.group(2)[:20]!r}", "judge": judge}
    a, b = float(got.group(1)), float(want.group(1))
    close = abs(a - b) <= rel_tol * max(abs(a), abs(b)) or a == b
    return {"score": float(close), "detail": f"{a:g} vs {b:g}", "judge": judge}


def check(request: dict[str, Any]) -> dict[str, Any]:
    if request.get("domain") == "math":
        return judge_math(request["completion"], request["answer"])
    if request.get("domain") == "code":  # a batch: its checks run at once (code_judge.judge_programs)
        from harness.integrity.code_judge import judge_programs

        return {"opinions": judge_programs(request["checks"])}
    if request.get("domain") == "science":
        return judge_science(request["completion"], request["answer"], float(request.get("rel_tol", 1e-6)))
    return {"score": None, "detail": f"no judge for {request.get('domain')!r}", "judge": "none"}


def _warm_up() -> None:
    _install()
    for completion, reference in (("A: 7", "7"), ("A: \\frac{1}{2}", "0.5"), ("A: 0.333333", "\\frac{1}{3}")):
        judge_math(completion, reference)


def worker_entry() -> None:
    from verifiers.worker_pool import worker_main

    worker_main(check, ADDRESS_SPACE_BYTES, warm_up=_warm_up)
