"""Science answers: units through pint with the item's tolerance, multiple-choice letters."""
from __future__ import annotations

import pytest

from verifiers import verify, verify_batch

G = {"answer": "9.8 m/s^2"}
# (response, reference, expected score)
UNIT_CASES = [
    ("A: 9.8 m/s^2", G, 1.0),
    ("\\boxed{9.81\\ \\text{m/s}^2}", G, 1.0),
    ("A: 980 cm/s^2", G, 1.0),                      # equivalent unit
    ("A: 35.28 km/h/s", G, 1.0),                    # equivalent unit
    ("A: 9.8 N/kg", G, 1.0),                        # equivalent dimension, named unit
    ("A: 9.8 m s^-2", G, 1.0),
    ("A: 9.8 \\times 10^{0} m/s^2", G, 1.0),
    ("g is about 9.79 m/s^2", G, 1.0),              # fallback: last line's quantity
    ("A: 9.8 m/s", G, 0.0),                         # wrong dimension
    ("A: 9.8 kg", G, 0.0),                          # wrong dimension
    ("A: 9.8", G, 0.0),                             # missing unit
    ("A: 10.5 m/s^2", G, 0.0),                      # outside 1 %
    ("A: 10.5 m/s^2", {"answer": "9.8 m/s^2", "rel_tol": 0.1}, 1.0),  # item's tolerance
    ("A: 9.75 m/s^2", {"answer": "9.8 m/s^2", "rel_tol": 1e-3}, 0.0),
    ("A: 3.0e8 m/s", {"answer": "299792458 m/s"}, 1.0),
    ("A: 3.0e8 m/s", {"answer": "299792458 m/s", "rel_tol": 1e-4}, 0.0),
    ("A: 1.5 kJ", {"answer": "1500 J"}, 1.0),
    ("A: 1.5 kW", {"answer": "1500 J"}, 0.0),
    ("A: 298.15 K", {"answer": "25 degC"}, 1.0),
    ("A: 2 \\mu m", {"answer": "2e-6 m"}, 1.0),
    ("A: 5 \\Omega", {"answer": "5 ohm"}, 1.0),
    ("A: 0.5", {"answer": "50 %"}, 1.0),
    ("A: 42", "42", 1.0),                           # unitless reference given as a string
    ("A: 41", "42", 0.0),
    ("A: 6.02e23 1/mol", {"answer": "6.022e23 mol^-1"}, 1.0),
]
CHOICE_CASES = [
    ("The answer is (C).", "C", 1.0), ("A: C", "C", 1.0), ("\\boxed{C}", "C", 1.0),
    ("A: (C) 5 m", "C", 1.0), ("A: \\text{C}", "C", 1.0), ("\\boxed{B}", "C", 0.0),
    ("A: D", {"answer": "C"}, 0.0), ("the answer is: e", "E", 0.0),
]


@pytest.mark.parametrize("response, reference, expected", UNIT_CASES,
                         ids=[f"{c[0][:28]}~{str(c[1])[:36]}" for c in UNIT_CASES])
def test_science_quantity_matches_expected_verdict(response, reference, expected):
    verdict = verify("science", response, reference)
    assert verdict.score == expected, verdict
    assert verdict.status == "ok", verdict


@pytest.mark.parametrize("response, reference, expected", CHOICE_CASES,
                         ids=[c[0][:30] for c in CHOICE_CASES])
def test_multiple_choice_letter_matches_expected_verdict(response, reference, expected):
    assert verify("science", response, reference).score == expected


@pytest.mark.parametrize("response, status", [
    ("no number here", "no_answer"),
    ("I think it is one of them", "no_answer"),
    ("A: 9.8 m/s^2; import os", "parse_error"),
    ("A: 10**10**10 m", "parse_error"),
    ("A: 9.8 furlongs_per_fortnight", "parse_error"),
    ("A: 9.8 m^123456789", "parse_error"),
    ("\\boxed{9.8 m/s^2", "parse_error"),
])
def test_unparseable_science_answers_score_zero_with_reason(response, status):
    reference = G if "9.8" in response or "number" in response else "C"
    verdict = verify("science", response, reference)
    assert (verdict.score, verdict.status) == (0.0, status), verdict


def test_science_batch_matches_single_verdicts():
    responses, references = [c[0] for c in UNIT_CASES], [c[1] for c in UNIT_CASES]
    assert verify_batch("science", responses, references) == \
        [verify("science", r, ref) for r, ref in zip(responses, references)]
