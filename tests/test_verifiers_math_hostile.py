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
# "A: 61 + 73"). Against a plain-number reference the answer must be a value.
UNEVALUATED = [  # (response, answer, prompt)
    ("A: 61 + 73", "134", "Q: Calculate 61 + 73.\n"), ("A: 61 - 36", "25", "Q: Calculate 61 - 36.\n"),
    ("A: 2*3", "6", "Q: 2*3=?\n"), ("A: 2^{3}", "8", "Q: What is 2^3?\n"), ("A: 2**3", "8", "Q: 2**3?\n"),
    ("A: 4 \\times 5", "20", "Q: 4 x 5\n"), ("A: 4 \\cdot 5", "20", "Q: 4*5\n"), ("A: 9 \\div 3", "3", "Q: 9/3\n"),
    ("A: 3 + 5 + 7", "15", "Q: 3+5+7=?\n"), ("The answer is \\boxed{10-7}", "3", "Q: Calculate 10 - 7.\n"),
    ("A: (1+2)/3", "1", "Q: (1+2)/3\n"),
]
STILL_RIGHT = [
    ("A: 134", "134", "Q: Calculate 61 + 73.\n"), ("A: -5", "-5", "Q: 2-7\n"), ("A: \\frac{12}{2}", "6", "Q: 3+3\n"),
    ("A: 50\\%", "0.5", "Q: half?\n"), ("A: x=5", "5", "Q: x+1=6\n"), ("A: x^2+2x+1", "(x+1)^2", "Q: expand (x+1)^2\n"),
    ("A: 2^{10}", "1024", "Q: How many subsets has a set of ten elements?\n"),
    ("A: 1.5 \\times 10^{3}", "1500", "Q: How many metres are 1.5 km?\n"),
    ("A: 134", "134", None),
]


@pytest.mark.parametrize("response,answer,prompt", UNEVALUATED)
def test_restating_the_problem_is_not_an_answer(response, answer, prompt):
    verdict = verify("math", response, {"answer": answer, "prompt": prompt})
    assert verdict.score == 0.0 and "unevaluated" in verdict.detail, verdict
    assert verify("math", response, answer).score == 1.0  # without the problem, a value it is


@pytest.mark.parametrize("response,answer,prompt", STILL_RIGHT)
def test_values_are_still_judged_by_value(response, answer, prompt):
    assert verify("math", response, {"answer": answer, "prompt": prompt}).score == 1.0
