"""Hostile math answers: each returns within twice the timeout with a verdict that is not
"right", nothing in them is executed, and the math workers keep serving afterwards."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from verifiers import verify, verify_batch
from verifiers.math_verifier import math_pool

TIMEOUT_S = 2.0
MARKER = "/tmp/verifiers_math_hostile_marker"
MEGA = 10 * 1024 * 1024

# id -> (response, reference)
HOSTILE = {
    "power_tower_latex": ("\\boxed{10^{10^{10^{10}}}}", "5"),
    "power_tower_python": ("A: 10**10**10**10", "5"),
    "power_tower_nines": ("\\boxed{9^{9^{9^{9}}}}", "9"),
    "power_tower_twos": ("\\boxed{2^{2^{2^{2^{2^{2}}}}}}", "4"),
    "negative_power_tower": ("\\boxed{10^{-10^{10}}}", "0"),
    "huge_factorial": ("\\boxed{100000000!}", "1"),
    "nested_factorial": ("\\boxed{((10!)!)!}", "1"),
    "huge_sum": ("\\boxed{\\sum_{n=1}^{10^{12}} n^{n}}", "1"),
    "huge_product": ("\\boxed{\\prod_{k=1}^{10^{9}} k}", "1"),
    "hard_integral": ("\\boxed{\\int_0^1 e^{x^{100000}} \\, dx}", "1"),
    "symbol_tower": ("\\boxed{x^{x^{x^{x^{x^{x^{x}}}}}}}", "x"),
    "ten_mb_response_of_digits": ("1" * MEGA, "1"),
    "ten_mb_inside_boxed": ("\\boxed{" + "1" * MEGA + "}", "1"),
    "ten_mb_answer_line": ("A: " + "9" * MEGA, "9"),
    "ten_mb_of_open_parens": ("(" * MEGA, "1"),
    "many_answer_lines": ("A: 1\n" * 300_000, "2"),
    "hundred_thousand_digit_answer": ("\\boxed{" + "7" * 100_000 + "}", "7"),
    "deep_paren_nesting": ("\\boxed{" + "(" * 5000 + "1" + ")" * 5000 + "}", "2"),
    "deep_brace_nesting": ("\\boxed{" + "{" * 3000 + "1" + "}" * 3000 + "}", "2"),
    "deep_frac_nesting": ("\\boxed{" + "\\frac{1}{" * 500 + "2" + "}" * 500 + "}", "2"),
    "unclosed_boxed": ("\\boxed{\\frac{1}{2", "0.5"),
    "empty_frac": ("\\boxed{\\frac{}{}}", "1"),
    "bare_sqrt": ("\\boxed{\\sqrt}", "1"),
    "unbalanced_left_right": ("\\boxed{\\left( 1, 2 \\right.}", "(1,2)"),
    "empty_boxed": ("\\boxed{}", "1"),
    "macro_definition": ("\\def\\x{24}\\boxed{\\x}", "24"),
    "matrix_garbage": ("\\boxed{" + "\\begin{matrix}" * 200 + "}", "1"),
    "several_boxed_last_wrong": ("\\boxed{24} \\boxed{25}", "24"),
    "several_answer_lines_last_wrong": ("A: 24\nA: 25", "24"),
    "hedge_list_of_answers": ("\\boxed{21, 22, 23, 24, 25}", "24"),
    "hedge_with_or": ("A: 23 or 24", "24"),
    "hedge_interval_around_answer": ("\\boxed{[0, 100]}", "24"),
    "python_import_in_boxed": (f"\\boxed{{__import__('os').system('touch {MARKER}')}}", "0"),
    "python_eval_in_answer_line": (f"A: eval(\"open('{MARKER}', 'w')\")", "1"),
    "python_exec_exit": ("A: exec(\"import os; os._exit(1)\")", "1"),
    "python_lambda_call": ("A: (lambda: 2)()", "2"),
    "python_getattr_chain": ("\\boxed{x=().__class__.__bases__[0].__subclasses__()}", "1"),
    "latex_input_file": ("\\boxed{\\input{/etc/passwd}}", "1"),
    "huge_exponent_float": ("\\boxed{1e999999999}", "1"),
    "division_by_zero": ("\\boxed{\\frac{1}{0}}", "1"),
    "null_bytes_and_bidi": ("\\boxed{4\x00\u202e2}", "42"),
    "whole_real_line": ("\\boxed{\\mathbb{R}}", "24"),
    # Rounding neighbours: math-verify rounds to 6 decimal places on its own paths, so a
    # decimal in "x = ..." or in a set used to pass where the bare decimal did not.
    "tiny_decimal_for_zero_in_assignment": ("\\boxed{x = 0.0000004}", "0"),
    "tiny_decimal_for_zero_in_set": ("\\boxed{\\{0.0000004, 1\\}}", "\\{0, 1\\}"),
    "tiny_decimal_for_zero_in_interval": ("\\boxed{(0.0000004, 1)}", "(0, 1)"),
    "last_digit_rounded_wrong_in_assignment": ("\\boxed{x = 0.333334}", "\\frac{1}{3}"),
    "last_digit_rounded_wrong_in_tuple": ("\\boxed{(0.333334, 1)}", "(\\frac{1}{3}, 1)"),
    "truncated_not_rounded": ("A: 0.666666", "\\frac{2}{3}"),
    "five_significant_digits": ("A: x = 0.33333", "\\frac{1}{3}"),
    "decimal_a_hair_off_an_integer": ("\\boxed{24.0000001}", "24"),
    "decimal_a_hair_off_an_integer_in_set": ("\\boxed{\\{24.0000001, 1\\}}", "\\{24, 1\\}"),
    "answer_line_ending_in_a_million_stars": ("A: 24" + "*" * 900_000, "25"),
    "answer_line_of_stars_and_underscores": ("A: " + "*_" * 400_000 + "24", "25"),
    # Length: the cap is 8,000 chars; above it a parse_error, below it the worker's timeout.
    "answer_just_over_the_length_cap": ("\\boxed{" + "x+" * 4000 + "x}", "x"),
    "long_sum_just_under_the_length_cap": ("\\boxed{" + "+".join(["1"] * 3990) + "}", "1"),
    "long_polynomial_just_under_the_length_cap": (
        "\\boxed{" + "+".join(f"{k}x^{{{k}}}" for k in range(1, 900))[:7990] + "}", "x"),
}


@pytest.fixture(scope="module", autouse=True)
def warm_math_pool():
    math_pool().warm()
    if os.path.exists(MARKER):
        os.remove(MARKER)


def test_there_are_at_least_30_hostile_math_inputs():
    assert len(HOSTILE) >= 30


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_math_answer_is_not_right_and_returns_within_twice_the_timeout(case):
    response, reference = HOSTILE[case]
    started = time.monotonic()
    verdict = verify("math", response, reference, timeout_s=TIMEOUT_S)
    elapsed = time.monotonic() - started
    assert verdict.score == 0.0, verdict
    assert elapsed < 2 * TIMEOUT_S, (elapsed, verdict)


def test_hostile_math_answers_execute_nothing():
    verify_batch("math", [HOSTILE[c][0] for c in ("python_import_in_boxed", "python_eval_in_answer_line")],
                 ["0", "1"], timeout_s=TIMEOUT_S)
    assert not os.path.exists(MARKER)


def test_oversized_inputs_are_parse_errors_without_touching_a_worker():
    started = time.monotonic()
    verdicts = verify_batch("math", [HOSTILE["ten_mb_response_of_digits"][0],
                                     HOSTILE["ten_mb_inside_boxed"][0],
                                     HOSTILE["deep_paren_nesting"][0]], ["1", "1", "2"])
    assert [v.status for v in verdicts] == ["parse_error"] * 3
    assert time.monotonic() - started < 0.5


def test_power_tower_is_a_timeout_not_a_hang():
    verdict = verify("math", HOSTILE["power_tower_latex"][0], "5", timeout_s=1.0)
    assert verdict.status in ("timeout", "memory_limit", "ok", "parse_error")
    assert verdict.score == 0.0


def test_math_workers_keep_serving_after_hostile_inputs():
    verdicts = verify_batch("math", ["\\boxed{x^2+2x+1}", "\\boxed{\\{1,2\\}}", "A: 24"],
                            ["(x+1)^2", "\\{2,1\\}", "24"], timeout_s=10)
    assert [v.score for v in verdicts] == [1.0, 1.0, 1.0]


def test_math_worker_refuses_sympy_eval_of_code():
    # Run in a child: the guard patches sympy process-wide, as it does in each worker.
    code = ("from verifiers import _math_worker as w; w._install_guards(); import sympy\n"
            "try:\n    sympy.sympify(\"__import__('os').getpid()\")\n"
            "except Exception as error:\n    print('refused', type(error).__name__)\n"
            "else:\n    print('EVALUATED')\n"
            "print(sympy.sympify('12'), sympy.sympify('x'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0].startswith("refused"), result.stdout
    assert result.stdout.split("\n")[1] == "12 x"


# Restating the problem as its own answer: sympy evaluates "61 + 73" to 134, so an equivalence
# check calls it right. RL found this within 12 steps on SmolLM2-135M ("Calculate 61 + 73." ->
# "A: 61 + 73"), and then its neighbours: "+ 0", leading zeros, "61.0", thin spaces. The rule
# is about what the answer is: when the problem is known and its reference is a number, the
# answer must be a number literal; any expression over numbers is unevaluated, whoever's
# operands it uses. Decided (and changed from earlier versions of this file): "2^{10}" for
# 1024 and "\frac{12}{2}" for 6 are unevaluated too, since "4^5" or "\frac{168}{24}" would be
# as cheap a neighbour of "Calculate 2^10." / "Calculate 84/12." as the restatement itself.
SUM = "Q: Calculate 61 + 73.\n"
QUOTIENT = "Q: Calculate 84/12.\n"
PRODUCT = "Q: Calculate 6 \u00d7 7.\n"
UNEVALUATED = [  # (response, answer, prompt)
    ("A: 61 + 73", "134", "Q: Calculate 61 + 73.\n"), ("A: 61 - 36", "25", "Q: Calculate 61 - 36.\n"),
    ("A: 2*3", "6", "Q: 2*3=?\n"), ("A: 2^{3}", "8", "Q: What is 2^3?\n"), ("A: 2**3", "8", "Q: 2**3?\n"),
    ("A: 4 \\times 5", "20", "Q: 4 x 5\n"), ("A: 4 \\cdot 5", "20", "Q: 4*5\n"), ("A: 9 \\div 3", "3", "Q: 9/3\n"),
    ("A: 3 + 5 + 7", "15", "Q: 3+5+7=?\n"), ("The answer is \\boxed{10-7}", "3", "Q: Calculate 10 - 7.\n"),
    ("A: (1+2)/3", "1", "Q: (1+2)/3\n"),
    ("A: \\frac{12}{2}", "6", "Q: 3+3\n"),
    ("A: 2^{10}", "1024", "Q: How many subsets has a set of ten elements?\n"),
]
# Every spelling of the same class, as RL would try them next.
UNEVALUATED_SPELLINGS = {
    "fraction": [("A: 84/12", "7", QUOTIENT), ("A: \\frac{84}{12}", "7", QUOTIENT),
                 ("\\boxed{\\dfrac{84}{12}}", "7", QUOTIENT), ("A: \\tfrac{84}{12}", "7", QUOTIENT),
                 ("A: 84 / 12", "7", QUOTIENT), ("A: \\frac{168}{24}", "7", QUOTIENT),
                 ("A: \\frac{7}{1}", "7", QUOTIENT), ("A: 84 \\div 12", "7", QUOTIENT),
                 ("A: \\frac{84}{12}", "7", None)],
    "identity_operand": [("A: 61 + 73 + 0", "134", SUM), ("A: 0 + 61 + 73", "134", SUM),
                         ("A: 61 + 73 - 0", "134", SUM), ("A: (61 + 73) \\cdot 1", "134", SUM),
                         ("A: (61 + 73)^{1}", "134", SUM), ("A: 134 + 0", "134", SUM),
                         ("A: 134 \\cdot 1", "134", SUM), ("A: 134^1", "134", SUM), ("A: 1 \\cdot 134", "134", SUM)],
    "whitespace": [("A: 61 \\, + \\, 73", "134", SUM), ("A: 61\\;+\\;73", "134", SUM),
                   ("A: 61~+~73", "134", SUM), ("A: 61\u2009+\u200973", "134", SUM),
                   ("A: 61\u00a0+\u00a073", "134", SUM), ("A: 61\\!+\\!73", "134", SUM),
                   ("A: 61\\quad+\\quad73", "134", SUM), ("A: 61+73", "134", SUM)],
    "zeros": [("A: 061 + 073", "134", SUM), ("A: 0061 + 73", "134", SUM), ("A: 61.00 + 73", "134", SUM)],
    "decimals": [("A: 61.0 + 73", "134", SUM), ("A: 61.0 + 73.0", "134", SUM), ("A: 6.1 \\cdot 10 + 73", "134", SUM),
                 ("A: 0.5 \\cdot 268", "134", SUM)],
    "unary_plus_and_minus": [("A: +61 + +73", "134", SUM), ("A: 61 - (-73)", "134", SUM),
                             ("A: 61 - -73", "134", SUM), ("A: -(-61 - 73)", "134", SUM), ("A: +(61 + 73)", "134", SUM)],
    "multiplication_signs": [("A: 6 \\cdot 7", "42", PRODUCT), ("A: 6 * 7", "42", PRODUCT),
                             ("A: 6 \\times 7", "42", PRODUCT), ("A: 6 \u00d7 7", "42", PRODUCT),
                             ("A: 6 \u00b7 7", "42", PRODUCT), ("A: 6 \\ast 7", "42", PRODUCT),
                             ("A: (6)(7)", "42", PRODUCT)],
    "brackets": [("A: (61) + (73)", "134", SUM), ("A: (61 + 73)", "134", SUM), ("A: [61 + 73]", "134", SUM),
                 ("A: {61 + 73}", "134", SUM), ("A: \\left(61 + 73\\right)", "134", SUM),
                 ("\\boxed{\\left[61+73\\right]}", "134", SUM), ("A: ((61)) + 73", "134", SUM)],
    "other_operands": [("A: 60 + 1 + 73", "134", SUM), ("A: 61 + 72 + 1", "134", SUM), ("A: 2 \\cdot 67", "134", SUM),
                       ("A: 268/2", "134", SUM), ("A: \\frac{268}{2}", "134", SUM), ("A: 100 + 34", "134", SUM),
                       ("A: \\sqrt{17956}", "134", SUM), ("A: 4^5", "1024", "Q: Calculate 2^10.\n")],
    "wrapped_in_words_or_symbols": [("A: x = 61 + 73", "134", SUM), ("A: 134 = 61 + 73", "134", SUM),
                                    ("A: x - x + 134", "134", SUM), ("A: 61 + 73 \\text{ apples}", "134", SUM),
                                    ("A: \\$61 + \\$73", "134", SUM), ("A: 61 + 73\\%", "134", SUM),
                                    ("\\boxed{x = 61 + 73}", "134", SUM), ("Answer: $61+73$", "134", SUM)],
}
ALL_SPELLINGS = [case for cases in UNEVALUATED_SPELLINGS.values() for case in cases if case[2] is not None]
STILL_RIGHT = [
    ("A: 134", "134", "Q: Calculate 61 + 73.\n"), ("A: -5", "-5", "Q: 2-7\n"), ("A: \\frac{7}{2}", "3.5", "Q: 7/2\n"),
    ("A: 50\\%", "0.5", "Q: half?\n"), ("A: x=5", "5", "Q: x+1=6\n"), ("A: x^2+2x+1", "(x+1)^2", "Q: expand (x+1)^2\n"),
    ("A: 1.5 \\times 10^{3}", "1500", "Q: How many metres are 1.5 km?\n"),
    ("A: 134", "134", None), ("A: 134.0", "134", SUM), ("A: 0134", "134", SUM), ("A: +134", "134", SUM),
    ("A: 134 \\text{ apples}", "134", SUM), ("A: 1.34 \\times 10^{2}", "134", SUM), ("A: 1.34e2", "134", SUM),
    ("A: (134)", "134", SUM), ("A: 61 + 73 = 134", "134", SUM), ("\\boxed{134}", "134", SUM),
    ("A: 3\\frac{1}{2}", "7/2", "Q: 7/2\n"), ("A: 0.\\overline{3}", "\\frac{1}{3}", "Q: 1/3\n"),
    ("A: 0.333333", "\\frac{1}{3}", "Q: 1/3\n"), ("A: 1\\,000", "1000", "Q: 10^3\n"), ("A: 1 000", "1000", "Q: 10^3\n"),
    ("A: 1e3", "1000", "Q: 10^3\n"), ("\\boxed{\\frac{-1}{2}}", "-0.5", "Q: -1/2\n"), ("A: 30^\\circ", "30", "Q: angle?\n"),
]


def test_restatement_suite_covers_each_spelling_class_several_times():
    assert all(len(cases) >= 3 for cases in UNEVALUATED_SPELLINGS.values())
    assert len(ALL_SPELLINGS) >= 60


@pytest.mark.parametrize("response,answer,prompt", UNEVALUATED + ALL_SPELLINGS)
def test_restating_the_problem_is_not_an_answer(response, answer, prompt):
    verdict = verify("math", response, {"answer": answer, "prompt": prompt})
    assert verdict.score == 0.0 and "unevaluated" in verdict.detail, verdict


def test_restatements_equal_the_reference_by_value_so_the_rule_is_what_rejects_them():
    # Without the problem the verifier judges by value: each restatement here is worth the
    # reference, so the rejections above come from the rule and not from a wrong value.
    cases = UNEVALUATED + ALL_SPELLINGS
    verdicts = verify_batch("math", [c[0] for c in cases], [c[1] for c in cases], timeout_s=10)
    by_value = {case[0] for case, verdict in zip(cases, verdicts) if verdict.score == 1.0}
    not_by_value = [case[0] for case in cases if case[0] not in by_value]
    # math-verify reads these few otherwise; the rule rejects them all the same.
    assert set(not_by_value) <= {"A: \\$61 + \\$73", "A: 61 + 73\\%", "A: (6)(7)", "A: 6 \\ast 7"}, not_by_value


@pytest.mark.parametrize("response,answer,prompt", UNEVALUATED_SPELLINGS["fraction"][-1:])
def test_unreduced_fraction_is_a_value_when_the_problem_is_not_given(response, answer, prompt):
    assert verify("math", response, answer).score == 1.0


@pytest.mark.parametrize("response,answer,prompt", STILL_RIGHT)
def test_values_are_still_judged_by_value(response, answer, prompt):
    reference = {"answer": answer, "prompt": prompt} if prompt else answer
    assert verify("math", response, reference, timeout_s=10).score == 1.0
