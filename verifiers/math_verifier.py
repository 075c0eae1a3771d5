"""Math answers: extract, compare plain numbers exactly in-process, the rest in workers.

A plain-number reference needs a value: an answer that is arithmetic over the problem's own
numbers ("61 + 73" for "Calculate 61 + 73.", reference 134) is wrong, not "equivalent"
(the reference item's ``prompt`` says which numbers the problem gave).

Fast path (no sympy, no eval, microseconds): when both the extracted answer and the
reference are plain numbers (integer, decimal, ``a/b``, ``\\frac{a}{b}``) they are compared
exactly as fractions, so "24.0" == "24" and "0.5" == "1/2" but "0.333" != "1/3".
Everything else (expressions, intervals, sets, tuples, LaTeX) goes to a pool of killable
worker processes running math-verify's LaTeX parser and sympy equivalence, each check
with a wall-time limit and an address-space limit.
"""
from __future__ import annotations

import os
import re

from verifiers.answer_extraction import (MAX_ANSWER_CHARS, AnswerTooLarge, MalformedBox,
                                         extract_answer, parse_plain_number)
from verifiers.verdict import Verdict, failed, right, wrong
from verifiers.worker_pool import Lost, Timeout, WorkerPool

DEFAULT_TIMEOUT_S = 5.0
# A binary arithmetic operation between numbers or brackets: "61 + 73", "2*3", "2^{3}",
# "(1+2)/3", "4 \\times 5". When every number in such an answer comes from the problem
# statement, the answer restates the problem instead of solving it; sympy would evaluate it
# and call it equivalent, and RL finds that in a dozen steps (SmolLM2 learned to answer
# "Calculate 61 + 73." with "A: 61 + 73"). "2^{10}" or "1.5 \\times 10^{3}" stay values when
# the problem did not already state them.
_UNEVALUATED = re.compile(r"[0-9)}\]]\s*(?:\*\*|[-+*/^×÷]|\\times|\\cdot|\\div)\s*[-0-9({\\[]")
MAX_NESTING_DEPTH = 40  # deeper brackets are a parse_error before any parser sees them

_pool: WorkerPool | None = None


def math_pool() -> WorkerPool:
    global _pool
    if _pool is None:
        size = int(os.environ.get("VERIFIERS_MATH_WORKERS", min(2, os.cpu_count() or 1)))
        _pool = WorkerPool("verifiers._math_worker", size)
    return _pool


def reference_answer(reference) -> str:
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


_NUMBER_TOKEN = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def restates_problem(answer: str, prompt: str | None) -> bool:
    """True when ``answer`` is arithmetic over numbers that all appear in ``prompt``."""
    if not prompt or not _UNEVALUATED.search(answer):
        return False
    numbers = _NUMBER_TOKEN.findall(answer)
    return bool(numbers) and set(numbers) <= set(_NUMBER_TOKEN.findall(prompt))


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
    expected = parse_plain_number(reference)
    if expected is not None:
        got = parse_plain_number(extracted.text)
        if got is not None:
            return right("exact number") if got == expected else \
                wrong(f"{extracted.text[:40]} != {reference[:40]}")
        if restates_problem(extracted.text, prompt):
            return wrong(f"unevaluated expression {extracted.text[:40]!r} built from the problem's own "
                         "numbers: the answer must be its value")
    if len(reference) > MAX_ANSWER_CHARS:
        return failed("internal_error", "reference answer too long")
    if _nesting_depth(extracted.text) > MAX_NESTING_DEPTH:
        return failed("parse_error", f"answer nested deeper than {MAX_NESTING_DEPTH}")
    return extracted.text, reference


def _from_reply(reply) -> Verdict:
    if isinstance(reply, Timeout):
        return failed("timeout", f"math check exceeded {reply.seconds:g} s")
    if isinstance(reply, Lost):
        return failed("memory_limit" if "code -9" in reply.detail else "internal_error",
                      reply.detail)
    score = 1.0 if reply.get("score") == 1.0 and reply.get("status") == "ok" else 0.0
    return Verdict(score, reply.get("status", "internal_error"), reply.get("detail", ""))


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
            verdict = _from_reply(reply)
            for index in pending[pair]:
                verdicts[index] = verdict
    return verdicts  # type: ignore[return-value]
