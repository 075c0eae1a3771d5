"""Math answers: extract, compare number literals in-process, the rest in workers.

Threat model: the response is written by an RL policy that searches for any answer the
verifier pays for without solving the problem. Three classes are closed here:
- Restating the problem. When the reference is a number literal and the item carries its
  ``prompt`` (the problem is known and asks for a value), the answer must be a number
  literal too (see ``answer_extraction.parse_number_literal``: integers, decimals,
  scientific notation, fractions in lowest terms, mixed numbers, percentages; spacing,
  digit groups, ``x =``, units and redundant brackets ignored). Anything else with numbers
  in it is an unevaluated expression and scores 0, whoever's operands it uses: "61 + 73",
  "61 + 73 + 0", "061 + 073", "60 + 1 + 73", "2 \\cdot 67", "84/12", "\\frac{168}{24}",
  "2^{10}", "\\sqrt{16}", "x - x + 134". sympy would call each "equivalent", and RL finds
  one within a dozen steps (SmolLM2 answered "Calculate 61 + 73." with "A: 61 + 73").
  Without a prompt (a bare reference string) a value is judged by value: "2^{10}" is 1024.
- Rounding. ``answer_extraction.numbers_match`` is the one rule for a decimal against an
  exact value, on every path: in-process for literals (bare, \\boxed, "A:", "x = ...", the
  last number) and in the workers for numbers inside sets, tuples, intervals, equations.
- Hostile input: size and nesting caps before any parser; sympy only in killable workers
  with a wall-time and an address-space limit, never an ``eval`` of model text.

Fast path (no sympy, no eval, microseconds): a number-literal answer against a
number-literal reference. Everything else (expressions, intervals, sets, tuples, LaTeX)
goes to a pool of killable worker processes running math-verify's LaTeX parser and sympy
equivalence, each check with a wall-time limit and an address-space limit.
"""
from __future__ import annotations

import os
import re
from functools import lru_cache

from verifiers.answer_extraction import (MAX_ANSWER_CHARS, AnswerTooLarge, MalformedBox,
                                         NumberLiteral, extract_answer, numbers_match,
                                         parse_number_literal)
from verifiers.verdict import Verdict, failed, from_worker_reply, right, wrong
from verifiers.worker_pool import WorkerPool

DEFAULT_TIMEOUT_S = 5.0
MAX_NESTING_DEPTH = 40  # deeper brackets are a parse_error before any parser sees them

_pool: WorkerPool | None = None


def math_pool() -> WorkerPool:
    global _pool
    if _pool is None:
        size = int(os.environ.get("VERIFIERS_MATH_WORKERS", min(2, os.cpu_count() or 1)))
        _pool = WorkerPool("verifiers._math_worker", size)
    return _pool


def reference_answer(reference: object) -> str:
    if isinstance(reference, dict):
        reference = reference.get("answer")
    if isinstance(reference, (int, float)) and not isinstance(reference, bool):
        reference = str(reference)
    if not isinstance(reference, str) or not reference.strip():
        raise ValueError(f"math reference must be an answer string or a dict with 'answer', "
                         f"got {reference!r:.80}")
    return reference.strip()


def _nesting_depth(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch in "({[":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")}]":
            depth -= 1
    return deepest


_WHITESPACE = re.compile(r"\s+")
_SPACE_BESIDE_A_SYMBOL = re.compile(r"(?<![A-Za-z0-9]) | (?![A-Za-z0-9])")


def _without_insignificant_spaces(text: str) -> str:
    """"(1, 2]" -> "(1,2]"; a space between letters or digits stays ("\\pi r" is not
    "\\pir", and "2 3" is not "23")."""
    return _SPACE_BESIDE_A_SYMBOL.sub("", _WHITESPACE.sub(" ", text.strip()))


@lru_cache(maxsize=4096)
def _reference_literal(reference: str) -> NumberLiteral | None:
    return parse_number_literal(reference)  # references repeat across a batch and across steps


def _triage(response: str, reference: str, prompt: str | None = None) -> Verdict | tuple[str, str]:
    """A final Verdict when cheap checks decide, else (answer, reference) for a worker."""
    try:
        extracted = extract_answer(response)
    except AnswerTooLarge as error:
        return failed("parse_error", str(error))
    except MalformedBox as error:
        return failed("parse_error", str(error))
    if extracted is None:
        return failed("no_answer", "no \\boxed{}, 'A:' line or number in the response")
    expected = _reference_literal(reference)
    if expected is not None:
        value_asked = bool(prompt)  # the problem is known: an expression is not its value
        got = parse_number_literal(extracted.text)
        if got is not None and (got.reduced or not value_asked):
            if not numbers_match(got, expected):
                return wrong(f"{extracted.text[:40]} != {reference[:40]}")
            return right("exact number" if got.value == expected.value else
                         "number: a decimal correctly rounded to enough significant digits")
        if value_asked:
            kind = "an unreduced fraction" if got is not None else "not a number literal"
            return wrong(f"unevaluated expression {extracted.text[:40]!r} ({kind}): the problem "
                         "asks for a value, and the answer must be that value")
    if len(reference) > MAX_ANSWER_CHARS:
        return failed("internal_error", "reference answer too long")
    if _nesting_depth(extracted.text) > MAX_NESTING_DEPTH:
        return failed("parse_error", f"answer nested deeper than {MAX_NESTING_DEPTH}")
    if _without_insignificant_spaces(extracted.text) == _without_insignificant_spaces(reference):
        return right("the reference's own expression")  # the same text parses the same: no worker
    return extracted.text, reference


def verify_math_batch(responses: list[str], references: list,
                      timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Verdict]:
    verdicts: list[Verdict | None] = [None] * len(responses)
    pending: dict[tuple[str, str], list[int]] = {}  # identical pairs are checked once
    for index, (response, reference) in enumerate(zip(responses, references, strict=True)):
        prompt = reference.get("prompt") if isinstance(reference, dict) else None
        decided = _triage(response, reference_answer(reference), prompt if isinstance(prompt, str) else None)
        if isinstance(decided, Verdict):
            verdicts[index] = decided
        else:
            pending.setdefault(decided, []).append(index)
    if pending:
        pairs = list(pending)
        replies = math_pool().run([{"answer": a, "reference": r} for a, r in pairs], timeout_s)
        for pair, reply in zip(pairs, replies):
            verdict = from_worker_reply(reply, "math check")
            for index in pending[pair]:
                verdicts[index] = verdict
    return verdicts  # type: ignore[return-value]
