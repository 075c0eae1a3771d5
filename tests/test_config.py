"""Bad configs fail before any job runs, naming the file, the key and what is allowed."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from harness.config import ConfigError, load_config, validate_config

REPO = Path(__file__).resolve().parent.parent
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def mutate(path: str, value, *, delete: bool = False) -> dict:
    cfg = copy.deepcopy(DEFAULT)
    keys = path.split(".")
    node = cfg
    for k in keys[:-1]:
        node = node[k]
    if delete:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return cfg


BAD = [
    ("misspelled top-level key", mutate("seedz", [0]), ["seedz", "allowed"]),
    ("misspelled train key", mutate("train.learning_rate", 1e-4), ["learning_rate", "train", "allowed"]),
    ("negative lr", mutate("train.lr", -1e-4), ["train.lr"]),
    ("zero lr", mutate("train.lr", 0), ["train.lr"]),
    ("group size 1", mutate("train.group_size", 1), ["train.group_size"]),
    ("steps as string", mutate("train.steps", "ten"), ["train.steps", "integer"]),
    ("unknown objective", mutate("objectives", {"grpo": {}, "grpoo": {}}), ["grpoo", "available"]),
    ("unknown objective hyperparameter", mutate("objectives", {"grpo": {"epsilon": 0.2}}), ["objectives.grpo", "epsilon", "allowed"]),
    ("unknown benchmark", mutate("benchmarks", ["math", "gsm9k"]), ["gsm9k", "available"]),
    ("empty seeds", mutate("seeds", []), ["seeds"]),
    ("duplicate seeds", mutate("seeds", [0, 0]), ["seeds"]),
    ("negative seed", mutate("seeds", [-1]), ["seeds"]),
    ("missing train block", mutate("train", None, delete=True), ["train"]),
    ("temperature zero", mutate("train.temperature", 0), ["train.temperature"]),
    ("min_terms above max_terms", mutate("data.math.min_terms", 4), ["min_terms"]),
    ("reference objective not configured", mutate("report.reference_objective", "ppo"), ["reference_objective", "ppo"]),
    ("threshold above 1", mutate("report.convergence_threshold_frac", 1.5), ["convergence_threshold_frac"]),
    ("bad comparison name", mutate("comparison", "my comparison!"), ["comparison"]),
    ("misspelled model key", mutate("model.hidden", 64), ["hidden", "model"]),
    ("unknown data suite", mutate("data.chemistry", {}), ["data.chemistry", "available"]),
    ("misspelled code world key", mutate("data.code", {"familes": ["affine"]}), ["data.code", "familes", "allowed"]),
    ("updates per batch above prompts", mutate("train.updates_per_batch", 99), ["updates_per_batch"]),
    ("unknown warm-start suite", mutate("warmstart.suites", {"math": 1, "chem": 1}), ["warmstart.suites.chem", "available"]),
    ("warm start on humaneval", mutate("warmstart.suites", {"humaneval": 1}), ["warmstart.suites.humaneval", "test split only"]),
    ("zero warm-start weight", mutate("warmstart.suites", {"math": 0}), ["warmstart.suites.math"]),
    ("unknown train suite", mutate("train.suite", "gsm9k"), ["train.suite", "gsm9k", "available"]),
    ("RL on humaneval", mutate("train.suite", "humaneval"), ["train.suite", "test split only"]),
    ("pretrained and a size", mutate("model.pretrained", "models/x"), ["model", "pretrained", "not both"]),
    ("no size and no pretrained", mutate("model.layers", None, delete=True), ["model", "layers", "pretrained"]),
    ("built model without warm start", mutate("warmstart.steps", 0), ["warmstart.steps", "at least 1"]),
    ("micro-batch not whole groups", mutate("train.micro_batch_size", 12), ["micro_batch_size", "multiple", "group_size"]),
    ("unknown rollout backend", mutate("rollout", {"backend": "sglang"}), ["rollout.backend"]),
    ("unknown device", mutate("device", "tpu"), ["device"]),
    ("misspelled prompt format key", mutate("model.prompt_format", {"chat_template": True}), ["chat_template", "prompt_format"]),
]


@pytest.mark.parametrize("name,cfg,expected", BAD, ids=[b[0] for b in BAD])
def test_bad_config_fails_naming_the_key(name: str, cfg: dict, expected: list[str], tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert str(path) in msg
    for fragment in expected:
        assert fragment in msg, f"{fragment!r} not in message:\n{msg}"


def test_objective_hyperparameter_checks_run_at_validation() -> None:
    from harness import objectives

    if "dapo" not in objectives.available():
        pytest.skip("dapo not registered yet")
    cfg = mutate("objectives", {"grpo": {}, "dapo": {"eps_low": 0.3, "eps_high": 0.2}})
    with pytest.raises(ConfigError, match="objectives.dapo"):
        validate_config(cfg)


@pytest.mark.parametrize("name", ["config.yaml", "smoke.yaml", "gpu.yaml"])
def test_shipped_configs_are_valid(name: str) -> None:
    load_config(REPO / "config" / name)


def test_quick_overlay_changes_only_the_steps() -> None:
    """config/quick.yaml is merged over the default as Snakemake merges two --configfile
    files (key by key); the result is a valid config that differs only in train.steps."""
    from snakemake.utils import update_config

    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    merged = copy.deepcopy(default)
    update_config(merged, yaml.safe_load((REPO / "config" / "quick.yaml").read_text()))
    validate_config(merged)
    assert merged["train"].pop("steps") == 50 and default["train"].pop("steps") == 100
    assert merged == default


def test_missing_config_file_is_named(tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
