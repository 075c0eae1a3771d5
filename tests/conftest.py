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


@pytest.fixture(scope="module")
def tiny() -> tuple[torch.nn.Module, object]:
    """An untrained tiny Llama (hidden 32, 2 layers, seed 0) and the char tokenizer, once per module."""
    from harness.model import build_char_tokenizer, build_tiny_llama

    tok = build_char_tokenizer()
    torch.manual_seed(0)
    return build_tiny_llama(len(tok), {"hidden_size": 32, "layers": 2, "heads": 4}, tok).eval(), tok


def onpolicy_batch(rewards: list[float], lengths: list[int], group_size: int, T: int | None = None,
                   **fields: object):  # noqa: ANN201
    """On-policy RolloutBatch (log-probs 0 with grad, old = current) with these rewards and lengths;
    T defaults to the longest. Shared by the objective tests (``from conftest import onpolicy_batch``)."""
    from harness import objectives

    T = T or max(lengths)
    mask = (torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]).float()
    lp = torch.zeros(len(rewards), T, requires_grad=True)
    extras = fields.pop("extras", {})
    return objectives.RolloutBatch(
        logprobs=lp, old_logprobs=lp.detach(), mask=mask, rewards=torch.tensor(rewards), group_size=group_size,
        extras=extras, **fields,
    )
