"""avg@k evaluation: each item's score is the mean of its k verdicts, its length the mean of k lengths."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from harness import evaluate
from harness.rollout.hf import Rollouts
from harness.tasks.registry import suite_items


def _fake_rollouts(texts: list[str], lengths: list[int]) -> Rollouts:
    n, T = len(texts), max(lengths)
    mask = (torch.arange(T)[None] < torch.tensor(lengths)[:, None]).float()
    return Rollouts(torch.zeros(n, 2, dtype=torch.long), torch.zeros(n, T, dtype=torch.long), mask, 1, texts)


def test_avg_at_k_scores_each_item_by_the_mean_of_its_draws(monkeypatch) -> None:  # noqa: ANN001
    items = suite_items("math", "test", {"lo": 1, "hi": 9})[:2]
    a0, a1 = items[0]["answer"], items[1]["answer"]
    # item 0: 3 of 4 draws right; item 1: 1 of 4 right; lengths chosen by hand
    texts = [f"A: {a0}\n", f"A: {a0}\n", "A: -999\n", f"A: {a0}\n", "A: -999\n", "A: -999\n", f"A: {a1}\n", "A: -999\n"]
    lengths = [10, 20, 30, 40, 5, 7, 9, 11]
    seen: dict[str, object] = {}

    def fake_sample(model, tok, prompts, *, num_samples, max_new_tokens, temperature):  # noqa: ANN001
        seen.update(num_samples=num_samples, temperature=temperature, prompts=len(prompts))
        return _fake_rollouts(texts, lengths)

    monkeypatch.setattr(evaluate, "sample", fake_sample)
    monkeypatch.setattr(evaluate, "format_prompts", lambda tok, chunk, fmt: [it["prompt"] for it in chunk])
    records, out_texts = evaluate.evaluate_model(None, None, items, max_new_tokens=40, batch_size=8,
                                                 samples=4, temperature=0.7)
    assert seen == {"num_samples": 4, "temperature": 0.7, "prompts": 2}
    assert [r["score"] for r in records] == [0.75, 0.25]
    assert [r["length"] for r in records] == [25.0, 8.0]  # (10+20+30+40)/4, (5+7+9+11)/4
    assert records[0]["draws"] == [[1.0, 10], [1.0, 20], [0.0, 30], [1.0, 40]]
    assert out_texts == texts


def test_sampled_evaluation_is_seeded_and_greedy_stays_greedy(tiny_world: dict[str, Path], tmp_path: Path) -> None:
    common = dict(checkpoint=str(tiny_world["model"]), data=str(tiny_world["data"] / "test.jsonl"),
                  objective="grpo", seed=3, benchmark="math", max_new_tokens=24, batch_size=64)
    a = evaluate.run_evaluation(out=str(tmp_path / "a.json"), samples=3, temperature=1.0, **common)
    b = evaluate.run_evaluation(out=str(tmp_path / "b.json"), samples=3, temperature=1.0, **common)
    g = evaluate.run_evaluation(out=str(tmp_path / "g.json"), **common)
    assert a["items"] == b["items"]  # same seed, same draws
    assert a["decoding"]["metric"] == "avg@3" and a["decoding"]["greedy"] is False
    assert g["decoding"]["greedy"] is True and "draws" not in g["items"][0]
    assert all(len(r["draws"]) == 3 for r in a["items"])
    for r in a["items"]:
        assert abs(r["score"] - sum(d[0] for d in r["draws"]) / 3) < 1e-12
    assert json.loads((tmp_path / "a.json").read_text())["accuracy"] == a["accuracy"]
    # the draws differ between items' samples somewhere (a sampler, not greedy three times)
    assert any(len({d[1] for d in r["draws"]}) > 1 for r in a["items"])
