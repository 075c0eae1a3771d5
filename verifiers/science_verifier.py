"""Science answers: numbers with units (pint, relative tolerance) and multiple-choice letters.

Reference: ``{"answer": "9.8 m/s^2", "rel_tol": 0.01}`` (rel_tol optional, default
DEFAULT_REL_TOL; "abs_tol" optional, default 0) or ``{"answer": "C"}``, or the answer string.
- A single letter A-E is a multiple-choice reference: the response's letter must match.
- Otherwise the answer is a number with an optional unit. The response's answer is taken
  from the last \\boxed{} or "A:"/"Answer:" line, else (documented fallback) from the last
  line holding a digit: the leftmost "number unit" suffix of that line that parses. The
  response's quantity is converted to the reference unit: an equivalent unit is right
  ("980 cm/s^2" for "9.8 m/s^2"), a different dimension or a missing unit is wrong.
  A dimensionless reference unit ("50 %") compares as the plain number (0.5).

Numbers are parsed by regex (exponents capped) and unit strings must pass a character
whitelist before pint sees them, so nothing expensive or executable reaches pint.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache

from verifiers.answer_extraction import (AnswerTooLarge, MalformedBox, _ANSWER_LINE, _clean,
                                         _last_boxed, MAX_RESPONSE_CHARS)
from verifiers.verdict import Verdict, failed, right, wrong

DEFAULT_REL_TOL = 1e-2
MAX_UNIT_CHARS = 60
_CHOICE_REFERENCE = re.compile(r"\(?([A-E])\)?")
_CHOICE_IN_ANSWER = re.compile(r"^(?:\\text\{)?\(?([A-E])\)?(?:\}|[.):\s]|$)")
_CHOICE_IN_PROSE = re.compile(r"answer is:?\s*\(?([A-E])\)?(?![A-Za-z])", re.IGNORECASE)
_NUMBER = (r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?"
           r"(?:\s*(?:\\times|×|x|\*)\s*10\s*\^\s*\{?\s*[+-]?\d{1,3}\s*\}?)?")
_QUANTITY = re.compile(rf"\s*({_NUMBER})\s*(.*?)\s*")
_LAST_NUMBER = re.compile(_NUMBER)
_UNIT_CHARS = re.compile(r"[A-Za-zµμΩ°Å/*^·.\s()\d²³⁻¹-]*")
_LATEX_UNIT = [(re.compile(r"\\(?:text|mathrm|rm|operatorname)\s*\{([^{}]*)\}"), r"\1"),
               (re.compile(r"\\(?:cdot|times)"), "*"), (re.compile(r"\\[,;!: ]|~"), " "),
               (re.compile(r"\^\s*\{([^{}]*)\}"), r"^(\1)"), (re.compile(r"\\mu\s*"), "µ"),
               (re.compile(r"\\Omega"), "Ω"), (re.compile(r"\\circ|\^\s*\\circ"), "°"),
               (re.compile(r"\\%|%"), "percent")]


@lru_cache(maxsize=1)
def unit_registry():
    import pint
    return pint.UnitRegistry()


def _reference(reference) -> tuple[str, float, float]:
    if isinstance(reference, dict):
        answer, rel_tol = reference.get("answer"), reference.get("rel_tol", DEFAULT_REL_TOL)
        abs_tol = reference.get("abs_tol", 0.0)
    else:
        answer, rel_tol, abs_tol = reference, DEFAULT_REL_TOL, 0.0
    if not isinstance(answer, str) or not answer.strip():
        raise ValueError(f"science reference needs an 'answer' string, got {reference!r:.80}")
    return answer.strip(), float(rel_tol), float(abs_tol)


def _number(text: str) -> float:
    text = text.replace("×", "*").replace("\\times", "*")
    mantissa, _, exponent = re.sub(r"\s", "", text).partition("*")
    value = float(mantissa.replace("x", ""))
    if exponent:
        value *= 10.0 ** int(exponent.split("^")[1].strip("{}"))
    return value


def _quantity(text: str):
    """pint Quantity (or float when unitless) of '9.8 m/s^2'; raises ValueError."""
    text = _clean(text)
    match = _QUANTITY.fullmatch(text)
    if not match:
        raise ValueError(f"not a number with a unit: {text[:60]!r}")
    value, unit = _number(match.group(1)), match.group(2).strip().rstrip(".")
    for pattern, replacement in _LATEX_UNIT:
        unit = pattern.sub(replacement, unit)
    unit = unit.strip().replace("μ", "µ")
    if not unit:
        return value
    if len(unit) > MAX_UNIT_CHARS or not _UNIT_CHARS.fullmatch(unit) or \
            any(len(n) > 2 for n in re.findall(r"\d+", unit)):
        raise ValueError(f"unit {unit[:60]!r} is not a plain unit expression")
    registry = unit_registry()
    try:
        return registry.Quantity(value, registry.parse_units(unit))
    except Exception as error:
        raise ValueError(f"unknown unit {unit!r}: {type(error).__name__}") from None


def _extract(response: str) -> tuple[str | None, bool]:
    """(answer text, whether it came from the fallback)."""
    if len(response) > MAX_RESPONSE_CHARS:
        raise AnswerTooLarge(f"response has {len(response)} chars")
    boxed = _last_boxed(response)
    if boxed is not None:
        return _clean(boxed), False
    line = None
    for line in _ANSWER_LINE.finditer(response):
        pass
    if line is not None and line.group(1).strip():
        return _clean(line.group(1)), False
    return None, True


def _fallback_quantity(response: str):
    """The leftmost 'number unit' suffix of the last line with a digit, or None."""
    lines = [line for line in response.splitlines() if any(ch.isdigit() for ch in line)]
    if not lines:
        return None
    line = lines[-1][-500:]
    error: Exception = ValueError("no number with a unit on the last line")
    for number in _LAST_NUMBER.finditer(line):
        before = line[number.start() - 1] if number.start() else " "
        if before == "^" or before.isalnum():
            continue
        try:
            return _quantity(line[number.start():])
        except (ValueError, OverflowError) as failure:
            error = failure
    raise error


def verify_science(response: str, reference) -> Verdict:
    expected, rel_tol, abs_tol = _reference(reference)
    try:
        answer, _ = _extract(response)
    except (AnswerTooLarge, MalformedBox) as error:
        return failed("parse_error", str(error))

    choice = _CHOICE_REFERENCE.fullmatch(expected)
    if choice:
        letter = None
        if answer is not None:
            found = _CHOICE_IN_ANSWER.match(answer)
            letter = found.group(1) if found else None
        else:
            for found in _CHOICE_IN_PROSE.finditer(response):
                letter = found.group(1)
        if letter is None:
            return failed("no_answer" if answer is None else "parse_error",
                          "no choice letter A-E found")
        expected_letter = choice.group(1)
        return right("choice") if letter == expected_letter else \
            wrong(f"{letter} != {expected_letter}")

    try:
        got = _quantity(answer) if answer is not None else _fallback_quantity(response)
    except (ValueError, OverflowError) as error:
        return failed("parse_error", str(error))
    if got is None:
        return failed("no_answer", "no \\boxed{}, 'A:' line or number in the response")
    try:
        want = _quantity(expected)
    except (ValueError, OverflowError) as error:
        return failed("internal_error", f"reference {expected!r} did not parse: {error}")

    if not isinstance(want, float) and want.dimensionless:  # "50 %" is the number 0.5
        want = float(want.to("dimensionless").magnitude)
    got_has_unit, want_has_unit = not isinstance(got, float), not isinstance(want, float)
    if want_has_unit and not got_has_unit:
        return wrong(f"missing unit (expected {want.units:~})")
    if got_has_unit and not want_has_unit:
        if not got.dimensionless:
            return wrong(f"unexpected unit {got.units:~}")
        got = float(got.to("dimensionless").magnitude)
    if want_has_unit:
        if got.dimensionality != want.dimensionality:
            return wrong(f"wrong dimension: {got.dimensionality} vs {want.dimensionality}")
        got, want = float(got.to(want.units).magnitude), float(want.magnitude)
    if not (math.isfinite(got) and math.isfinite(want)):
        return wrong("non-finite value")
    if math.isclose(got, want, rel_tol=rel_tol, abs_tol=abs_tol):
        return right(f"within rel_tol {rel_tol:g}")
    return wrong(f"{got:g} vs {want:g} (rel_tol {rel_tol:g})")


def verify_science_batch(responses: list[str], references: list) -> list[Verdict]:
    return [verify_science(response, reference)
            for response, reference in zip(responses, references, strict=True)]
