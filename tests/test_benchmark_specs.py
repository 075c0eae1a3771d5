"""The papers' benchmarks (harness/tasks/specs.py) on fixture files in each dataset's real schema.

Per benchmark: loading, reference extraction, prompt rendering, and a correct and a wrong
response judged through the arena's own path (registry.verify_items): right 1, wrong 0.
Nothing is downloaded: tests/data/benchmarks/<name>/<split>.jsonl hold 2-3 hand-written rows.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.tasks.registry import verify_items
from harness.tasks.specs import (
    LCB_CALL,
    LCB_RUN,
    SPECS,
    UNPINNED,
    BadRow,
    benchmark_rows,
    items_checksum,
    last_boxed,
    lcb_check_source,
    load_benchmark,
    row_to_item,
    verify_spec_items,
)

FIXTURES = Path(__file__).resolve().parent / "data" / "benchmarks"
EXPECTED_BENCHMARKS = {"math500", "aime2024", "aime2025", "amc2023", "minerva_math", "olympiadbench",
                       "gsm8k", "gpqa_diamond", "humaneval_plus", "mbpp_plus", "livecodebench"}

# benchmark -> the references its fixture rows must yield, in order
MATH_REFERENCES = {
    "math500": ["\\frac{7}{8}", "7", "2\\sqrt{2}"],
    "aime2024": ["24", "9"],
    "aime2025": ["17", "91"],
    "amc2023": ["0.8333333333333334", "12.0"],
    "minerva_math": ["18", "0.25"],
    "olympiadbench": ["8", "10"],
    "gsm8k": ["10", "14400"],
}
# a wrong answer per math item (same order), chosen to be clearly not equal
MATH_WRONG = {
    "math500": ["\\frac{7}{9}", "-7", "\\sqrt{2}"],
    "aime2024": ["25", "10"],
    "aime2025": ["18", "90"],
    "amc2023": ["\\frac{2}{5}", "8"],
    "minerva_math": ["6", "0.4"],
    "olympiadbench": ["7", "11"],
    "gsm8k": ["12", "1200"],
}


def _load(name: str):  # noqa: ANN202
    return load_benchmark(name, FIXTURES / name)


def test_every_required_benchmark_has_a_spec_with_source_revision_and_sampling() -> None:
    assert EXPECTED_BENCHMARKS <= set(SPECS)
    for spec in SPECS.values():
        # never an invented hash: either the marker or a full 40-hex commit
        assert spec.revision == UNPINNED or re.fullmatch(r"[0-9a-f]{40}", spec.revision), spec.name
        # a pinned hash says where it was read; the marker has no source
        assert bool(spec.revision_source) == (spec.revision != UNPINNED), spec.name
        assert spec.domain in ("math", "code", "science"), spec.name
        assert spec.dataset and spec.split and spec.sampling.source, spec.name
        assert spec.sampling.k >= 1 and 0.0 <= spec.sampling.top_p <= 1.0, spec.name
        assert (spec.sampling.metric == "greedy") == (spec.sampling.temperature == 0.0), spec.name
        assert (FIXTURES / spec.name).is_dir(), f"no fixture for {spec.name}"


@pytest.mark.parametrize("name", sorted(MATH_REFERENCES))
def test_math_benchmark_loads_extracts_renders_and_verifies(name: str) -> None:
    loaded = _load(name)
    items = loaded.items
    assert [it["answer"] for it in items] == MATH_REFERENCES[name]
    rows = [json.loads(line) for line in (FIXTURES / name / f"{SPECS[name].split}.jsonl").read_text().splitlines()]
    problem_column = SPECS[name].fields["problem"]
    for row, it in zip(rows, items):
        assert it["domain"] == "math" and it["benchmark"] == name
        assert it["prompt"].startswith(row[problem_column])
        assert it["prompt"].endswith("put your final answer within \\boxed{}.")
    right = [f"Working it out.\nThe answer is $\\boxed{{{a}}}$." for a in MATH_REFERENCES[name]]
    wrong = [f"Working it out.\nThe answer is $\\boxed{{{a}}}$." for a in MATH_WRONG[name]]
    verdicts = verify_items(right + wrong, items + items)
    scores = [v.score for v in verdicts]
    assert scores == [1.0] * len(items) + [0.0] * len(items), [v.detail for v in verdicts]


def test_math500_answer_is_the_last_boxed_of_its_solution_with_nested_braces() -> None:
    for line in (FIXTURES / "math500" / "test.jsonl").read_text().splitlines():
        row = json.loads(line)
        assert last_boxed(row["solution"]) == row["answer"]
    assert last_boxed("first \\boxed{1}, then \\boxed{\\frac{a^{2}}{\\sqrt{b}}}.") == "\\frac{a^{2}}{\\sqrt{b}}"
    with pytest.raises(BadRow):
        last_boxed("no box here, 42")


def test_gsm8k_reference_is_the_number_after_the_hashes_without_digit_groups() -> None:
    spec = SPECS["gsm8k"]
    item = row_to_item(spec, {"question": "q", "answer": "a\n#### 1,234"}, 0)
    assert item["answer"] == "1234"
    with pytest.raises(BadRow, match="####"):
        row_to_item(spec, {"question": "q", "answer": "no final line"}, 0)


def test_aime_reference_must_be_an_integer_below_1000() -> None:
    spec = SPECS["aime2024"]
    assert row_to_item(spec, {"ID": "x", "Problem": "p", "Answer": "007"}, 0)["answer"] == "7"
    with pytest.raises(BadRow, match="integer 0-999"):
        row_to_item(spec, {"ID": "x", "Problem": "p", "Answer": "1/2"}, 0)


def test_a_row_missing_a_column_names_the_benchmark_and_column() -> None:
    with pytest.raises(BadRow, match=r"math500: row lacks column 'answer'"):
        row_to_item(SPECS["math500"], {"problem": "p", "unique_id": "u"}, 0)


def test_gpqa_options_are_shuffled_deterministically_and_the_letter_verifies() -> None:
    items = _load("gpqa_diamond").items
    assert items == _load("gpqa_diamond").items
    rows = [json.loads(line) for line in (FIXTURES / "gpqa_diamond" / "train.jsonl").read_text().splitlines()]
    for row, it in zip(rows, items):
        assert it["domain"] == "science"
        assert f"({it['answer']}) {row['Correct Answer']}" in it["prompt"]
        for k in (1, 2, 3):
            assert row[f"Incorrect Answer {k}"] in it["prompt"]
        assert it["prompt"].startswith(row["Question"])
    wrong_letters = [next(c for c in "ABCD" if c != it["answer"]) for it in items]
    texts = [f"Reasoning.\nAnswer: {it['answer']}" for it in items] + [f"Reasoning.\nAnswer: {c}" for c in wrong_letters]
    assert [v.score for v in verify_items(texts, items + items)] == [1.0, 1.0, 0.0, 0.0]


def test_humaneval_plus_continues_the_prompt_and_its_tests_judge_it() -> None:
    items = _load("humaneval_plus").items
    add = items[0]
    assert add["entry_point"] == "add" and add["completion_of_prompt"] and add["stop"]
    assert add["prompt"].startswith("\n\ndef add(x: int, y: int):")
    verdicts = verify_items(["    return x + y\n\ndef unrelated():\n    pass\n", "    return x - y\n"], [add, add])
    assert [v.score for v in verdicts] == [1.0, 0.0], [v.detail for v in verdicts]


def test_mbpp_plus_runs_its_plus_script_inside_check() -> None:
    items = _load("mbpp_plus").items
    similar = items[0]
    assert similar["entry_point"] == "similar_elements" and items[1]["entry_point"] == "is_not_prime"
    assert similar["prompt"] == ('"""\nWrite a function to find the shared elements from the given two lists.\n'
                                 'assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))\n"""\n')
    compile(similar["prompt"], "<prompt>", "exec")  # the code verifier execs the prompt as trusted helpers
    right = "Here it is:\n```python\ndef similar_elements(a, b):\n    return tuple(sorted(set(a) & set(b)))\n```"
    # passes the example assert (a set) but not the plus tests (order and type matter)
    wrong = "```python\ndef similar_elements(a, b):\n    return list(set(a) & set(b))[::-1]\n```"
    verdicts = verify_items([right, wrong], [similar, similar])
    assert [v.score for v in verdicts] == [1.0, 0.0], [v.detail for v in verdicts]


def test_livecodebench_keeps_its_release_window_and_decodes_private_tests() -> None:
    loaded = _load("livecodebench")
    assert [it["id"] for it in loaded.items] == ["livecodebench-abc900_a", "livecodebench-9001"]  # 2023 row dropped
    stdin_item, leetcode_item = loaded.items
    assert stdin_item["io_tests"] == [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"},
                                      {"input": "5 7\n", "output": "12\n", "testtype": "stdin"}]
    assert "stdin" in stdin_item["prompt"]
    assert leetcode_item["func_name"] == "countItems" and "class Solution" in leetcode_item["prompt"]
    assert stdin_item["entry_point"] == LCB_RUN and leetcode_item["entry_point"] == LCB_CALL
    assert SPECS["livecodebench"].verifiable


# LiveCodeBench answers, fenced as the prompt asks; wrong ones pass no test or only some
LCB_STDIN_RIGHT = "Reading both.\n```python\na, b = map(int, input().split())\nprint(a + b)\n```"
LCB_STDIN_RIGHT_OPEN0 = "```python\nimport sys\nsys.stdout.write(str(sum(map(int, open(0).read().split()))) + '\\n')\n```"
LCB_STDIN_WRONG = "```python\na, b = map(int, input().split())\nprint(a * b)\n```"       # 1*2 != 3
LCB_STDIN_PARTLY = "```python\na, b = map(int, input().split())\nprint(3)\n```"          # passes test 0 only
LCB_CLASS_RIGHT = ("```python\nclass Solution:\n    def countItems(self, nums: List[int]) -> int:\n"
                   "        return len(nums)\n```")
LCB_CLASS_WRONG = ("```python\nclass Solution:\n    def countItems(self, nums: List[int]) -> int:\n"
                   "        return len(nums) + 1\n```")


def test_livecodebench_programs_run_in_the_sandbox_against_stdin_and_functional_tests() -> None:
    stdin_item, leetcode_item = _load("livecodebench").items
    texts = [LCB_STDIN_RIGHT, LCB_STDIN_RIGHT_OPEN0, LCB_STDIN_WRONG, LCB_STDIN_PARTLY, LCB_CLASS_RIGHT, LCB_CLASS_WRONG]
    items = [stdin_item] * 4 + [leetcode_item] * 2
    verdicts = verify_spec_items(texts, items)
    assert [v.score for v in verdicts] == [1.0, 1.0, 0.0, 0.0, 1.0, 0.0], [v.detail for v in verdicts]
    assert "test 1" in verdicts[3].detail  # all of the item's tests count, the private ones too


def test_livecodebench_program_gets_an_input_larger_than_a_pipe_buffer() -> None:
    numbers = list(range(60_000))  # ~350 kB of input, several pipe buffers
    row = {"question_id": "big", "question_content": "Sum the numbers.", "starter_code": "",
           "public_test_cases": json.dumps([{"input": " ".join(map(str, numbers)) + "\n",
                                             "output": f"{sum(numbers)}\n", "testtype": "stdin"}]),
           "private_test_cases": "[]", "metadata": "{}", "contest_date": "2024-09-01T00:00:00"}
    item = row_to_item(SPECS["livecodebench"], row, 0)
    program = "```python\nimport sys\nprint(sum(map(int, sys.stdin.read().split())))\n```"
    assert [v.score for v in verify_spec_items([program], [item])] == [1.0]


def test_livecodebench_stdout_compare_is_line_by_line_and_numeric_like_lcb() -> None:
    namespace: dict = {}
    exec(lcb_check_source([], functional=False), namespace)  # trusted test code, no candidate involved
    same = namespace["_same_stdout"]
    assert same("3 \n4\n\n", "3\n4")          # trailing spaces and blank lines do not matter
    assert same("1.50 2\n", "1.5 2\n")            # equal numbers are equal
    assert not same("3\n", "3\n4\n") and not same("1.51\n", "1.5\n") and not same("a b\n", "a  c\n")


def test_a_livecodebench_response_judged_without_its_wrapper_is_not_passed() -> None:
    from harness.tasks.registry import verify_items

    stdin_item, _ = _load("livecodebench").items
    # the raw program defines no entry point: the plain path must fail, never pass by accident
    reference = dict(stdin_item, prompt="")
    assert verify_items([LCB_STDIN_RIGHT], [reference])[0].score == 0.0


def test_checksum_is_canonical_and_the_same_from_jsonl_and_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    loaded = _load("math500")
    assert loaded.checksum == items_checksum(loaded.items) and len(loaded.checksum) == 64
    rows = [json.loads(line) for line in (FIXTURES / "math500" / "test.jsonl").read_text().splitlines()]
    (tmp_path / "data").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "data" / "test-00000-of-00001.parquet")  # hub layout
    from_parquet = load_benchmark("math500", tmp_path)
    assert from_parquet.items == loaded.items and from_parquet.checksum == loaded.checksum
    changed = [dict(loaded.items[0], answer="\\frac{7}{9}")] + loaded.items[1:]
    assert items_checksum(changed) != loaded.checksum
    assert items_checksum(list(reversed(loaded.items))) != loaded.checksum  # order is part of what was seen


def test_a_missing_local_path_says_what_layout_was_expected(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("{}\n")
    (tmp_path / "b.jsonl").write_text("{}\n")
    with pytest.raises(FileNotFoundError, match="no data files for split 'test'"):
        load_benchmark("math500", tmp_path)
    with pytest.raises(ValueError, match="unknown benchmark"):
        load_benchmark("math5000", tmp_path)


def test_harness_benchmarks_lists_every_benchmark_with_source_revision_size_metric_availability(
        capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    assert main(["benchmarks", "--json", "--data-dir", str(FIXTURES)]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(SPECS)
    for name, r in rows.items():
        assert r["source"].startswith(SPECS[name].dataset) and r["revision"] == SPECS[name].revision
        assert r["available"].startswith("local: ") and r["metric"]
    assert rows["math500"]["size"] == 3 and rows["livecodebench"]["size"] == 2  # sizes of the local copies
    assert rows["aime2024"]["metric"] == "avg@32"
    no_copies = {r["name"]: r for r in benchmark_rows(data_dir=FIXTURES / "nowhere")}
    assert no_copies["math500"]["size"] == 500 and not no_copies["math500"]["available"].startswith("local")


def test_livecodebench_private_tests_unpickle_plain_data_only() -> None:
    import base64
    import json as _json
    import os
    import pickle
    import zlib

    from harness.tasks.specs import BadRow, _lcb_tests

    def encode(obj: object) -> str:
        return base64.b64encode(zlib.compress(pickle.dumps(obj))).decode()

    cases = [{"input": "1\n", "output": "2\n", "testtype": "stdin"}]
    assert _lcb_tests(encode(_json.dumps(cases))) == cases

    class Hostile:
        def __reduce__(self):  # noqa: ANN204
            return (os.system, ("echo should-not-run",))

    with pytest.raises(BadRow, match="refused to load"):
        _lcb_tests(encode(Hostile()))
    with pytest.raises(BadRow, match="expected a pickled JSON string"):
        _lcb_tests(encode([1, 2]))


# --- evaluating a checkpoint on a spec benchmark (harness.evaluate.run_spec_evaluation) -------

def test_nucleus_choice_draws_only_inside_the_nucleus_in_proportion() -> None:
    import torch

    from harness.rollout.hf import nucleus_choice

    probs = torch.tensor([0.05, 0.5, 0.15, 0.3])
    logits = probs.log().repeat(4000, 1)
    torch.manual_seed(0)
    tokens = nucleus_choice(logits, 1.0, 0.8)
    # nucleus at 0.8: 0.5 (mass before 0) and 0.3 (before 0.5); 0.15 has 0.8 before it: out
    assert set(tokens.tolist()) == {1, 3}
    assert (tokens == 1).float().mean().item() == pytest.approx(0.5 / 0.8, abs=0.03)
    assert set(nucleus_choice(logits[:50], 1.0, 1e-6).tolist()) == {1}   # tiny top_p: the mode only


def _fake_rollouts(texts: list[str], lengths: list[int]):  # noqa: ANN202
    import torch

    from harness.rollout.hf import Rollouts

    n, T = len(texts), max(lengths)
    mask = (torch.arange(T)[None] < torch.tensor(lengths)[:, None]).float()
    return Rollouts(torch.zeros(n, 2, dtype=torch.long), torch.zeros(n, T, dtype=torch.long), mask, 1, texts)


def test_spec_evaluation_scores_avg_pass_maj_per_config_and_records_the_items_checksum(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import torch

    from harness import evaluate
    from harness.report.results import load_eval

    def boxed(a: str) -> str:
        return f"So the answer is $\\boxed{{{a}}}$."

    none = "I am not sure."
    # math500 fixture references: \frac{7}{8}, 7, 2\sqrt{2}; four draws each
    sampled = [boxed("\\frac{7}{8}"), boxed("\\frac{7}{8}"), boxed("\\frac{7}{9}"), none,   # 2 right; majority right
               boxed("-7"), boxed("-7"), boxed("7"), none,                                  # 1 right; majority wrong
               boxed("\\sqrt{2}"), boxed("\\sqrt{2}"), boxed("\\sqrt{2}"), boxed("\\sqrt{2}")]  # none right
    greedy_texts = [boxed("\\frac{7}{8}"), boxed("-7"), boxed("2\\sqrt{2}")]
    calls: list[tuple] = []

    def fake_sample(model, tok, prompts, *, num_samples, max_new_tokens, temperature, top_p=1.0):  # noqa: ANN001
        calls.append(("nucleus" if top_p < 1 else "plain", len(prompts), num_samples, temperature, top_p, max_new_tokens))
        return _fake_rollouts(sampled, [10] * 12)

    def fake_generate(model, tok, prompts, *, max_new_tokens, greedy):  # noqa: ANN001
        calls.append(("greedy", len(prompts), greedy))
        return _fake_rollouts(greedy_texts, [4, 5, 6])

    monkeypatch.setattr(evaluate, "sample", fake_sample)
    monkeypatch.setattr(evaluate, "generate", fake_generate)
    monkeypatch.setattr(evaluate, "format_prompts", lambda tok, chunk, fmt: [it["prompt"] for it in chunk])
    monkeypatch.setattr(evaluate, "load_checkpoint", lambda path, dtype: (torch.nn.Linear(1, 1), None))
    monkeypatch.setattr(evaluate, "describe_model", lambda model: "fake")
    out = tmp_path / "eval" / "grpo" / "seed0" / "math500.json"
    result = evaluate.run_evaluation(
        checkpoint="ckpt/model", data=str(FIXTURES / "math500"), out=str(out), objective="grpo", seed=0,
        benchmark="math500", max_new_tokens=64, batch_size=64,
        sampling=[{"k": 4, "temperature": 0.6, "top_p": 0.95}, {"k": 1, "temperature": 0.0}])
    assert calls == [("nucleus", 3, 4, 0.6, 0.95, 64), ("greedy", 3, True)]
    first, second = result["sampling"]
    # avg@4 = (2/4 + 1/4 + 0) / 3; pass@4 with n = 4: 1, 1, 0; maj@4: right, wrong, wrong
    assert first["metrics"] == {"avg@4": pytest.approx(0.25), "pass@4": pytest.approx(2 / 3),
                                "maj@4": pytest.approx(1 / 3)}
    assert second["metrics"] == {"avg@1": pytest.approx(2 / 3), "pass@1": pytest.approx(2 / 3),
                                 "maj@1": pytest.approx(2 / 3)}
    # the first config is what the leaderboard reads: its metric per item, and the overall
    assert result["metric"] == "avg@4" and result["accuracy"] == pytest.approx(0.25)
    assert [it["score"] for it in result["items"]] == [0.5, 0.25, 0.0]
    assert result["items"][0]["draws"] == [[1.0, 10], [1.0, 10], [0.0, 10], [0.0, 10]]
    loaded = load_benchmark("math500", FIXTURES / "math500")
    assert result["dataset"]["checksum"] == loaded.checksum == items_checksum(loaded.items)
    assert result["dataset"]["revision"] == SPECS["math500"].revision and result["dataset"]["n_items"] == 3
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    record = load_eval(tmp_path, "grpo", 0, "math500", [])  # the report reads it as any eval JSON
    assert record is not None and record.run_eval.scores.tolist() == [0.5, 0.25, 0.0]


def test_spec_evaluation_rejects_bad_sampling_entries_naming_the_key() -> None:
    from harness.evaluate import sampling_configs

    spec = SPECS["aime2024"]
    default, = sampling_configs(spec, None, 512)
    assert (default.metric, default.k, default.temperature, default.top_p, default.max_new_tokens) == \
        ("avg@k", 32, 1.0, 0.7, 512)
    with pytest.raises(ValueError, match=r"aime2024: sampling\[0\]: key 'k' is missing"):
        sampling_configs(spec, [{"temperature": 0.6}], 512)
    with pytest.raises(ValueError, match=r"sampling\[1\]: unknown key\(s\) \['topp'\]"):
        sampling_configs(spec, [{"k": 2, "temperature": 0.6}, {"k": 2, "temperature": 0.6, "topp": 0.9}], 512)
    with pytest.raises(ValueError, match=r"temperature' must be > 0, or 0 \(greedy\) with k = 1"):
        sampling_configs(spec, [{"k": 4, "temperature": 0.0}], 512)
    with pytest.raises(ValueError, match=r"key 'metric' must be one of"):
        sampling_configs(spec, [{"k": 4, "temperature": 0.6, "metric": "best@k"}], 512)


def test_spec_evaluation_of_a_real_checkpoint_through_the_cli_records_what_it_saw(
        tiny_world: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    def run(name: str, **extra: object) -> dict:
        out = tmp_path / f"{name}.json"
        settings = {"checkpoint": str(tiny_world["model"]), "data": str(FIXTURES / "gsm8k"), "out": str(out),
                    "objective": "base", "seed": 0, "benchmark": "gsm8k", "max_new_tokens": 6, "batch_size": 8,
                    "sampling": [{"k": 2, "temperature": 1.0, "top_p": 0.9, "metric": "pass@k"}], **extra}
        assert main(["evaluate", "--settings", json.dumps(settings)]) == 0
        return json.loads(out.read_text())

    full, again, first = run("full"), run("again"), run("first", limit=1)
    assert "gsm8k: pass@2 " in capsys.readouterr().out  # the CLI names the metric it printed
    assert full["dataset"]["checksum"] == load_benchmark("gsm8k", FIXTURES / "gsm8k").checksum
    assert first["dataset"]["checksum"] != full["dataset"]["checksum"] and first["n"] == 1
    assert full["metric"] == "pass@2" and full["sampling"][0]["top_p"] == 0.9
    assert [len(it["draws"]) for it in full["items"]] == [2, 2]
    assert full["items"] == again["items"]  # seeded: the same draws twice


def test_hub_loading_asks_datasets_for_the_pinned_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a local copy the loader calls datasets.load_dataset at the spec's commit (a fake
    `datasets` module records the call: no network here). The hashes are typed from their
    sources (aiperf's worker.py, eval-framework's revision file), not read from SPECS."""
    import sys
    import types

    calls: list[tuple[tuple, dict]] = []
    row = {"unique_id": "test/algebra/1.json", "problem": "What is $1+1$?", "answer": "2",
           "solution": "$1+1=\\boxed{2}$"}

    def load_dataset(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append((args, kwargs))
        return [row]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    monkeypatch.setattr("harness.tasks.specs.datasets_importable", lambda: True)
    loaded = load_benchmark("math500")
    assert calls == [(("HuggingFaceH4/MATH-500", None),
                      {"split": "test", "revision": "6e4ed1a2a79af7d8630a6b768ec859cb5af4d3be"})]
    assert loaded.source == "hub:HuggingFaceH4/MATH-500@6e4ed1a2a79af7d8630a6b768ec859cb5af4d3be"
    assert [it["answer"] for it in loaded.items] == ["2"]
    calls.clear()
    monkeypatch.setattr("harness.tasks.specs.row_to_item", lambda spec, r, i: {"id": str(i)})
    load_benchmark("gpqa_diamond")
    assert calls[0][0] == ("Idavidrein/gpqa", "gpqa_diamond")
    assert calls[0][1]["revision"] == "633f5ee89ab8ad4522a9f850766b73f62147ffdd"
    # LiveCodeBench: the release's raw files at the commit (datasets >= 4 runs no loading script)
    calls.clear()
    load_benchmark("livecodebench")
    at = "hf://datasets/livecodebench/code_generation_lite@0fe84c3912ea0c4d4a78037083943e8f0c4dd505/"
    assert calls == [(("json",), {"data_files": [at + f for f in ("test.jsonl", "test2.jsonl", "test3.jsonl",
                                                                   "test4.jsonl", "test5.jsonl")],
                                  "split": "train"})]


def test_livecodebench_release_files_are_cumulative() -> None:
    from harness.tasks.specs import lcb_release_files

    assert lcb_release_files("release_v1") == ["test.jsonl"]
    assert lcb_release_files("release_v6")[-2:] == ["test5.jsonl", "test6.jsonl"]
    with pytest.raises(ValueError, match="release_v7"):
        lcb_release_files("release_v7")
