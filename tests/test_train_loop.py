"""The training loop: it learns, it is deterministic, and a killed run resumes bitwise."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from harness.io import read_jsonl
from harness.train.loop import train
from harness.train.state import CheckpointError

from conftest import tiny_train_settings

REPO = Path(__file__).resolve().parent.parent


settings = tiny_train_settings


def _without_time(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]


def test_training_writes_metrics_checkpoint_and_summary(tiny_world, tmp_path) -> None:
    out = tmp_path / "run"
    summary = train(settings(tiny_world, out))
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [0, 1, 2, 3, 4]
    assert "val_accuracy" in rows[0] and "val_accuracy" in rows[2] and "val_accuracy" in rows[4]
    assert rows[-1]["rollout_tokens"] > rows[1]["rollout_tokens"] > 0
    assert (out / "model" / "config.json").exists()
    assert json.loads((out / "run.json").read_text())["steps"] == 4 == summary["steps"]


def test_same_seed_gives_identical_metrics_and_weights(tiny_world, tmp_path) -> None:
    train(settings(tiny_world, tmp_path / "a"))
    train(settings(tiny_world, tmp_path / "b"))
    assert _without_time(read_jsonl(tmp_path / "a/metrics.jsonl")) == _without_time(read_jsonl(tmp_path / "b/metrics.jsonl"))
    a = (tmp_path / "a/model/model.safetensors").read_bytes()
    b = (tmp_path / "b/model/model.safetensors").read_bytes()
    assert a == b


def test_killed_run_resumes_to_the_same_result_bitwise(tiny_world, tmp_path) -> None:
    train(settings(tiny_world, tmp_path / "full"))
    with pytest.raises(SystemExit):
        train(settings(tiny_world, tmp_path / "cut", stop_after=3))  # state saved at step 2, dies at 3
    train(settings(tiny_world, tmp_path / "cut"))
    assert _without_time(read_jsonl(tmp_path / "full/metrics.jsonl")) == _without_time(read_jsonl(tmp_path / "cut/metrics.jsonl"))
    assert (tmp_path / "full/model/model.safetensors").read_bytes() == (tmp_path / "cut/model/model.safetensors").read_bytes()


def test_corrupt_resume_state_is_a_clear_error_not_a_silent_restart(tiny_world, tmp_path) -> None:
    out = tmp_path / "run"
    with pytest.raises(SystemExit):
        train(settings(tiny_world, out, stop_after=2))
    (out / "state" / "state.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="unreadable"):
        train(settings(tiny_world, out))


def test_reward_signal_moves_the_model_and_no_signal_leaves_it(tiny_world, tmp_path, monkeypatch) -> None:
    import harness.train.loop as loop
    from harness.model import load_checkpoint

    before, _ = load_checkpoint(tiny_world["model"])
    train(settings(tiny_world, tmp_path / "flat", steps=2, lr=1e-2))  # untrained: every reward 0
    flat, _ = load_checkpoint(tmp_path / "flat" / "model")
    assert all(torch.equal(p, q) for p, q in zip(before.parameters(), flat.parameters()))

    monkeypatch.setattr(loop, "score", lambda texts, items: torch.tensor([float(i % 2) for i in range(len(texts))]))
    train(settings(tiny_world, tmp_path / "run", steps=2, lr=1e-2))
    after, _ = load_checkpoint(tmp_path / "run" / "model")
    diffs = [float((p - q).abs().max()) for p, q in zip(before.parameters(), after.parameters())]
    assert max(diffs) > 0


def test_dynamic_sampling_refills_the_batch_with_groups_that_have_a_reward_spread(tiny_world, tmp_path, monkeypatch) -> None:
    """DAPO drops groups whose rewards are all equal; the loop samples more prompts until
    prompts_per_step groups survive (at most max_sampling_rounds rounds) and trains on those."""
    import harness.train.loop as loop

    calls: list[int] = []
    seen_items: list[list[str]] = []

    def scores(texts, items):  # noqa: ANN001
        # the 1st and 3rd prompts of every round are all wrong (dropped), the others spread
        calls.append(len(texts))
        seen_items.append([it["id"] for it in items])
        return torch.tensor([float((i // 4) % 2 == 1 and i % 2 == 0) for i in range(len(texts))])

    monkeypatch.setattr(loop, "score", scores)
    loop.train(settings(tiny_world, tmp_path / "dapo", objective="dapo", steps=2, prompts_per_step=4, val_every=100))
    rows = [json.loads(x) for x in (tmp_path / "dapo" / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["step"] > 0]
    # 2 of 4 groups survive per round: two rounds fill the 4 groups of a step
    assert [r["groups_kept"] for r in train_rows] == [4, 4]
    assert [r["sampling_rounds"] for r in train_rows] == [2, 2]
    rollout_calls = [n for n in calls if n == 16]
    assert len(rollout_calls) == 4
    # every round takes fresh prompts from the stream
    rounds = [ids for ids, n in zip(seen_items, calls) if n == 16]
    assert len({i for ids in rounds for i in ids}) == 16
    # rollout cost counts every sampled token, dropped groups included
    assert train_rows[-1]["rollout_tokens"] > 0

    calls.clear()
    loop.train(settings(tiny_world, tmp_path / "capped", objective="dapo", steps=1, prompts_per_step=4, val_every=100,
                        max_sampling_rounds=1))
    rows = [json.loads(x) for x in (tmp_path / "capped" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["groups_kept"] == 2 and "sampling_rounds" not in rows[-1]


def test_objectives_that_keep_every_group_sample_once_per_step(tiny_world, tmp_path, monkeypatch) -> None:
    import harness.train.loop as loop

    calls: list[int] = []
    real = loop.sample
    monkeypatch.setattr(loop, "sample", lambda *a, **k: calls.append(1) or real(*a, **k))
    loop.train(settings(tiny_world, tmp_path / "grpo", steps=2, val_every=100))
    assert len(calls) == 2


def test_tepo_mask_sees_only_real_entropy_change(tiny_world, tmp_path, monkeypatch) -> None:
    """The sampling policy's entropies are computed over the training passes' own row sets, so
    unchanged weights give exactly H == H_old: with lr 0 the mask never fires, with a real
    update it fires on the second minibatch."""
    from harness.train import loop

    # alternate right/wrong so every group has positive-advantage tokens (the tiny model scores ~0)
    monkeypatch.setattr(loop, "score", lambda texts, items: torch.tensor([float(i % 2) for i in range(len(texts))]))
    common = dict(objective="tepo", steps=3, prompts_per_step=4, group_size=4, updates_per_batch=2, val_every=3,
                  micro_batch_size=8, hyperparams={"beta": 0.04})
    # no margin at all: any float difference between the two passes would fire the mask
    train(settings(tiny_world, tmp_path / "frozen", lr=0.0,
                   **{**common, "hyperparams": {"beta": 0.04, "entropy_atol": 0.0, "entropy_rtol": 0.0}}))
    train(settings(tiny_world, tmp_path / "moving", lr=1e-2, **common))
    frozen = [r for r in read_jsonl(tmp_path / "frozen/metrics.jsonl") if r["step"] > 0]
    moving = [r for r in read_jsonl(tmp_path / "moving/metrics.jsonl") if r["step"] > 0]
    assert all(r["kl_mask_frac"] == 0.0 for r in frozen), [r["kl_mask_frac"] for r in frozen]
    assert any(r["kl_mask_frac"] > 0.0 for r in moving), [r["kl_mask_frac"] for r in moving]
    assert json.loads((tmp_path / "moving/run.json").read_text())["mechanism"] == ["kl_mask_frac"]


def test_sampled_validation_is_avg_at_k_and_leaves_the_training_stream_alone(tiny_world, tmp_path) -> None:
    """val_samples k: k draws per item; near-zero temperature reproduces greedy decoding, the
    draws do not consume the training generator, and a run with sampled validation trains the
    same weights as one with greedy validation (validation never steers training)."""
    from harness.model import load_checkpoint
    from harness.train.loop import validation_accuracy

    model, tok = load_checkpoint(tiny_world["model"])
    items = read_jsonl(tiny_world["data"] / "validation.jsonl")[:12]
    greedy = validation_accuracy(model, tok, items, settings(tiny_world, tmp_path), 0)
    assert greedy["val_n"] == 12 and "val_samples" not in greedy
    state = torch.get_rng_state()
    cold = validation_accuracy(model, tok, items, settings(tiny_world, tmp_path, val_samples=3, val_temperature=1e-4), 5)
    assert torch.equal(torch.get_rng_state(), state)  # the training stream did not move
    assert cold["val_samples"] == 3 and cold["val_n"] == 12
    assert cold["val_accuracy"] == greedy["val_accuracy"] and cold["val_length"] == greedy["val_length"]
    hot = settings(tiny_world, tmp_path, val_samples=3, val_temperature=3.0)
    first, again = validation_accuracy(model, tok, items, hot, 5), validation_accuracy(model, tok, items, hot, 5)
    assert first == again  # seeded by (seed, step)
    assert first["val_length"] != greedy["val_length"]  # at temperature 3 the draws differ from greedy
    # accuracy is a mean over 12 x 3 draws: a multiple of 1/36
    assert abs(first["val_accuracy"] * 36 - round(first["val_accuracy"] * 36)) < 1e-5  # float32 mean

    train(settings(tiny_world, tmp_path / "greedy"))
    train(settings(tiny_world, tmp_path / "sampled", val_samples=2))
    assert (tmp_path / "greedy/model/model.safetensors").read_bytes() == (tmp_path / "sampled/model/model.safetensors").read_bytes()
    rows = read_jsonl(tmp_path / "sampled/metrics.jsonl")
    assert [r.get("val_samples") for r in rows if "val_accuracy" in r] == [2, 2, 2]


def test_a_resume_state_of_other_settings_is_not_continued(tiny_world, tmp_path, capsys) -> None:
    # A rerun after a config change (here the learning rate) finds the old run's state. It
    # must start over, not report the old run's continuation under the new settings.
    out = tmp_path / "run"
    with pytest.raises(SystemExit):
        train(settings(tiny_world, out, stop_after=3, lr=1e-4))  # state saved at step 2
    train(settings(tiny_world, out, lr=3e-4))
    assert "starting over" in capsys.readouterr().out
    train(settings(tiny_world, tmp_path / "fresh", lr=3e-4))
    assert _without_time(read_jsonl(out / "metrics.jsonl")) == _without_time(read_jsonl(tmp_path / "fresh/metrics.jsonl"))
    assert (out / "model/model.safetensors").read_bytes() == (tmp_path / "fresh/model/model.safetensors").read_bytes()


def test_the_identity_covers_the_shared_parts_an_objective_uses_and_not_other_objectives() -> None:
    """GRPO's loss lives in grpo.py and the shared parts.py; the length-penalty control
    subclasses GRPO, so grpo.py is one of its sources too; TEPO's file is neither's."""
    from harness import objectives
    from harness.train.loop import objective_sources

    root = Path(objectives.__file__).parent
    names = {o: {str(f.relative_to(root)) for f in objective_sources(objectives.get(o))}
             for o in ("grpo", "length_penalty_control")}
    assert names["grpo"] == {"__init__.py", "grpo.py", "parts.py"}
    assert names["length_penalty_control"] == {"__init__.py", "grpo.py", "parts.py", "length_penalty_control.py"}


def test_an_edit_of_the_shared_parts_is_a_new_identity(tiny_world, tmp_path, monkeypatch) -> None:
    from harness import objectives
    from harness.train import loop

    s = settings(tiny_world, tmp_path / "run")
    grpo = objectives.get("grpo")
    before = loop.resume_identity(s, grpo)
    assert set(before["inputs"]["objective_parts"]) == {"__init__.py", "parts.py"}
    real = loop._digest_file
    monkeypatch.setattr(loop, "_digest_file", lambda path: "edited" if Path(path).name == "parts.py" else real(path))
    after = loop.resume_identity(s, grpo)
    assert after["inputs"]["objective_parts"]["parts.py"] == "edited" and after != before


def test_a_changed_warm_start_or_objective_source_is_a_new_identity(tiny_world, tmp_path) -> None:
    import os

    from harness import objectives
    from harness.train.loop import resume_identity

    s = settings(tiny_world, tmp_path / "run")
    grpo = objectives.get("grpo")
    before = resume_identity(s, grpo)
    assert resume_identity(settings(tiny_world, tmp_path / "elsewhere", steps=99, ckpt_every=7), grpo) == before
    assert resume_identity(s, objectives.get("dapo")) != before  # another objective's source file
    weights = Path(s.base_model) / "model.safetensors"
    st = weights.stat()
    try:
        os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # the warm start was rewritten
        assert resume_identity(s, grpo)["inputs"]["base_model"] != before["inputs"]["base_model"]
    finally:
        os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_more_steps_continue_a_finished_run_exactly(tiny_world, tmp_path) -> None:
    # steps is not part of the identity: extending a run resumes its last state, and equals
    # a run trained to the longer length from the start (constant learning rate)
    train(settings(tiny_world, tmp_path / "long", steps=6))
    train(settings(tiny_world, tmp_path / "ext", steps=4))
    train(settings(tiny_world, tmp_path / "ext", steps=6))
    assert _without_time(read_jsonl(tmp_path / "long/metrics.jsonl")) == _without_time(read_jsonl(tmp_path / "ext/metrics.jsonl"))
    assert (tmp_path / "long/model/model.safetensors").read_bytes() == (tmp_path / "ext/model/model.safetensors").read_bytes()
