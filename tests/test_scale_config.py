"""The GPU-shaped config path, end to end on CPU: a pretrained model directory, no warm start,
RL on a real suite, micro-batches, a vLLM backend that falls back to HF, prompt formats.

config/gpu.yaml itself needs CUDA and a 1.5B model; this runs the same keys through the same
job functions (the ones the workflow rules call) on a tiny model saved as a pretrained one.
"""
from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import pytest
import yaml

from harness import config as hc
from harness.model import build_char_tokenizer, build_tiny_llama, save_checkpoint

REPO = Path(__file__).resolve().parent.parent


def _gpu_like_config(pretrained: str) -> dict:
    cfg = yaml.safe_load((REPO / "config" / "gpu.yaml").read_text())
    cfg = copy.deepcopy(cfg)
    cfg.update(device="cpu", threads=1, seeds=[0], objectives={"grpo": {}, "dapo": {}})
    cfg["model"] = {"pretrained": pretrained, "dtype": "float32", "gradient_checkpointing": True,
                    "prompt_format": {"instruction": "A: "}}
    cfg["data"] = {"rg_basic_arithmetic": {"size": 300, "seed": 0}, "science": {}}
    cfg["train"].update(suite="rg_basic_arithmetic", steps=2, prompts_per_step=4, group_size=4, micro_batch_size=8,
                        max_new_tokens=12, val_every=2, val_prompts=6, ckpt_every=2, updates_per_batch=2)
    cfg["rollout"] = {"backend": "vllm", "gpu_memory_utilization": 0.3}
    cfg["eval"] = {"max_new_tokens": 12, "batch_size": 16, "backend": "vllm"}
    cfg["benchmarks"] = ["rg_basic_arithmetic", "science"]
    return cfg


def test_shipped_gpu_config_validates_and_names_its_keys_in_job_settings() -> None:
    cfg = hc.load_config(REPO / "config" / "gpu.yaml")
    t = hc.train_settings(cfg, "grpo", 0)
    assert t["device"] == "cuda" and t["dtype"] == "bfloat16" and t["gradient_checkpointing"] is True
    assert t["rollout"]["backend"] == "vllm" and t["micro_batch_size"] == 16
    assert t["train_data"].endswith("data/rg_gsm_symbolic/train.jsonl")
    assert "suite" not in t
    w = hc.warmstart_settings(cfg)
    assert list(w["suites"]) == ["rg_gsm_symbolic"] and w["warmstart"]["steps"] == 0
    e = hc.eval_settings(cfg, "grpo", 0, "humaneval")
    assert e["backend"] == "vllm" and e["device"] == "cuda"


def test_embedded_default_job_settings_carry_no_scale_keys() -> None:
    """CPU defaults stay out of the settings, so adding the keys did not change the default's jobs."""
    cfg = hc.load_config(REPO / "config" / "config.yaml")
    for s in (hc.train_settings(cfg, "grpo", 0), hc.eval_settings(cfg, "grpo", 0, "math"), hc.warmstart_settings(cfg)):
        assert not {"device", "dtype", "rollout", "backend", "gradient_checkpointing"} & set(s)


def test_pretrained_real_suite_micro_batched_vllm_fallback_runs_on_cpu(tmp_path, monkeypatch) -> None:
    pytest.importorskip("reasoning_gym")
    from harness.evaluate import run_evaluation
    from harness.tasks import write_suite
    from harness.train.base_model import build_base_model
    from harness.train.loop import TrainSettings, train

    monkeypatch.chdir(tmp_path)
    tok = build_char_tokenizer()
    save_checkpoint(build_tiny_llama(len(tok), {"hidden_size": 32, "layers": 1, "heads": 2}, tok), tok, "models/tiny")
    cfg = hc.validate_config(_gpu_like_config("models/tiny"))
    assert hc.pretrained_input(cfg) == ["models/tiny"]
    for suite in cfg["data"]:
        s = hc.data_settings(cfg, suite)
        write_suite(s["suite"], s["out_dir"], s["world"])

    base = build_base_model(**hc.warmstart_settings(cfg))
    assert base["log"][0]["step"] == 0 and "val_accuracy_rg_basic_arithmetic" in base["final"]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = train(TrainSettings(**hc.train_settings(cfg, "dapo", 0)))
    assert any("falling back to 'hf'" in str(w.message) for w in caught)
    assert summary["rollout_backend"] == "hf" and summary["steps"] == 2
    assert summary["config"]["micro_batch_size"] == 8 and summary["config"]["prompt_format"] == {"instruction": "A: "}

    for bench in cfg["benchmarks"]:
        res = run_evaluation(**hc.eval_settings(cfg, "dapo", 0, bench))
        assert res["n"] > 0 and 0.0 <= res["accuracy"] <= 1.0
        assert res["decoding"]["prompt_format"] == {"instruction": "A: "}
    assert json.loads(Path("results/eval/dapo/seed0/science.json").read_text())["domain"] == "science"
