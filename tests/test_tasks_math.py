"""The embedded math world: disjoint splits, determinism, verbose-vs-shortest headroom."""
from __future__ import annotations

import random
import statistics

from harness.tasks import math_world, write_suite
from harness.tasks.math_cot import MathWorld, make_items, sft_examples, shortest_solution, verbose_solution
from harness.io import read_jsonl
from verifiers import verify


def test_math_splits_are_disjoint_and_cover_every_problem() -> None:
    w = MathWorld()
    splits = {s: {it["prompt"] for it in make_items(s, w)} for s in ("train", "validation", "test")}
    assert not splits["train"] & splits["test"]
    assert not splits["train"] & splits["validation"]
    assert not splits["validation"] & splits["test"]
    assert sum(map(len, splits.values())) == 19**2 + 19**3
    assert len(splits["test"]) >= 1000  # leaderboard accuracy needs 1,000+ test prompts


def test_math_generator_is_deterministic(tmp_path) -> None:
    a = write_suite("math", tmp_path / "a", {"hi": 9})
    b = write_suite("math", tmp_path / "b", {"hi": 9})
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes()
    w = math_world({"hi": 9})
    items = make_items("train", w)
    assert sft_examples(items, 50, 7, w) == sft_examples(items, 50, 7, w)


def test_shortest_solutions_verify_and_verbose_ones_are_about_twice_as_long() -> None:
    w = MathWorld()
    items = make_items("train", w)
    for it in items[:200]:
        assert verify("math", it["shortest_solution"], it).score == 1.0
    rng = random.Random(0)
    verbose = [verbose_solution(tuple(it["terms"]), rng, w) for it in items[:2000]]
    ratio = statistics.mean(len(t) for t, _ in verbose) / statistics.mean(len(shortest_solution(tuple(it["terms"]))) for it in items[:2000])
    assert 2.0 <= ratio <= 3.2
    slip_rate = 1 - statistics.mean(ok for _, ok in verbose)
    assert 0.05 <= slip_rate <= 0.15  # imperfect on purpose: room for RL to raise accuracy


def test_items_carry_the_benchmark_contract_fields(tmp_path) -> None:
    write_suite("math", tmp_path, {"hi": 5})
    for row in read_jsonl(tmp_path / "test.jsonl"):
        assert {"id", "domain", "prompt", "answer"} <= set(row) and row["domain"] == "math"
