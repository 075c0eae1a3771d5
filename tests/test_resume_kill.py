"""kill -9 of a training job mid-run: rerunning the workflow resumes and ends bitwise equal."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from harness.io import read_jsonl

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TARGET = "results/runs/grpo/seed0/run.json"


def make_workdir(root: Path) -> Path:
    root.mkdir(parents=True)
    for name in ("Snakefile", "workflow", "config"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name)
    cfg = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    cfg.update(objectives={"grpo": {}}, seeds=[0])
    cfg.pop("calibration", None)  # its controls are not among these objectives
    cfg["warmstart"].update(steps=20)
    cfg["train"].update(steps=30, ckpt_every=5, val_every=10)
    (root / "kill.yaml").write_text(yaml.safe_dump(cfg))
    return root


def env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "OMP_NUM_THREADS": "1"}


def snakemake_cmd() -> list[str]:
    return [str(BIN / "snakemake"), TARGET, "--cores", "1", "--configfile", "kill.yaml"]


def train_pids(workdir: Path) -> list[int]:
    """PIDs of `harness train` processes started from ``workdir``."""
    pids = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(p / "cwd")
        except OSError:
            continue
        if cwd == str(workdir) and any(c.endswith(b"harness") for c in cmd[:3]) and b"train" in cmd:
            pids.append(int(p.name))
    return pids


def test_sigkilled_training_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    full = make_workdir(tmp_path / "full")
    res = subprocess.run(snakemake_cmd(), cwd=full, env=env(), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]

    cut = make_workdir(tmp_path / "cut")
    proc = subprocess.Popen(snakemake_cmd(), cwd=cut, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = cut / "results/runs/grpo/seed0/state/state.pt"
    deadline = time.time() + 300
    killed = False
    while time.time() < deadline and proc.poll() is None:
        if state.exists():
            for pid in train_pids(cut):
                os.kill(pid, signal.SIGKILL)
                killed = True
            if killed:
                break
        time.sleep(0.02)
    proc.wait(timeout=120)
    assert killed, "the training job finished before it could be killed; make it longer"
    assert proc.returncode != 0
    assert not (cut / TARGET).exists()

    res = subprocess.run(snakemake_cmd(), cwd=cut, env=env(), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    log = (cut / "results/logs/train/grpo/seed0.log").read_text()
    assert "resuming grpo seed 0 from step" in log  # continued, not restarted

    def rows(wd: Path) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "wall_s"} for r in read_jsonl(wd / "results/runs/grpo/seed0/metrics.jsonl")]

    assert rows(cut) == rows(full)
    weights = "results/runs/grpo/seed0/model/model.safetensors"
    assert (cut / weights).read_bytes() == (full / weights).read_bytes()
