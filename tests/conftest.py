"""Shared fixtures: a tiny world (model + data) built in a temp dir, once per session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parent.parent

TINY_WORLD = {"lo": 1, "hi": 9, "min_terms": 2, "max_terms": 3}
TINY_MODEL = {"hidden_size": 32, "layers": 2, "heads": 2}


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Data splits and a briefly warm-started tiny model (seconds on one thread)."""
    from harness.tasks import write_suite
    from harness.train.base_model import build_base_model

    root = tmp_path_factory.mktemp("world")
    write_suite("math", root / "data", TINY_WORLD)
    build_base_model(
        suites={"math": {"train": str(root / "data/train.jsonl"), "validation": str(root / "data/validation.jsonl")}},
        out_dir=str(root / "base"), model=TINY_MODEL,
        warmstart={"steps": 20, "batch_size": 16, "lr": 3e-3, "warmup_steps": 5, "seed": 0, "threads": 1},
        world=TINY_WORLD, max_new_tokens=40, val_prompts=16,
    )
    return {"root": root, "data": root / "data", "model": root / "base" / "model"}


def tiny_train_settings(world: dict[str, Path], out: Path, **overrides: object):  # noqa: ANN201
    """TrainSettings for a few fast GRPO steps on ``tiny_world``; keyword arguments override.

    A plain function (tests import it: ``from conftest import tiny_train_settings``), shared by
    the training-loop and integrity tests.
    """
    from harness.train.loop import TrainSettings

    base: dict[str, object] = dict(
        objective="grpo", seed=3, base_model=str(world["model"]), train_data=str(world["data"] / "train.jsonl"),
        validation_data=str(world["data"] / "validation.jsonl"), out_dir=str(out), steps=4, prompts_per_step=2,
        group_size=4, max_new_tokens=32, lr=1e-3, val_every=2, val_prompts=8, ckpt_every=2,
    )
    base.update(overrides)
    return TrainSettings(**base)
