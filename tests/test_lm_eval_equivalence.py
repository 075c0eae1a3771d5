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
