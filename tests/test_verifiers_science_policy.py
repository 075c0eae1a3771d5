"""Science policy, one class per test: what a choice answer is, what kind of quantity may
answer what, how a ratio reference reads a bare number, and how far the tolerance reaches.

Each table holds several spellings of one class, so a fix by spelling fails here.
"""
from __future__ import annotations

import math

import pytest

from verifiers import verify, verify_batch
from verifiers._science_worker import (MAX_UNIT_EXPONENT, canonical_unit_name, parse_quantity,
                                       parse_unit_factors, unit_registry)
from verifiers.science_verifier import science_pool, science_reference


@pytest.fixture(scope="module", autouse=True)
def warm_science_pool():
    science_pool().warm()


def _scores(pairs: list[tuple[str, object]]) -> list[float]:
    verdicts = verify_batch("science", [r for r, _ in pairs], [ref for _, ref in pairs])
    return [v.score for v in verdicts]


# --- multiple choice -------------------------------------------------------------------

CHOICE_IS_THE_ANSWER = [  # (response, reference): each is the choice C (or the named letter)
    ("A: c", "C"), ("A: (c)", "C"), ("A: e", "E"), ("A: a", "A"),
    ("A: **C**", "C"), ("**Answer:** C", "C"), ("A: *C*", "C"), ("A: $C$", "C"),
    ("A: \\text{C}", "C"), ("A: \\textbf{C}", "C"), ("\\boxed{\\text{(C)}}", "C"),
    ("\\boxed{\\textbf{c}}", "C"),
    ("A: The answer is C", "C"), ("A: the correct answer is (C).", "C"), ("A: Option C", "C"),
    ("A: answer: C", "C"), ("A: Choice D", "D"), ("A: So the answer is B", "B"),
    ("A: [C]", "C"), ("A: C)", "C"), ("A: C.", "C"),
    ("A: C) 36 m", "C"), ("A: (C) 36 m", "C"), ("A: C. 36 m", "C"), ("A: C: 36 m", "C"),
    ("A: C 36 m", "C"), ("A: C is correct", "C"),
    ("A: D) 5 C", "D"),      # option text holding a unit that is also a letter (coulomb)
    ("The answer is (C).", "C"), ("so the answer is **C** because", "C"),
    ("Therefore the answer would be D", "D"), ("the answer is: \\boxed{B}", "B"),
]


@pytest.mark.parametrize("response, reference", CHOICE_IS_THE_ANSWER,
                         ids=[c[0][:30] for c in CHOICE_IS_THE_ANSWER])
def test_a_letter_that_is_the_whole_answer_is_read_in_any_spelling(response, reference):
    verdict = verify("science", response, reference)
    assert (verdict.score, verdict.status) == (1.0, "ok"), verdict


LETTER_INSIDE_WORDS = [  # the reference is the letter that a loose reader would pull out
    ("A: E.g. C", "E"), ("A: e.g. c", "E"), ("A: E.g.", "E"), ("A: Each", "E"),
    ("A: Energy", "E"), ("\\boxed{Energy}", "E"), ("A: A bit of both", "A"),
    ("A: Definitely", "D"), ("A: Clearly", "C"), ("A: Because of B", "B"),
    ("A: ABCDE", "A"), ("A: Be careful", "B"), ("A: I think C", "C"),
    ("A: Based on the figure", "B"), ("A: Either way", "E"),
    ("A: A lot more than C", "A"), ("A: B vitamins", "B"), ("A: E is the energy", "E"),
    ("A: a priori C", "A"), ("A: C seems likely", "C"),
]


@pytest.mark.parametrize("response, reference", LETTER_INSIDE_WORDS,
                         ids=[c[0][:30] for c in LETTER_INSIDE_WORDS])
def test_a_letter_is_never_pulled_out_of_words(response, reference):
    verdict = verify("science", response, reference)
    assert verdict.score == 0.0, verdict
    assert verdict.status == "parse_error", verdict


HEDGES = [  # (response, reference): the reference is among the letters named
    ("A: C or D", "C"), ("A: C or D", "D"), ("A: C, D", "D"), ("A: C/D", "C"),
    ("A: C and D", "C"), ("A: (C) (D)", "C"), ("A: both C and D", "D"),
    ("A: either C or D", "C"), ("A: A, B, C, D, E", "E"), ("A: c or d", "C"),
    ("A: (C) 5 m or (D) 4 m", "C"), ("A: C) 5 m, D) 4 m", "C"), ("A: C. D", "C"),
    ("\\boxed{C \\text{ or } D}", "C"), ("The answer is C or D.", "C"),
    ("the answer is (D), (C)", "C"),
]


@pytest.mark.parametrize("response, reference", HEDGES, ids=[c[0][:30] for c in HEDGES])
def test_naming_several_letters_is_wrong(response, reference):
    verdict = verify("science", response, reference)
    assert (verdict.score, verdict.status) == (0.0, "ok"), verdict
    assert "hedge" in verdict.detail


def test_prose_reads_only_upper_case_letters_after_answer_is():
    # lower-case "a" and "e" in prose are an article and Euler's number, not choices
    pairs = [("I'd say the answer is a bit more than 3", "A"), ("the answer is e", "E"),
             ("the answer is e^2", "E"), ("Option A looks right", "A")]
    assert [v.status for v in verify_batch("science", [p[0] for p in pairs],
                                           [p[1] for p in pairs])] == ["no_answer"] * 4


def test_the_last_answer_phrase_in_prose_wins():
    assert _scores([("The answer is C. No wait, the answer is D.", "D"),
                    ("The answer is C. No wait, the answer is D.", "C")]) == [1.0, 0.0]


# --- kinds of quantity ------------------------------------------------------------------

WRONG_KIND = [  # (response, reference): same number under pint, another kind of quantity
    ("A: 28.65 degree", "0.5"), ("A: 28.65°", "0.5"), ("A: 28.65^\\circ", "0.5"),
    ("A: 0.5 rad", "0.5"), ("A: 1718.9 arcmin", "0.5"), ("A: 0.0796 turn", "0.5"),
    ("A: 0.5 sr", "0.5"), ("A: 50 degree", "50 %"), ("A: 0.5 rad", "50 %"),
    ("A: 6.28 rad/s", "6.28 Hz"), ("A: 6.28 Hz", "6.28 rad/s"), ("A: 1 bit", "1"),
    ("A: 3000 m", "3000"), ("A: 50 m", "50 %"), ("A: 3 km", "3000"),
    ("A: 1 pi", "3.14159"), ("A: 0.5 pi", "50 %"),   # a constant is not a unit of a number
    ("A: 9.8 m/s", "9.8 m/s^2"), ("A: 9.8 m s", "9.8 m/s^2"),
]


@pytest.mark.parametrize("response, reference", WRONG_KIND,
                         ids=[f"{c[0][3:24]}~{c[1]}" for c in WRONG_KIND])
def test_an_answer_of_another_kind_of_quantity_is_wrong(response, reference):
    verdict = verify("science", response, reference)
    assert (verdict.score, verdict.status) == (0.0, "ok"), verdict


def test_pint_alone_would_accept_the_wrong_kinds():
    """The wrong-kind table is not vacuous: pint converts each of these to the reference."""
    registry = unit_registry()
    assert math.isclose(registry.Quantity(28.65, "degree").to("dimensionless").magnitude,
                        0.5, rel_tol=1e-2)
    assert math.isclose(registry.Quantity(6.28, "rad/s").to("Hz").magnitude, 6.28)
    assert math.isclose(registry.Quantity(1, "pi").to("dimensionless").magnitude, math.pi)


SAME_KIND = [
    ("A: 0.5236 rad", "30 degree"), ("A: 30°", "0.5236 rad"), ("A: 30^\\circ", "30 degree"),
    ("A: 30^{\\circ}", "30 degree"), ("A: 1800 arcmin", "30 degree"), ("A: 0.25 turn", "90 deg"),
    ("A: 25 °C", "298.15 K"), ("A: 25^\\circ C", "298.15 K"), ("A: 77 °F", "25 degC"),
    ("A: 60 min", "1 h"), ("A: 3.6 km/h", "1 m/s"), ("A: 1 c", "299792458 m/s"),
    ("A: 2 pi rad", "360 degree"),
]


@pytest.mark.parametrize("response, reference", SAME_KIND,
                         ids=[f"{c[0][3:24]}~{c[1]}" for c in SAME_KIND])
def test_an_answer_of_the_same_kind_is_converted_and_compared(response, reference):
    verdict = verify("science", response, reference)
    assert (verdict.score, verdict.status) == (1.0, "ok"), verdict


def test_a_reference_with_a_unit_needs_one_in_the_answer():
    assert _scores([("A: 30", "30 degree"), ("A: 0.5236", "0.5236 rad"),
                    ("A: 9.8", "9.8 m/s^2"), ("A: 25", "25 degC")]) == [0.0] * 4


# --- ratio references ("50 %") ----------------------------------------------------------

RATIO_RIGHT = [  # (response, reference)
    ("A: 50", "50 %"), ("A: 0.5", "50 %"), ("A: 50%", "50 %"), ("A: 50 \\%", "50 %"),
    ("A: 500 permille", "50 %"), ("A: 500000 ppm", "50 %"), ("A: 50 percent", "50 %"),
    ("A: 0.5", "0.5 %"), ("A: 0.005", "0.5 %"), ("A: 1", "100 %"), ("A: 100", "100 %"),
    ("A: 12.5%", "0.125"), ("A: 12.5 \\%", "0.125"), ("A: 2", "2 permille"),
    ("A: 0.002", "2 permille"), ("A: 50", {"answer": "50 %", "rel_tol": 0.0}),
]


@pytest.mark.parametrize("response, reference", RATIO_RIGHT,
                         ids=[f"{c[0][3:20]}~{c[1]}" for c in RATIO_RIGHT])
def test_a_ratio_is_right_as_its_figure_its_fraction_or_in_a_ratio_unit(response, reference):
    verdict = verify("science", response, reference)
    assert (verdict.score, verdict.status) == (1.0, "ok"), verdict


def test_a_ratio_is_wrong_when_neither_reading_matches():
    # 5 and 0.05 are the figure and fraction of 5 %, not of 50 %; 12.5 is not the number 0.125
    assert _scores([("A: 5", "50 %"), ("A: 0.05", "50 %"), ("A: 5000 ppm", "50 %"),
                    ("A: 12.5", "0.125"), ("A: 50%", "50")]) == [0.0] * 5


# --- tolerance --------------------------------------------------------------------------

def test_tolerance_is_relative_to_the_reference_not_to_the_answer():
    # |1.9 - 1| = 0.9 > 0.5 * 1; math.isclose (relative to the larger) would accept 1.9
    assert math.isclose(1.9, 1.0, rel_tol=0.5)
    reference = {"answer": "1 m", "rel_tol": 0.5}
    assert _scores([("A: 1.9 m", reference), ("A: 1.5 m", reference),
                    ("A: 0.5 m", reference), ("A: 0.49 m", reference)]) == [0.0, 1.0, 1.0, 0.0]


def test_tolerance_is_applied_in_the_reference_unit():
    reference = {"answer": "100 m", "rel_tol": 0.01}  # accepts 99 m .. 101 m
    assert _scores([("A: 0.101 km", reference), ("A: 0.1011 km", reference),
                    ("A: 9900 cm", reference), ("A: 9890 cm", reference)]) == [1.0, 0.0, 1.0, 0.0]


def test_abs_tol_admits_answers_near_a_zero_reference():
    assert _scores([("A: 0.001 m", {"answer": "0 m", "abs_tol": 0.002}),
                    ("A: 0.003 m", {"answer": "0 m", "abs_tol": 0.002}),
                    ("A: 0.001 m", {"answer": "0 m"})]) == [1.0, 0.0, 0.0]


@pytest.mark.parametrize("reference", [
    {"answer": "1 m", "rel_tol": 1.0}, {"answer": "1 m", "rel_tol": -0.1},
    {"answer": "1 m", "abs_tol": float("inf")}, {"answer": "1 m", "rel_tol": "loose"},
    {"answer": ""}, {"rel_tol": 0.1}, None,
])
def test_a_malformed_reference_is_a_value_error_naming_the_field(reference):
    with pytest.raises(ValueError, match="science reference"):
        science_reference(reference)


@pytest.mark.parametrize("reference", ["9.8 furlongs_per_fortnight", "9.8 m^99", "F", "ten m"])
def test_a_reference_that_does_not_parse_is_an_internal_error_never_right(reference):
    verdict = verify("science", "A: 9.8 m", reference)
    assert (verdict.score, verdict.status) == (0.0, "internal_error"), verdict


# --- the unit parser: pint's meaning, bounded exponents ---------------------------------

BENIGN_UNITS = ["m/s^2", "kg*m/s", "J/mol K", "kg/m s", "m s^-1", "1/mol", "m/s/s",
                "kg m^2 s^-3 A^-1", "N*m", "W/(m^2*K)", "(kg*m)/(s^2)", "mol/L", "km/h/s",
                "g/cm^3", "J/(mol*K)", "ohm*m", "C/s", "eV", "degC", "kJ/mol", "m**2",
                "s^(-1)", "(m/s)^2", "1/(m s)", "µm", "Å", "Ω"]


@pytest.mark.parametrize("text", BENIGN_UNITS)
def test_the_unit_parser_means_what_pint_means(text):
    registry = unit_registry()
    import pint.util
    ours = {canonical_unit_name(name): power for name, power in parse_unit_factors(text).items()}
    assert registry.Unit(pint.util.UnitsContainer(ours)) == registry.parse_units(text)


def test_unit_exponents_are_bounded_also_after_multiplying_out():
    top = MAX_UNIT_EXPONENT
    assert top == 12  # the products below are written for 12
    assert parse_quantity(f"1 m^{top}").factors == (("meter", top),)
    assert parse_quantity(f"1 m^-{top}").factors == (("meter", -top),)
    assert parse_quantity("1 (m^4)^3").factors == (("meter", 12),)
    assert _scores([(f"A: 1 m^{top}", f"1 m^{top}")]) == [1.0]
    for text in (f"A: 1 m^{top + 1}", "A: 1 (m^4)^4", f"A: 1 m^{top} m", "A: 1 m^(9^9)",
                 "A: 1 m^0.5", "A: 1 m^(1/2)"):
        verdict = verify("science", text, "1 m")
        assert (verdict.score, verdict.status) == (0.0, "parse_error"), (text, verdict)


NUMBER_SPELLINGS = [  # (response, value the answer states, in m/s)
    ("A: 3.0e8 m/s", 3.0e8), ("A: 3.0E+8 m/s", 3.0e8), ("A: 3 \\times 10^{8} m/s", 3e8),
    ("A: 3\\times10^8\\,\\mathrm{m\\,s^{-1}}", 3e8), ("A: 3 × 10⁸ m/s", 3e8),
    ("A: 3*10**8 m/s", 3e8), ("A: 3 x 10^(8) m s⁻¹", 3e8), ("A: 10^8 m/s", 1e8),
    ("A: .5 m/s", 0.5), ("A: -2.5 m/s", -2.5), ("A: −2.5 m/s", -2.5),
    ("\\boxed{2.5\\ \\text{m}/\\text{s}}", 2.5), ("A: 2.5 \\frac{m}{s}", 2.5),
    ("A: 2.5 m\\cdot s^{-1}", 2.5), ("A: 2.5 m·s⁻¹", 2.5),
]


@pytest.mark.parametrize("response, value", NUMBER_SPELLINGS,
                         ids=[c[0][3:30] for c in NUMBER_SPELLINGS])
def test_number_spellings_state_their_value(response, value):
    # right against the stated value, wrong against a value 5 % away
    assert _scores([(response, {"answer": f"{value!r} m/s", "rel_tol": 1e-9}),
                    (response, {"answer": f"{value * 1.05!r} m/s"})]) == [1.0, 0.0]
