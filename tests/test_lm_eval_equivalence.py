"""lm-eval (our YAML tasks) and the workflow's evaluator score a checkpoint identically.

Both decode greedily with the same token budget; lm-eval's answers go through
harness/tasks/lm_eval/utils.py, the workflow's through harness.evaluate. The session's
tiny model is barely trained and would score 0 everywhere, which proves nothing, so it
is trained further until its math answers are a mix of right and wrong.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.evaluate import evaluate_checkpoint
from harness.io import atomic_write_jsonl, read_jsonl
from harness.tasks.registry import suite_items

REPO = Path(__file__).resolve().parent.parent
LM_EVAL_DIR = REPO / "harness" / "tasks" / "lm_eval"
MAX_NEW_TOKENS = yaml.safe_load((LM_EVAL_DIR / "_arena_template_yaml").read_text().replace("!function ", ""))["generation_kwargs"]["max_gen_toks"]


@pytest.fixture(scope="module")
def mixed_checkpoint(tiny_world: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's tiny model after 400 more warm-start steps on the train split (~35% on test)."""
    from harness.model import load_checkpoint, save_checkpoint
    from harness.seeding import seed_everything
    from harness.train.warmstart import warm_start

    seed_everything(0)
    model, tok = load_checkpoint(tiny_world["model"])
    model.train()
    pairs = [(it["prompt"], it["shortest_solution"]) for it in read_jsonl(tiny_world["data"] / "train.jsonl")]
    warm_start(model, tok, pairs, steps=400, batch_size=16, lr=3e-3, warmup_steps=5, seed=0)
    return save_checkpoint(model.eval(), tok, tmp_path_factory.mktemp("mixed") / "model")


@pytest.fixture(scope="module")
def data_dir(tiny_world: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """<dir>/<suite>/test.jsonl for math (the tiny world), code and science."""
    root = tmp_path_factory.mktemp("arena_data")
    atomic_write_jsonl(root / "math" / "test.jsonl", read_jsonl(tiny_world["data"] / "test.jsonl")[:48])
    atomic_write_jsonl(root / "code" / "test.jsonl", suite_items("code", "test", {"limit": 12}))
    atomic_write_jsonl(root / "science" / "test.jsonl", suite_items("science", "test", {"limit": 24}))
    return root


def lm_eval_samples(checkpoint: Path, data_dir: Path, suite: str, batch_size: int) -> list[dict]:
    """Per-item lm-eval samples of task arena_<suite>, in the data file's order."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(pretrained=str(checkpoint), batch_size=batch_size, device="cpu")
    manager = TaskManager(include_path=str(LM_EVAL_DIR), include_defaults=False, metadata={"arena_data_dir": str(data_dir)})
    out = lm_eval.simple_evaluate(model=lm, tasks=[f"arena_{suite}"], task_manager=manager, log_samples=True)
    assert out["configs"][f"arena_{suite}"]["generation_kwargs"]["max_gen_toks"] == MAX_NEW_TOKENS
    samples = sorted(out["samples"][f"arena_{suite}"], key=lambda s: s["doc_id"])
    return [{"id": s["doc"]["id"], "text": s["resps"][0][0], "score": s["acc"]} for s in samples] + [
        {"accuracy": out["results"][f"arena_{suite}"]["acc,none"]}
    ]


@pytest.mark.parametrize("suite", ["math", "code", "science"])
def test_lm_eval_and_harness_evaluate_agree_on_every_item(suite: str, mixed_checkpoint: Path, data_dir: Path) -> None:
    items = read_jsonl(data_dir / suite / "test.jsonl")
    *lm_items, summary = lm_eval_samples(mixed_checkpoint, data_dir, suite, batch_size=len(items))
    records, texts = evaluate_checkpoint(mixed_checkpoint, items, max_new_tokens=MAX_NEW_TOKENS, batch_size=16)
    assert [s["id"] for s in lm_items] == [it["id"] for it in items]
    assert [s["text"] for s in lm_items] == texts
    assert [s["score"] for s in lm_items] == [r["score"] for r in records]
    accuracy = sum(r["score"] for r in records) / len(records)
    assert summary["accuracy"] == pytest.approx(accuracy, abs=1e-12)
    if suite == "math":  # the comparison is not vacuous: some answers right, some wrong
        assert 0.0 < accuracy < 1.0, accuracy


# --- the papers' benchmarks: spec_<name> tasks (harness/tasks/specs.py) ----------------------

BENCHMARK_FIXTURES = REPO / "tests" / "data" / "benchmarks"
SPEC_TOKENS = 24  # the fixture run's budget (the YAMLs carry the papers' 4k-32k)


def _spec_yaml(name: str) -> dict:
    return yaml.safe_load((LM_EVAL_DIR / f"spec_{name}.yaml").read_text().replace("!function ", ""))


def test_every_spec_has_an_lm_eval_task_with_its_sampling() -> None:
    from harness.tasks.specs import SPECS

    group = yaml.safe_load((LM_EVAL_DIR / "spec.yaml").read_text())
    assert group["task"] == [f"spec_{name}" for name in SPECS]
    for name, spec in SPECS.items():
        task, s = _spec_yaml(name), spec.sampling
        assert task["task"] == f"spec_{name}" and task["dataset_kwargs"] == {"benchmark": name}
        gen = task["generation_kwargs"]
        assert task["repeats"] == s.k and gen["temperature"] == s.temperature, name
        assert gen["do_sample"] == (s.temperature > 0) and gen.get("top_p", 1.0) == (s.top_p if s.temperature else 1.0)
        assert gen["max_gen_toks"] == s.max_new_tokens, name
        if spec.domain == "code":  # maj@k is not defined for programs
            assert [m["metric"] for m in task["metric_list"]] == ["acc", "avg_at_k", "pass_at_k"]


def test_spec_results_score_right_and_wrong_draws_as_harness_evaluate_does() -> None:
    import json

    from harness.tasks.lm_eval.utils import process_spec_results
    from harness.tasks.specs import load_benchmark

    item = load_benchmark("gsm8k", BENCHMARK_FIXTURES / "gsm8k").items[0]  # reference 10
    doc = {"item": json.dumps(item)}
    draws = ["12-2 = 10\n#### The answer is \\boxed{10}", "\\boxed{9}", "\\boxed{9}", "no idea"]
    # 1 of 4 right: avg 1/4, pass@4 = 1 (n = k), majority "9" is wrong
    assert process_spec_results(doc, draws) == {"acc": 1.0, "avg_at_k": 0.25, "pass_at_k": 1.0, "maj_at_k": 0.0}
    assert process_spec_results(doc, ["\\boxed{11}"]) == {"acc": 0.0, "avg_at_k": 0.0, "pass_at_k": 0.0,
                                                         "maj_at_k": 0.0}
    lcb = load_benchmark("livecodebench", BENCHMARK_FIXTURES / "livecodebench").items[0]  # A + B, stdin
    right = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
    assert process_spec_results({"item": json.dumps(lcb)}, [right, "```python\nprint(0)\n```"]) == \
        {"acc": 1.0, "avg_at_k": 0.5, "pass_at_k": 1.0}


def test_lm_eval_and_harness_evaluate_agree_on_a_spec_benchmark(tiny_world: dict[str, Path], tmp_path: Path) -> None:
    """GSM8K (greedy, as its spec) on its fixture: same prompts, texts, scores and checksum."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from harness.evaluate import evaluate_model, run_spec_evaluation
    from harness.model import load_checkpoint
    from harness.tasks.specs import load_benchmark, verify_spec_items

    loaded = load_benchmark("gsm8k", BENCHMARK_FIXTURES / "gsm8k")
    lm = HFLM(pretrained=str(tiny_world["model"]), batch_size=len(loaded.items), device="cpu")
    manager = TaskManager(include_path=str(LM_EVAL_DIR), include_defaults=False,
                          metadata={"arena_benchmark_dir": str(BENCHMARK_FIXTURES)})
    out = lm_eval.simple_evaluate(model=lm, tasks=["spec_gsm8k"], task_manager=manager, log_samples=True,
                                  gen_kwargs={"max_gen_toks": SPEC_TOKENS})
    samples = sorted(out["samples"]["spec_gsm8k"], key=lambda s: s["doc_id"])
    assert [s["doc"]["id"] for s in samples] == [it["id"] for it in loaded.items]
    assert [s["doc"]["prompt"] for s in samples] == [it["prompt"] for it in loaded.items]
    assert {s["doc"]["checksum"] for s in samples} == {loaded.checksum}

    model, tok = load_checkpoint(tiny_world["model"])
    records, texts = evaluate_model(model, tok, loaded.items, max_new_tokens=SPEC_TOKENS, batch_size=8,
                                    verify=verify_spec_items)
    assert [s["resps"][0][0] for s in samples] == texts and any(t.strip() for t in texts)  # not vacuous
    assert [s["acc"] for s in samples] == [r["score"] for r in records]
    result = run_spec_evaluation(checkpoint=str(tiny_world["model"]), benchmark="gsm8k",
                                 path=str(BENCHMARK_FIXTURES / "gsm8k"), out=str(tmp_path / "gsm8k.json"),
                                 objective="base", seed=0, sampling=None, max_new_tokens=SPEC_TOKENS, batch_size=8)
    assert result["metric"] == "greedy" and result["dataset"]["checksum"] == loaded.checksum
    assert [it["score"] for it in result["items"]] == [s["acc"] for s in samples]
    assert out["results"]["spec_gsm8k"]["avg_at_k,none"] == pytest.approx(result["accuracy"], abs=1e-12)
