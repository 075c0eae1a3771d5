"""The Snakemake workflow end to end on a mini config: outputs, no-op rerun, incremental objectives."""
from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def mini_config(objectives: list[str], *, controls: bool = False) -> dict:
    """smoke.yaml cut down to ``objectives`` (plus the calibration controls if asked)."""
    cfg = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    cfg["comparison"] = "mini"
    smoke_objectives = cfg["objectives"]
    cfg["objectives"] = {o: {} for o in objectives}
    if controls:
        cfg["objectives"].update({name: smoke_objectives[name] for name in cfg["calibration"].values()})
    else:
        cfg.pop("calibration", None)
    cfg["seeds"] = [0, 1]
    cfg["warmstart"].update(steps=20)
    cfg["train"].update(steps=2, val_every=1, ckpt_every=1)
    cfg["report"]["baseline_objectives"] = ["grpo"]
    return cfg


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [str(BIN / "snakemake"), "--cores", "2", "--configfile", "mini.yaml", *args],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=900,
    )


def planned_jobs(dry_run_output: str) -> dict[str, int]:
    """Parse Snakemake's 'Job stats' table of a dry run: rule -> count."""
    jobs: dict[str, int] = {}
    block = dry_run_output.split("Job stats:")[-1]
    for line in block.splitlines():
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if m and m.group(1) != "total":
            jobs[m.group(1)] = int(m.group(2))
    return jobs


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wd = tmp_path_factory.mktemp("wf")
    for name in ("Snakefile", "workflow", "config"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, wd / name)
    (wd / "mini.yaml").write_text(yaml.safe_dump(mini_config(["grpo", "dapo"], controls=True)))
    res = snakemake(wd)
    assert res.returncode == 0, res.stderr[-3000:]
    return wd


def test_workflow_writes_leaderboard_audit_plots_and_one_mlflow_run_per_job(workdir: Path) -> None:
    r = workdir / "results"
    for name in ("leaderboard.md", "leaderboard.html", "audit.md", "summary.json", "mlflow.db"):
        assert (r / name).exists(), name
    assert list((r / "plots").glob("*.png"))
    board = (r / "leaderboard.md").read_text()
    assert "grpo" in board and "dapo" in board
    con = sqlite3.connect(r / "mlflow.db")
    names = sorted(n for (n,) in con.execute("select name from runs where lifecycle_stage='active'"))
    con.close()
    for obj in ("grpo", "dapo"):
        for seed in (0, 1):
            assert sum(n.split("/")[0] == obj and f"seed{seed}" in n for n in names) == 1, names


def test_every_run_writes_its_calibration_and_keeps_controls_off_the_leaderboard(workdir: Path) -> None:
    """The A/A and positive controls are trained like any entry, judged in calibration.json and
    the leaderboard's calibration section, and never ranked or audited as objectives."""
    r = workdir / "results"
    assert (r / "runs" / "grpo_aa" / "seed1" / "run.json").exists()
    run = json.loads((r / "runs" / "grpo_lenpen" / "seed0" / "run.json").read_text())
    assert run["registered_objective"] == "length_penalty_control" and run["objective"] == "grpo_lenpen"
    cal = json.loads((r / "calibration.json").read_text())
    assert {"aa", "positive", "mde", "rl_gain"} <= set(cal)
    board = (r / "leaderboard.md").read_text()
    assert "## Calibration" in board
    tables = [line for line in board.split("## Calibration")[0].splitlines() if line.startswith("|")]
    assert tables and not any("grpo_aa" in line or "grpo_lenpen" in line for line in tables)
    assert "grpo_aa" not in (r / "audit.md").read_text()


def test_second_run_does_nothing(workdir: Path) -> None:
    res = snakemake(workdir, "-n")
    assert res.returncode == 0
    assert "Nothing to be done" in res.stdout + res.stderr


def test_adding_an_objective_plans_only_its_jobs_and_the_report(workdir: Path) -> None:
    (workdir / "mini3.yaml").write_text(yaml.safe_dump(mini_config(["grpo", "dapo", "hmpo"], controls=True)))
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    res = subprocess.run([str(BIN / "snakemake"), "-n", "--cores", "2", "--configfile", "mini3.yaml"],
                         cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    jobs = planned_jobs(res.stdout + res.stderr)
    assert jobs == {"all": 1, "train": 2, "evaluate": 2, "report": 1, "credit": 1}, jobs
    out = res.stdout + res.stderr
    # hmpo trains; grpo is not retrained (the credit rule reads grpo's checkpoint, so look at outputs only)
    assert "output: results/runs/hmpo/seed0/" in out and "output: results/runs/grpo/" not in out


def test_same_config_and_seed_give_identical_evaluation_json(workdir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "OMP_NUM_THREADS": "1"}
    target = "results/eval/grpo/seed0/math.json"
    first = (workdir / target).read_bytes()
    res = subprocess.run([str(BIN / "snakemake"), "--cores", "2", "--configfile", "mini.yaml", "--forcerun", "train", "--until", "evaluate", target],
                         cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert (workdir / target).read_bytes() == first
