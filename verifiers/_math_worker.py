"""Host-side math worker: parses LaTeX with latex2sympy (via math-verify) and compares.

Runs in a killable process (see worker_pool). Nothing here evaluates model text as code:
math-verify's plain-expression extraction goes through sympy's ``parse_expr`` (an
``eval``), so it is never configured; and ``parse_expr`` is wrapped so that it accepts only
plain numeric literals and bare identifiers (latex2sympy builds numbers with
``sympy.Number(token)``, and sympy's units module parses prefix names, both through it;
evaluating a bare name only looks it up) and refuses everything else, so no code path
can eval model text.

Rounding: math-verify rounds both sides to 6 decimal places whenever one is a float
(so 1/3 == 0.333333 but also 0.0000001 == 0). ``sympy_numeric_eq`` is replaced by the
project's one rule, ``answer_extraction.numbers_match``, fed with each decimal as it was
written (its digits are looked up in the request's text: sympy's Float forgets them), so a
number inside a set, tuple, interval or equation is judged as it would be on its own.
"""
from __future__ import annotations

import os
import re
from fractions import Fraction
from functools import lru_cache

from verifiers.answer_extraction import (NumberLiteral, normalise_for_parser, numbers_match,
                                         parse_number_literal)

WORKER_ADDRESS_SPACE_BYTES = int(os.environ.get("VERIFIERS_MATH_WORKER_AS_BYTES", 2 << 30))


_NUMERIC_LITERAL_OR_NAME = re.compile(r"\s*(?:[0-9]{0,4000}(?:\.[0-9]{0,4000})?"
                                      r"(?:[eE][-+]?[0-9]{1,4})?|[A-Za-z_][A-Za-z0-9_]{0,100})\s*")


def _install_guards() -> None:
    import sympy.parsing.sympy_parser as sympy_parser
    import math_verify.parser as mv_parser
    original_parse_expr = sympy_parser.parse_expr

    def numeric_only_parse_expr(s, *args, **kwargs):
        if not isinstance(s, str) or not _NUMERIC_LITERAL_OR_NAME.fullmatch(s):
            raise ValueError("sympy parse_expr (eval) is refused in the math verifier worker")
        return original_parse_expr(s, *args, **kwargs)

    sympy_parser.parse_expr = numeric_only_parse_expr
    mv_parser.parse_expr = numeric_only_parse_expr
    _install_rounding_policy()
    import logging
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)


# Decimal literals of the request being checked, as written: [(sympy Float, literal)]. A
# worker checks one request at a time, so a module-level list is the request's context.
_written_decimals: list = []
_DECIMAL_TOKEN = re.compile(r"(?<![\d.])(?:\d+\.\d+|\.\d+)(?![\d.])")
EXTRA_DIGITS = 30  # an irrational side is evaluated this many digits past the decimal's


def _collect_written_decimals(*texts: str) -> None:
    from sympy import Float
    _written_decimals.clear()
    for text in texts:
        for token in _DECIMAL_TOKEN.findall(text):
            literal = parse_number_literal(token)
            if literal is not None:
                _written_decimals.append((Float(token), literal))


def _literal_of_float(value) -> NumberLiteral:
    """The decimal as the request wrote it; two spellings of one value (0.5, 0.50) or a
    float sympy computed count as exact (the strict reading)."""
    magnitude = abs(value)
    spellings = {literal for written, literal in _written_decimals if written == magnitude}
    if len(spellings) == 1:
        literal = spellings.pop()
        return NumberLiteral(-literal.value if value < 0 else literal.value,
                             literal.last_digit_unit, literal.significant_digits)
    return NumberLiteral(Fraction(str(value)))


def _as_literal(expr, digits: int) -> NumberLiteral | None:
    """A real number as a NumberLiteral (irrationals to ``digits`` significant digits), or
    None for anything that is not one (symbols, complex, infinite)."""
    from math_verify.grader import get_pct_val
    from sympy import Float, Rational
    base = get_pct_val(expr, expr)
    if isinstance(base, Float):
        if not base.is_finite:
            return None
        literal = _literal_of_float(base)
    elif isinstance(base, Rational):
        literal = NumberLiteral(Fraction(int(base.p), int(base.q)))
    else:
        if not getattr(base, "is_number", False) or base.free_symbols or base.is_real is not True:
            return None
        approximation = base.evalf(digits)
        if not isinstance(approximation, Float) or not approximation.is_finite:
            return None
        literal = NumberLiteral(Fraction(str(approximation)))
    if base is not expr:  # X% as latex2sympy writes it: X * UnevaluatedExpr(1/100)
        literal = NumberLiteral(literal.value, literal.last_digit_unit,
                                literal.significant_digits, percent=True)
    return literal


def _install_rounding_policy() -> None:
    import math_verify.grader as grader
    from sympy import Float
    original = grader.sympy_numeric_eq

    def numeric_eq_by_numbers_match(gold, pred, float_rounding: int, numeric_precision: int) -> bool:
        if not (grader.is_atomic_or_pct_atomic(gold, Float)
                or grader.is_atomic_or_pct_atomic(pred, Float)):
            return original(gold, pred, float_rounding, numeric_precision)
        digits = max([60] + [literal.significant_digits + EXTRA_DIGITS
                             for _, literal in _written_decimals])
        gold_literal, pred_literal = _as_literal(gold, digits), _as_literal(pred, digits)
        return gold_literal is not None and pred_literal is not None \
            and numbers_match(pred_literal, gold_literal)

    grader.sympy_numeric_eq = numeric_eq_by_numbers_match


def _latex_parse(text: str) -> list:
    from math_verify import LatexExtractionConfig, parse
    return parse(f"${text}$", extraction_config=[LatexExtractionConfig()],
                 parsing_timeout=None)


@lru_cache(maxsize=4096)
def _parse_reference(reference: str) -> list:
    return _latex_parse(reference)


def _has_math_object(parsed: list) -> bool:
    return any(not isinstance(item, str) for item in parsed)


def check(request: dict) -> dict:
    """request: {"answer": str, "reference": str} -> {"status", "score", "detail"}."""
    from math_verify import verify
    answer = normalise_for_parser(request["answer"]).replace("**", "^")
    reference = normalise_for_parser(request["reference"]).replace("**", "^")
    _collect_written_decimals(answer, reference)
    gold = _parse_reference(reference)
    if not gold:
        return {"status": "internal_error", "score": 0.0,
                "detail": f"reference {reference[:80]!r} did not parse"}
    predicted = _latex_parse(answer)
    if not predicted:
        return {"status": "parse_error", "score": 0.0, "detail": "answer did not parse"}
    if verify(gold, predicted, timeout_seconds=None):
        return {"status": "ok", "score": 1.0, "detail": "equivalent"}
    if not _has_math_object(predicted):
        return {"status": "parse_error", "score": 0.0,
                "detail": "answer is not a mathematical expression"}
    return {"status": "ok", "score": 0.0, "detail": "not equivalent"}


def _warm_up() -> None:
    """Install the guards, then touch every comparison path once, so that sympy's lazy
    imports (simplify, sets, matrices, units) happen here and not inside a timed check."""
    _install_guards()
    for answer, reference in (("\\frac{1}{2}", "0.5"), ("(1,2]", "\\{1,2\\}"),
                              ("x^2+2x+1", "(x+1)^2"), ("\\{3,1\\}", "\\{1,3\\}"),
                              ("(1, 2)", "(2, 1)"), ("x=5", "5"), ("\\sin^2 x+\\cos^2 x", "1"),
                              ("\\begin{pmatrix}1\\\\2\\end{pmatrix}",
                               "\\begin{pmatrix}1\\\\2\\end{pmatrix}"),
                              ("50\\%", "0.5"), ("\\sqrt{8}", "2\\sqrt{2}"),
                              ("\\{0.333333, 2\\}", "\\{\\frac{1}{3}, 2\\}"), ("\\sqrt{2}", "1.41421356")):
        check({"answer": answer, "reference": reference})
    _parse_reference.cache_clear()


def worker_entry() -> None:
    from verifiers.worker_pool import worker_main
    worker_main(check, WORKER_ADDRESS_SPACE_BYTES, warm_up=_warm_up)
