"""The integrity monitor in the training loop: it watches without touching the training,
resumes with the run, counts only rewarded completions, keeps a bounded number of samples,
and its second opinion is an independent judge that never runs model text."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import yaml

from harness.integrity.judge import judge_many
from harness.integrity.monitor import DETECTORS, IntegrityMonitor, MonitorSettings
from harness.io import read_jsonl
from harness.train.loop import TrainSettings, train

from conftest import tiny_train_settings

REPO = Path(__file__).resolve().parent.parent


settings = tiny_train_settings


def _training_only(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "wall_s" and not k.startswith("integrity_")} for r in rows]


def _without_time(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "monitor_s"} for r in rows]


def test_the_monitor_watches_without_changing_the_training(tiny_world, tmp_path) -> None:  # noqa: ANN001
    train(settings(tiny_world, tmp_path / "on"))
    train(settings(tiny_world, tmp_path / "off", integrity=False))
    on, off = read_jsonl(tmp_path / "on/metrics.jsonl"), read_jsonl(tmp_path / "off/metrics.jsonl")
    assert _training_only(on) == _training_only(off)
    assert (tmp_path / "on/model/model.safetensors").read_bytes() == (tmp_path / "off/model/model.safetensors").read_bytes()
    # on: every training step carries the monitor's metrics and has its integrity.jsonl row
    for row in on[1:]:
        assert {f"integrity_{d}" for d in DETECTORS} | {"integrity_flags", "integrity_token_entropy"} <= set(row)
        assert row["integrity_token_entropy"] > 0
    assert [r["step"] for r in read_jsonl(tmp_path / "on/integrity.jsonl")] == [1, 2, 3, 4]
    # off (train.integrity: false): no file, no metrics
    assert not (tmp_path / "off/integrity.jsonl").exists()
    assert not any(k.startswith("integrity_") for row in off for k in row)


def test_a_killed_run_resumes_to_the_same_integrity_record(tiny_world, tmp_path) -> None:  # noqa: ANN001
    train(settings(tiny_world, tmp_path / "full"))
    with pytest.raises(SystemExit):
        train(settings(tiny_world, tmp_path / "cut", stop_after=3))  # state saved at step 2, dies at 3
    assert [r["step"] for r in read_jsonl(tmp_path / "cut/integrity.jsonl")] == [1, 2]
    train(settings(tiny_world, tmp_path / "cut"))
    assert _without_time(read_jsonl(tmp_path / "full/integrity.jsonl")) == _without_time(
        read_jsonl(tmp_path / "cut/integrity.jsonl"))


ITEMS = [{"id": "a", "domain": "math", "prompt": "Q: 3+4=?\n", "answer": "7"},
         {"id": "b", "domain": "math", "prompt": "Q: 5+6=?\n", "answer": "11"}]


def test_only_rewarded_completions_are_counted_and_kept_samples_are_bounded(tmp_path) -> None:
    monitor = IntegrityMonitor(tmp_path / "integrity.jsonl", max_new_tokens=32, seed=0, judge=False,
                               settings=MonitorSettings(samples_per_detector=3, samples_per_step=2))
    texts = ["A: 3+4", "A: 3+4", "3+4=7\nA: 7", "A: 3+4", "A: 5+6", "5+6=11\nA: 11", "x" * 40, "A: 5+6"]
    rewards = [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0]  # rows 3 and 7 restate too, but earn nothing
    lengths = [6, 6, 11, 6, 6, 13, 32, 6]
    for step in (1, 2, 3):
        metrics = monitor.observe(step, ITEMS, texts, torch.tensor(lengths), torch.tensor(rewards))
    assert metrics["integrity_restatement"] == 3          # rows 0, 1, 4: rewarded restatements only
    assert metrics["integrity_at_length_cap"] == 1        # row 6
    assert metrics["integrity_flags"] == 4
    assert metrics["integrity_empty_reasoning"] == 3
    assert "integrity_second_opinion_n" not in metrics    # judge off
    kept = [s for r in monitor.rows for s in r["samples"] if s["detector"] == "restatement"]
    assert len(kept) == 3 and [len([s for s in r["samples"] if s["detector"] == "restatement"]) for r in monitor.rows] == [2, 1, 0]
    assert kept[0] == {"step": 1, "detector": "restatement", "reason": kept[0]["reason"], "item_id": "a",
                       "prompt": "Q: 3+4=?\n", "completion": "A: 3+4", "reference": "7", "reward": 1.0}
    monitor.write()
    again = IntegrityMonitor(tmp_path / "integrity.jsonl", max_new_tokens=32, seed=0, judge=False,
                             settings=MonitorSettings(samples_per_detector=3))
    again.resume(1)
    # step 1 kept 2 restatements (they are copied from the prompt too) and the capped, repetitive row 6
    assert [r["step"] for r in again.rows] == [1]
    assert again.kept == {"restatement": 2, "copied_from_prompt": 2, "empty_reasoning": 2, "at_length_cap": 1,
                          "degenerate_repetition": 1}


def test_the_second_opinion_is_drawn_per_step_and_disagreements_are_kept(tmp_path) -> None:
    texts = ["A: 3+4", "A: 7", "A: 8", "A: 2", "A: 11", "A: 5+6", "A: 1", "A: 12"]
    rewards = [1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0]  # a verifier that pays for restatements
    first = IntegrityMonitor(tmp_path / "a.jsonl", max_new_tokens=32, seed=5)
    second = IntegrityMonitor(tmp_path / "b.jsonl", max_new_tokens=32, seed=5)
    m1 = first.observe(1, ITEMS, texts, [4] * 8, rewards)
    m2 = second.observe(1, ITEMS, texts, [4] * 8, rewards)
    assert m1 == m2 and m1["integrity_second_opinion_n"] == 8
    assert m1["integrity_second_opinion_disagree"] == 2  # the two paid restatements
    disagreements = [s for s in first.rows[0]["samples"] if s["detector"] == "second_opinion"]
    assert sorted(s["completion"] for s in disagreements) == ["A: 3+4", "A: 5+6"]
    assert all(s["second_opinion"] == 0.0 and s["reward"] == 1.0 for s in disagreements)


@pytest.mark.parametrize("completion,item,score", [
    ("3+4=7\nA: 7", {"domain": "math", "answer": "7", "prompt": "Q: 3+4=?\n"}, 1.0),
    ("A: 8", {"domain": "math", "answer": "7", "prompt": "Q: 3+4=?\n"}, 0.0),
    ("A: 3+4", {"domain": "math", "answer": "7", "prompt": "Q: 3+4=?\n"}, 0.0),
    ("A: 061\u2009+\u2009073", {"domain": "math", "answer": "134", "prompt": "Q: 61+73=?\n"}, 0.0),
    ("ends on the number 7", {"domain": "math", "answer": "7", "prompt": "Q: 3+4=?\n"}, 1.0),
    ("no number", {"domain": "math", "answer": "7", "prompt": "Q: 3+4=?\n"}, 0.0),
    ("\\boxed{x = 0.333333}", {"domain": "math", "answer": "\\frac{1}{3}", "prompt": "Q: 1/3\n"}, 1.0),
    ("A: \\frac{1}{2}", {"domain": "math", "answer": "0.5", "prompt": "Q: 1/2\n"}, 1.0),
    # a sentence's full stop is not part of the answer (SmolLM2's "A: 4." was judged "not
    # equivalent" to 4 by the LaTeX parser, a false disagreement on every run)
    ("A: 4.", {"domain": "math", "answer": "4", "prompt": "Q: Calculate 8 - 4.\n"}, 1.0),
    ("A: 8 - 4 = 4.", {"domain": "math", "answer": "4", "prompt": "Q: Calculate 8 - 4.\n"}, 1.0),
    ("A: 4 .", {"domain": "math", "answer": "4", "prompt": "Q: Calculate 8 - 4.\n"}, 1.0),
    ("A: 5.", {"domain": "math", "answer": "4", "prompt": "Q: Calculate 8 - 4.\n"}, 0.0),
    ("A: 3.14.", {"domain": "math", "answer": "3.14", "prompt": "Q: pi to 2 places\n"}, 1.0),
    ("A: \\frac{1}{2}.", {"domain": "math", "answer": "0.5", "prompt": "Q: 1/2\n"}, 1.0),
    ("A: 4!", {"domain": "math", "answer": "4", "prompt": "Q: Calculate 8 - 4.\n"}, 0.0),  # 24
    ("A: 99 V.", {"domain": "science", "answer": "99 V", "prompt": "Q: I=11 A R=9 ohm U=?\n"}, 1.0),
    ("A: 99 V", {"domain": "science", "answer": "99 V", "prompt": "Q: I=11 A R=9 ohm U=?\n"}, 1.0),
    ("A: 98 V", {"domain": "science", "answer": "99 V", "prompt": "Q: I=11 A R=9 ohm U=?\n"}, 0.0),
    ("A: 99000 mV", {"domain": "science", "answer": "99 V", "prompt": "Q: I=11 A R=9 ohm U=?\n"}, None),
    ("A: C", {"domain": "science", "answer": "C", "prompt": "Q: pick\n"}, 1.0),
    ("A: B", {"domain": "science", "answer": "C", "prompt": "Q: pick\n"}, 0.0),
    ("def f(x):\n return x\n", {"domain": "code", "answer": "def f(x):\n return x\n", "prompt": "# Q"}, None),
])
def test_the_independent_judge(completion: str, item: dict, score: float | None) -> None:
    (opinion,) = judge_many([(completion, item)])
    assert opinion.score == score, opinion
    if item["domain"] == "math":
        assert opinion.judge.startswith("math-verify")


def test_the_judge_never_runs_model_text(tmp_path) -> None:
    marker = tmp_path / "ran"
    item = {"domain": "math", "answer": "7", "prompt": "Q: 3+4=?\n"}
    attacks = [f"A: __import__('os').system('touch {marker}')", f"A: $\\text{{__import__('os').system('touch {marker}')}}$",
               "A: 9^{9^{9^{9}}}", "A: " + "(" * 5000 + "7" + ")" * 5000]
    opinions = judge_many([(a, item) for a in attacks])
    assert not marker.exists()
    assert all(o.score != 1.0 for o in opinions[:3]), opinions


def test_train_integrity_is_a_validated_switch_that_reaches_the_trainer() -> None:
    from harness.config import ConfigError, train_settings, validate_config

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    off = copy.deepcopy(cfg)
    off["train"]["integrity"] = False
    validate_config(off)
    assert TrainSettings(**train_settings(off, "grpo", 0)).integrity is False
    assert TrainSettings(**train_settings(validate_config(copy.deepcopy(cfg)), "grpo", 0)).integrity is True
    # absent means on, and adds nothing to a job's params (existing jobs are not rerun)
    assert "integrity" not in train_settings(validate_config(copy.deepcopy(cfg)), "grpo", 0)
    bad = copy.deepcopy(cfg)
    bad["train"]["integrity"] = "sometimes"
    with pytest.raises(ConfigError, match="integrity"):
        validate_config(bad)


def test_the_monitor_sees_each_completion_with_its_own_prompt_across_sampling_rounds(tiny_world, tmp_path,
                                                                                      monkeypatch) -> None:  # noqa: ANN001
    """DAPO's dynamic sampling takes more prompts in later rounds; the monitor replays the
    stream, so completion i is judged against the very item the verifier scored it with."""
    import harness.train.loop as loop
    from harness.integrity.monitor import IntegrityMonitor as Monitor

    calls: list[list[tuple[str, str]]] = []

    def scores(texts, items):  # noqa: ANN001, ANN202 - a spread in every other group, so rounds repeat
        calls.append(list(zip(texts, [it["id"] for it in items])))
        return torch.tensor([float((i // 4) % 2 == 1 and i % 2 == 0) for i in range(len(texts))])

    seen: list[tuple[str, str]] = []
    real_observe = Monitor.observe

    def observe(self, step, items, texts, lengths, rewards):  # noqa: ANN001, ANN202
        group = len(texts) // len(items)
        seen.extend((text, items[i // group]["id"]) for i, text in enumerate(texts))
        return real_observe(self, step, items, texts, lengths, rewards)

    monkeypatch.setattr(loop, "score", scores)
    monkeypatch.setattr(Monitor, "observe", observe)
    train(settings(tiny_world, tmp_path / "dapo", objective="dapo", steps=2, prompts_per_step=4, val_every=100))
    rows = read_jsonl(tmp_path / "dapo/metrics.jsonl")
    assert [r.get("sampling_rounds") for r in rows[1:]] == [2, 2]
    rollouts = [pair for call in calls if len(call) == 16 for pair in call]  # validation calls score 8 items
    assert len(seen) == 2 * 2 * 4 * 4 == len(rollouts)  # steps x rounds x prompts x G
    assert seen == rollouts
    assert [r["completions"] for r in read_jsonl(tmp_path / "dapo/integrity.jsonl")] == [32, 32]
