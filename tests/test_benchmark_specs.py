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
    SPECS,
    UNPINNED,
    BadRow,
    benchmark_rows,
    items_checksum,
    last_boxed,
    load_benchmark,
    row_to_item,
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
    # not judged yet: the code verifier runs check(candidate) only (see the module notes)
    assert SPECS["livecodebench"].verifiable is False


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
