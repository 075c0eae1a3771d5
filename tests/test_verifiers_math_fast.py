"""The in-process math path: answer extraction, number literals, the rounding policy."""
from __future__ import annotations

import time
from fractions import Fraction

import pytest

from verifiers import Verdict, verify, verify_batch
from verifiers.answer_extraction import extract_answer, parse_number_literal

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
    ("there are 1,000 of them", "1,000", "last_number"),
    ("**Final Answer: 24**", "24", "answer_line"),
    ("**Final Answer:** 24", "24", "answer_line"),
    ("A: **24**", "24", "answer_line"),
    ("A: \\[24\\]", "24", "answer_line"),
    ("A: $$24$$", "24", "answer_line"),
])
def test_extraction_prefers_last_boxed_then_answer_line_then_last_number(response, expected_text, rule):
    extracted = extract_answer(response)
    assert extracted is not None
    assert (extracted.text, extracted.rule) == (expected_text, rule)


@pytest.mark.parametrize("text, value", [
    ("24", Fraction(24)), ("-7", Fraction(-7)), ("+3", Fraction(3)), ("24.0", Fraction(24)),
    ("0.5", Fraction(1, 2)), (".5", Fraction(1, 2)), ("3/4", Fraction(3, 4)),
    ("\\frac{3}{4}", Fraction(3, 4)), ("-\\dfrac{1}{2}", Fraction(-1, 2)), ("$12$", Fraction(12)),
    ("1{,}000", Fraction(1000)), ("1,000", Fraction(1000)), ("1\\,000", Fraction(1000)),
    ("1 000", Fraction(1000)), ("1\u2009000", Fraction(1000)), ("1\u202f000 000", Fraction(10**6)),
    ("1e3", Fraction(1000)), ("1.5E-2", Fraction(15, 1000)), ("1.5 \\times 10^{3}", Fraction(1500)),
    ("2.5\\cdot10^{-2}", Fraction(1, 40)), ("10^{6}", Fraction(10**6)), ("3\\frac{1}{2}", Fraction(7, 2)),
    ("0.\\overline{3}", Fraction(1, 3)), ("1.2\\overline{34}", Fraction(1222, 990)),
    ("\u22125", Fraction(-5)), ("x = 5", Fraction(5)), ("61 + 73 = 134", Fraction(134)),
    ("5 \\text{ apples}", Fraction(5)), ("30^{\\circ}", Fraction(30)), ("\\$12", Fraction(12)),
    ("(134)", Fraction(134)), ("\\left( 134 \\right)", Fraction(134)), ("\\text{134}", Fraction(134)),
])
def test_number_literals_parse_exactly(text, value):
    literal = parse_number_literal(text)
    assert literal is not None and literal.value == value


@pytest.mark.parametrize("text", [
    "1/0", "x", "2^3", "9" * 500, "1.2.3", "", "1e999999999", "61 + 73", "134 = 61 + 73",
    "2 \\cdot 67", "\\sqrt{16}", "x - x + 134", "--5", "-\\frac{-1}{2}", "24 \\text{ or } 25",
    "21, 22", "1,00", "1 00", "15 \\times 10^{2}", "x \\geq 5", "x != 5", "2 pi", "3i",
    "4\x002", "4\u202e2",
])
def test_expressions_lists_and_oversized_numbers_are_not_literals(text):
    assert parse_number_literal(text) is None


@pytest.mark.parametrize("text, reduced", [("3/4", True), ("\\frac{6}{8}", False), ("\\frac{84}{12}", False),
                                           ("7/1", False), ("-\\frac{1}{2}", True), ("3\\frac{2}{4}", False)])
def test_fraction_literal_knows_whether_it_is_in_lowest_terms(text, reduced):
    assert parse_number_literal(text).reduced is reduced


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


def test_decimal_equal_to_integer_is_right_but_short_rounded_fraction_is_wrong():
    assert verify("math", "A: 24.00", "24").score == 1.0
    assert verify("math", "A: 0.333", "1/3").score == 0.0
    assert verify("math", "A: 0.5", "\\frac{1}{2}").score == 1.0
