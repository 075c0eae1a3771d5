"""benchmarks/gpu_check.py on a machine without CUDA: the CUDA parts skip with their reason,
the rest runs tiny in fp32 and passes, and a fast path that disagrees with HF's forward
makes it exit non-zero (~10 s per run)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "gpu_check.py"

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: run benchmarks/gpu_check.py itself")


def run(*args: str, prelude: str = "") -> subprocess.CompletedProcess:
    code = f"{prelude}\nimport runpy, sys\nsys.argv = [{str(SCRIPT)!r}, *sys.argv[1:]]\nrunpy.run_path({str(SCRIPT)!r}, run_name='__main__')"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600, env=env, cwd=REPO)


def test_without_cuda_the_check_skips_the_cuda_parts_and_passes_the_rest(tmp_path: Path) -> None:
    res = run("--json", str(tmp_path / "check.json"))
    out = res.stdout
    assert res.returncode == 0, out + res.stderr[-2000:]
    assert "SKIP  CUDA parts: no CUDA device" in out
    assert "SKIP  vLLM weight sync: no CUDA device" in out and "SKIP  MFU: no CUDA device" in out
    for check in ("KV-cache decode vs HF forward (float32 on cpu)", "shared-prompt log-prob forward vs HF",
                  "shared-prompt gradient vs HF", "RL training, grpo", "RL training, length_penalty_control"):
        assert f"PASS  {check}" in out, check
    assert "FAIL" not in out and out.rstrip().endswith("gpu_check: PASS")
    figures = json.loads((tmp_path / "check.json").read_text())
    assert figures["verdict"] == "PASS" and figures["rollout_tokens_per_s"] > 0 and figures["train_tokens_per_s"] > 0


def test_a_fast_path_that_disagrees_with_hf_fails_the_check() -> None:
    # positions doubled in the KV-cache paths (a RoPE bug): HF's forward is untouched
    bug = ("import harness.rollout.kvdecode as k\n_p = k.position_ids_from_mask\n"
           "k.position_ids_from_mask = lambda mask: _p(mask) * 2")
    res = run(prelude=bug)
    assert res.returncode == 1, res.stdout
    assert "FAIL  KV-cache decode vs HF forward" in res.stdout and "gpu_check: FAIL" in res.stdout


def test_asking_for_cuda_without_it_is_a_clear_failure() -> None:
    res = run("--device", "cuda")
    assert res.returncode == 1 and "FAIL  CUDA: --device cuda but torch sees no CUDA device" in res.stdout
