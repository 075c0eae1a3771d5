"""Host-side math worker: parses LaTeX with latex2sympy (via math-verify) and compares.

Runs in a killable process (see worker_pool). Nothing here evaluates model text as code:
math-verify's plain-expression extraction goes through sympy's ``parse_expr`` (an
``eval``), so it is never configured; and ``parse_expr`` is wrapped so that it accepts only
plain numeric literals and bare identifiers (latex2sympy builds numbers with
``sympy.Number(token)``, and sympy's units module parses prefix names, both through it;
evaluating a bare name only looks it up) and refuses everything else, so no code path
can eval model text.
"""
from __future__ import annotations

import os
import re
from functools import lru_cache

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
    import logging
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)


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
    answer = request["answer"].replace("**", "^")
    reference = request["reference"].replace("**", "^")
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
                              ("50\\%", "0.5"), ("\\sqrt{8}", "2\\sqrt{2}")):
        check({"answer": answer, "reference": reference})
    _parse_reference.cache_clear()


def worker_entry() -> None:
    from verifiers.worker_pool import worker_main
    worker_main(check, WORKER_ADDRESS_SPACE_BYTES, warm_up=_warm_up)
