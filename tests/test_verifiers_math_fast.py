"""The in-process math path: answer extraction and exact plain-number comparison."""
from __future__ import annotations

import time
from fractions import Fraction

import pytest

from verifiers import Verdict, verify, verify_batch
from verifiers.answer_extraction import extract_answer, parse_plain_number

TRAINING_RESPONSE = "we add 7+12+5\n7+12=19\n19+5=24\ncheck 19+5=24\nA: 24\n"


@pytest.mark.parametrize("response, expected_text, rule", [
    ("x \\boxed{3} then \\boxed{\\frac{1}{2}}", "\\frac{1}{2}", "boxed"),
    ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}", "boxed"),
    ("$\\boxed{42}$.", "42", "boxed"),
    ("\\boxed 7", "7", "boxed"),
    (TRAINING_RESPONSE, "24", "answer_line"),
    ("A: 3\nmore\nA: 5.", "5", "answer_line"),
    ("Answer: $x^2$", "x^2", "answer_line"),
    ("so 19+5=24", "24", "last_number"),
    ("10 - 3 leaves 7", "7", "last_number"),
    ("it is -3", "-3", "last_number"),
    ("19-5", "5", "last_number"),
    ("ratio 3/4", "3/4", "last_number"),
])
def test_extraction_prefers_last_boxed_then_answer_line_then_last_number(response, expected_text, rule):
    extracted = extract_answer(response)
    assert extracted is not None
    assert (extracted.text, extracted.rule) == (expected_text, rule)


@pytest.mark.parametrize("text, value", [
    ("24", Fraction(24)), ("-7", Fraction(-7)), ("+3", Fraction(3)), ("24.0", Fraction(24)),
    ("0.5", Fraction(1, 2)), (".5", Fraction(1, 2)), ("3/4", Fraction(3, 4)),
    ("\\frac{3}{4}", Fraction(3, 4)), ("-\\dfrac{1}{2}", Fraction(-1, 2)), ("$12$", Fraction(12)),
    ("1{,}000", Fraction(1000)),
])
def test_plain_numbers_parse_exactly(text, value):
    assert parse_plain_number(text) == value


@pytest.mark.parametrize("text", ["1e5", "1/0", "x", "2^3", "1,000", "9" * 500, "1.2.3", ""])
def test_non_plain_or_oversized_numbers_leave_the_fast_path(text):
    assert parse_plain_number(text) is None


def test_training_world_response_scores_right_and_wrong():
    assert verify("math", TRAINING_RESPONSE, "24") == Verdict(1.0, "ok", "exact number")
    assert verify("math", TRAINING_RESPONSE, "25").score == 0.0
    assert verify("math", TRAINING_RESPONSE, {"answer": "24"}).score == 1.0


@pytest.mark.parametrize("response", ["", "no digits here", "A:   \n"])
def test_response_without_answer_is_no_answer(response):
    assert verify("math", response, "24") == Verdict(0.0, "no_answer", verify("math", response, "24").detail)


def test_fast_batch_of_64_integer_answers_costs_well_under_10ms():
    responses = [TRAINING_RESPONSE.replace("24", str(n)) for n in range(64)]
    references = ["24"] * 64
    verify_batch("math", responses, references)
    started = time.perf_counter()
    for _ in range(20):
        verdicts = verify_batch("math", responses, references)
    per_batch = (time.perf_counter() - started) / 20
    assert per_batch < 0.010
    assert sum(v.score for v in verdicts) == 1.0


def test_decimal_equal_to_integer_is_right_but_rounded_fraction_is_wrong():
    assert verify("math", "A: 24.00", "24").score == 1.0
    assert verify("math", "A: 0.333", "1/3").score == 0.0
    assert verify("math", "A: 0.5", "\\frac{1}{2}").score == 1.0
