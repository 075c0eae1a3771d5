"""Math equivalence table: expected verdicts for answers compared to references."""
from __future__ import annotations

import pytest

from verifiers import verify_batch

# (response, reference, expected score)
CASES = [
    # integers, decimals, fractions (fast path)
    ("A: 24", "24", 1.0), ("A: 24", "25", 0.0), ("A: -7", "-7", 1.0), ("A: 7", "-7", 0.0),
    ("A: 24.0", "24", 1.0), ("A: 24.5", "24", 0.0), ("A: 0.5", "1/2", 1.0),
    ("A: 1/2", "0.5", 1.0), ("A: 2/4", "1/2", 1.0), ("A: 0.333", "1/3", 0.0),
    ("\\boxed{\\frac{3}{4}}", "0.75", 1.0), ("\\boxed{\\dfrac{3}{4}}", "3/4", 1.0),
    ("\\boxed{-\\frac{1}{2}}", "-0.5", 1.0), ("\\boxed{\\frac{1}{2}}", "-0.5", 0.0),
    ("\\boxed{007}", "7", 1.0), ("\\boxed{+3}", "3", 1.0), ("the total is 42", "42", 1.0),
    ("the total is 42.", "42", 1.0), ("$\\boxed{100}$", "100", 1.0), ("\\boxed{1{,}000}", "1000", 1.0),
    ("\\boxed{10}", "100", 0.0), ("A: 3.14159", "3.14159", 1.0), ("A: 3.1416", "3.14159", 0.0),
    ("A: 1000000", "1000000", 1.0), ("A: 999999", "1000000", 0.0),
    ("\\boxed{3} but then \\boxed{5}", "5", 1.0), ("\\boxed{3} but then \\boxed{5}", "3", 0.0),
    ("A: 5\nA: 6", "6", 1.0), ("A: 5\nA: 6", "5", 0.0),
    # digit groups, scientific notation, markup around the answer line, rounding (issue 16)
    ("A: 1\\,000", "1000", 1.0), ("A: 1 000", "1000", 1.0), ("A: 1e3", "1000", 1.0),
    ("A: 1.5e3", "1500", 1.0), ("A: 1.5e3", "1501", 0.0), ("**Final Answer: 24**", "24", 1.0),
    ("A: \\[24\\]", "24", 1.0), ("\\boxed{0.333333}", "1/3", 1.0), ("\\boxed{x = 0.333333}", "1/3", 1.0),
    ("\\boxed{x = 0.333}", "1/3", 0.0), ("\\boxed{0.\\overline{3}}", "1/3", 1.0), ("A: 0.666666", "2/3", 0.0),
    ("\\boxed{\\{0.333333, 1\\}}", "\\{\\frac{1}{3}, 1\\}", 1.0), ("\\boxed{x = 0.0000004}", "0", 0.0),
    # numbers through the general path
    ("\\boxed{1,000}", "1000", 1.0), ("\\boxed{2^{10}}", "1024", 1.0), ("\\boxed{2^{10}}", "1000", 0.0),
    ("\\boxed{\\sqrt{16}}", "4", 1.0), ("\\boxed{\\sqrt{2}}", "1.41421356", 1.0),
    ("\\boxed{50\\%}", "0.5", 1.0), ("\\boxed{\\frac{6}{8}}", "\\frac{3}{4}", 1.0),
    ("\\boxed{3\\frac{1}{2}}", "\\frac{7}{2}", 1.0), ("\\boxed{1.5 \\times 10^{3}}", "1500", 1.0),
    ("\\boxed{e^{0}}", "1", 1.0), ("\\boxed{\\pi}", "3.14", 0.0),
    # expressions
    ("\\boxed{x^2+2x+1}", "(x+1)^2", 1.0), ("\\boxed{x^2+2x}", "(x+1)^2", 0.0),
    ("\\boxed{\\frac{1}{\\sqrt{2}}}", "\\frac{\\sqrt{2}}{2}", 1.0), ("\\boxed{2\\pi}", "2\\pi", 1.0),
    ("\\boxed{\\pi r^2}", "r^2\\pi", 1.0), ("\\boxed{\\sin^2 x + \\cos^2 x}", "1", 1.0),
    ("\\boxed{\\frac{x}{2}}", "0.5x", 1.0), ("\\boxed{2x+3}", "3+2x", 1.0),
    ("\\boxed{2x+3}", "2x-3", 0.0), ("\\boxed{\\sqrt{8}}", "2\\sqrt{2}", 1.0),
    ("\\boxed{\\sqrt{8}}", "3\\sqrt{2}", 0.0), ("\\boxed{\\log_2 8}", "3", 1.0),
    ("\\boxed{a+b}", "b+a", 1.0), ("\\boxed{ab}", "a+b", 0.0), ("\\boxed{\\frac{a}{b}}", "a/b", 1.0),
    ("\\boxed{x}", "y", 0.0), ("\\boxed{\\infty}", "\\infty", 1.0), ("\\boxed{-\\infty}", "\\infty", 0.0),
    ("\\boxed{3x}", "x3", 1.0), ("\\boxed{\\binom{5}{2}}", "10", 1.0), ("\\boxed{5!}", "120", 1.0),
    ("\\boxed{\\frac{\\pi}{2}}", "\\frac{\\pi}{2}", 1.0), ("\\boxed{\\frac{\\pi}{3}}", "\\frac{\\pi}{2}", 0.0),
    ("\\boxed{\\sqrt{x^2}}", "|x|", 1.0), ("\\boxed{\\frac{2}{3}x}", "\\frac{2x}{3}", 1.0),
    ("\\boxed{(x-1)(x+1)}", "x^2-1", 1.0), ("\\boxed{(x-1)(x+2)}", "x^2-1", 0.0),
    # equations
    ("\\boxed{x=5}", "5", 1.0), ("\\boxed{x=5}", "6", 0.0), ("\\boxed{y=2x+1}", "y=1+2x", 1.0),
    # intervals
    ("\\boxed{(1,2]}", "(1,2]", 1.0), ("\\boxed{(1,2)}", "(1,2]", 0.0), ("\\boxed{[0,1)}", "[0,1)", 1.0),
    ("\\boxed{[0,1]}", "[0,1)", 0.0), ("\\boxed{(-\\infty, 3)}", "(-\\infty,3)", 1.0),
    ("\\boxed{(-\\infty,3)\\cup(4,\\infty)}", "(-\\infty, 3) \\cup (4, \\infty)", 1.0),
    ("\\boxed{(-\\infty,3)\\cup(5,\\infty)}", "(-\\infty, 3) \\cup (4, \\infty)", 0.0),
    ("\\boxed{[2, 5]}", "[2,5]", 1.0), ("\\boxed{[2, 6]}", "[2,5]", 0.0),
    # sets
    ("\\boxed{\\{1,2,3\\}}", "\\{3,2,1\\}", 1.0), ("\\boxed{\\{1,2\\}}", "\\{1,2,3\\}", 0.0),
    ("\\boxed{\\{1,2,4\\}}", "\\{1,2,3\\}", 0.0), ("A: \\{-1, 1\\}", "\\{1,-1\\}", 1.0),
    ("\\boxed{1, 2, 3}", "3, 2, 1", 1.0), ("\\boxed{\\{\\frac{1}{2}, 2\\}}", "\\{0.5, 2\\}", 1.0),
    ("\\boxed{\\emptyset}", "\\emptyset", 1.0), ("\\boxed{\\{0\\}}", "\\emptyset", 0.0),
    # tuples / points
    ("\\boxed{(1, 2)}", "(1,2)", 1.0), ("\\boxed{(2, 1)}", "(1,2)", 0.0),
    ("\\boxed{(1, 2, 3)}", "(1,2,3)", 1.0), ("\\boxed{(1, 2, 4)}", "(1,2,3)", 0.0),
    ("\\boxed{(\\frac{1}{2}, 3)}", "(0.5, 3)", 1.0), ("\\boxed{(-1, 0)}", "(-1,0)", 1.0),
    # matrices
    ("\\boxed{\\begin{pmatrix}1\\\\2\\end{pmatrix}}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", 1.0),
    ("\\boxed{\\begin{pmatrix}1\\\\3\\end{pmatrix}}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", 0.0),
    # text answers / noise
    ("\\boxed{\\text{5}}", "5", 1.0), ("\\boxed{5 \\text{ apples}}", "5", 1.0),
    ("\\boxed{\\text{six}}", "6", 0.0), ("A: twenty-four", "24", 0.0),
    # reference given as an item dict
    ("A: 12", {"answer": "12"}, 1.0), ("\\boxed{\\frac{1}{3}}", {"answer": "\\frac{2}{6}"}, 1.0),
    ("A: 13", {"answer": "12"}, 0.0),
]


def test_math_table_has_at_least_100_cases():
    assert len(CASES) >= 100


@pytest.fixture(scope="module")
def table_verdicts():
    return verify_batch("math", [c[0] for c in CASES], [c[1] for c in CASES], timeout_s=10)


@pytest.mark.parametrize("index", range(len(CASES)),
                         ids=[f"{c[0][:30]}~{str(c[1])[:20]}" for c in CASES])
def test_math_equivalence_matches_expected_verdict(index, table_verdicts):
    response, reference, expected = CASES[index]
    verdict = table_verdicts[index]
    assert verdict.score == expected, (response, reference, verdict)
    if expected == 1.0:
        assert verdict.status == "ok"
