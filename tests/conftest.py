"""Shared fixtures: a tiny world (model + data) built in a temp dir, once per session."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parent.parent

TINY_WORLD = {"lo": 1, "hi": 9, "min_terms": 2, "max_terms": 3}
TINY_MODEL = {"hidden_size": 32, "layers": 2, "heads": 2}


def numpy_hidden_from_sandbox() -> str | None:
    """Why a candidate cannot import the host's numpy, when that is the checkout's place and
    not a fault: the sandbox's host user (uid 65534 under root) cannot read the site-packages
    that holds numpy, e.g. a clone under a 0700 directory (README "Verifiers"). Asked of the
    kernel as that user; None when numpy is visible (or not installed: tests skip that)."""
    import importlib.util

    spec = importlib.util.find_spec("numpy")
    if spec is None or not spec.origin:
        return None
    from verifiers import sandbox

    site_dir = os.path.dirname(os.path.dirname(os.path.realpath(spec.origin)))
    if sandbox.readable_by_sandbox_user([site_dir]) == [True]:
        return None
    return (f"numpy's site-packages {site_dir} is not readable by the sandbox's host user (a checkout "
            "under a 0700 directory?): candidates cannot import it here; README 'Verifiers'")


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


# ---------------------------------------------------------------- workflow dry runs
# Plain functions (``from conftest import workflow_copy, snakemake, dry_run_jobs``), shared by the
# workflow-resource and papers'-benchmark tests.

def workflow_copy(root: Path, config: dict | None = None) -> Path:
    """A copy of the workflow (Snakefile, workflow/, config/) under ``root``; ``config``, if
    given, written there as test.yaml."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "config"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name)
    if config is not None:
        (root / "test.yaml").write_text(yaml.safe_dump(config))
    return root


def snakemake(cwd: Path, *args: str, path: str | None = None, timeout: int = 600,
              prelude: str = "") -> subprocess.CompletedProcess:
    """Snakemake run as `python -m snakemake` by this interpreter (PATH as given: the venv need
    not be on it); ``prelude`` runs first in the same process (to stand in for the machine).
    Variables of the caller's shell that would steer the workflow (MLflow, GPUs, benchmark
    copies) are removed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if path is not None:
        env["PATH"] = path
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "CUDA_VISIBLE_DEVICES", "HARNESS_BENCHMARK_DIR"):
        env.pop(var, None)
    code = f"{prelude}\nimport sys\nfrom snakemake.cli import main\nsys.argv = ['snakemake', *sys.argv[1:]]\nmain()"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def dry_run_jobs(out: str) -> list[dict[str, Any]]:
    """Jobs of a ``-n -p`` dry run: rule, resources (name -> value), input and output paths,
    shell command, and the settings JSON the command passes (``--settings``; None without)."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out):
        m = re.match(r"(?:local)?rule (\w+):", block)
        if not m:
            continue
        field = {k: re.search(rf"^\s+{k}: (.*)$", block, re.M) for k in ("input", "output", "resources")}
        shell = re.search(r"^Shell command: (.*)$", block, re.M)
        words = shlex.split(shell.group(1)) if shell else []
        jobs.append({
            "rule": m.group(1),
            "resources": dict(kv.split("=", 1) for kv in field["resources"].group(1).split(", ")) if field["resources"] else {},
            "input": field["input"].group(1).split(", ") if field["input"] else [],
            "output": field["output"].group(1).split(", ") if field["output"] else [],
            "shell": shell.group(1) if shell else "",
            "settings": json.loads(words[words.index("--settings") + 1]) if "--settings" in words else None,
        })
    return jobs
