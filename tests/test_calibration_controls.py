"""The run's own controls: an A/A entry that trains the reference objective again with an
independent sampling stream, and a positive control with a known effect (a length penalty)."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import yaml

from harness import objectives
from harness.config import ConfigError, objective_entry, train_settings, validate_config
from harness.train.loop import sampling_seed

REPO = Path(__file__).resolve().parent.parent
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def with_controls(**objective_entries) -> dict:
    cfg = copy.deepcopy(DEFAULT)
    cfg["objectives"] = {"grpo": {}, "hmpo": {}, **objective_entries}
    cfg["report"]["reference_objective"] = "grpo"
    cfg["calibration"] = {"null_control": "grpo_aa", "positive_control": "grpo_lenpen"}
    return cfg


GOOD = {"grpo_aa": {"objective": "grpo", "seed_stream": 1},
        "grpo_lenpen": {"objective": "length_penalty_control", "coef": 0.5}}


def test_an_entry_trains_its_registered_objective_under_its_own_name() -> None:
    cfg = validate_config(with_controls(**GOOD))
    s = train_settings(cfg, "grpo_aa", 2)
    assert (s["objective"], s["registered_objective"], s["seed_stream"], s["hyperparams"]) == ("grpo_aa", "grpo", 1, {})
    assert s["out_dir"].endswith("runs/grpo_aa/seed2")
    lenpen = train_settings(cfg, "grpo_lenpen", 0)
    assert lenpen["registered_objective"] == "length_penalty_control" and lenpen["hyperparams"] == {"coef": 0.5}


def test_a_plain_entry_keeps_its_settings_unchanged() -> None:
    """No new keys on ordinary entries: their Snakemake params (and rerun decisions) stay as they were."""
    s = train_settings(validate_config(with_controls(**GOOD)), "hmpo", 0)
    assert "registered_objective" not in s and "seed_stream" not in s
    assert objective_entry({"objectives": {"hmpo": None}}, "hmpo") == ("hmpo", {}, 0)


@pytest.mark.parametrize("entries,fragment", [
    ({**GOOD, "grpo_aa": {"objective": "grpo"}}, "seed_stream different"),
    ({**GOOD, "grpo_aa": {"objective": "grpo", "seed_stream": 1, "eps": 0.3}}, "same hyperparameters"),
    ({**GOOD, "grpo_aa": {"objective": "hmpo", "seed_stream": 1}}, "reference objective"),
    ({"grpo_lenpen": GOOD["grpo_lenpen"]}, "calibration.null_control: 'grpo_aa' is not among objectives"),
    ({**GOOD, "grpo_lenpen": {"objective": "length_penalty_contro"}}, "objectives.grpo_lenpen.objective"),
    ({**GOOD, "grpo_lenpen": {"objective": "length_penalty_control", "coef": 1.5}}, "coef"),
])
def test_bad_controls_fail_naming_the_entry(entries: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.").replace("(", r"\(")):
        validate_config(with_controls(**entries))


def test_seed_streams_are_disjoint_from_plain_seeds() -> None:
    assert sampling_seed(3, 0) == 3
    streams = {sampling_seed(s, k) for s in range(100) for k in (1, 2)}
    assert not streams & set(range(100)) and len(streams) == 200


def _batch(lengths: list[int], rewards: list[float], T: int = 10) -> objectives.RolloutBatch:
    B = len(lengths)
    mask = torch.zeros(B, T)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1.0
    lp = torch.full((B, T), -1.0, requires_grad=True)
    return objectives.RolloutBatch(logprobs=lp, old_logprobs=lp.detach().clone(), mask=mask,
                                   rewards=torch.tensor(rewards), group_size=B,
                                   extras={"max_new_tokens": T})


def test_length_penalty_control_pays_correct_answers_less_when_longer() -> None:
    obj = objectives.get("length_penalty_control", coef=0.5)
    shaped = obj.shape_rewards(_batch([2, 4, 10, 3], [1.0, 1.0, 1.0, 0.0]))
    # by hand: 1 - 0.5 * L / 10 for correct answers, 0 for the wrong one whatever its length
    assert torch.allclose(shaped, torch.tensor([0.9, 0.8, 0.5, 0.0]))


def test_length_penalty_control_gradient_favours_the_shorter_correct_answer() -> None:
    """Two correct answers of different length: GRPO sees no difference (equal rewards, zero
    advantage); the control pushes the shorter one's log-probability up, the longer one's down."""
    batch = _batch([2, 8], [1.0, 1.0])
    grpo_loss, _ = objectives.get("grpo").loss(batch)
    grpo_loss.backward()
    assert torch.count_nonzero(batch.logprobs.grad) == 0
    batch = _batch([2, 8], [1.0, 1.0])
    loss, _ = objectives.get("length_penalty_control").loss(batch)
    loss.backward()
    g = batch.logprobs.grad
    assert (g[0, :2] < 0).all() and (g[1, :8] > 0).all()  # descent raises the short one's log-probs


def test_length_penalty_control_is_listed_with_its_provenance() -> None:
    rows = {r["name"]: r for r in objectives.provenance_table()}
    assert "calibration control" in rows["length_penalty_control"]["paper"]
