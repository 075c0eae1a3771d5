"""The papers' benchmarks (harness/tasks/specs.py) in the workflow: a config lists them in
`benchmarks:`, `eval.benchmark_dir` and `eval.sampling` say where their copies are and how
they are sampled, and each gets one evaluate job per checkpoint with no data job.

A dry run (``snakemake -n -p``) of a small config with two of them shows the jobs and their
settings; the config checks name the key that is wrong; config/gpu.yaml validates; and the
CPU configs' evaluate settings keep exactly their keys, so none of their jobs reruns.
"""
from __future__ import annotations

import copy
import inspect
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import config as hc

from conftest import dry_run_jobs, snakemake, workflow_copy

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "data" / "benchmarks"
MATH500_SAMPLING = [{"k": 2, "temperature": 0.6, "top_p": 0.95}, {"k": 1, "temperature": 0}]


def smoke_config() -> dict[str, Any]:
    """config/smoke.yaml cut to one objective and one seed (a small DAG), the config a test edits."""
    cfg = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    cfg["objectives"] = {"grpo": cfg["objectives"].get("grpo") or {}}
    cfg["seeds"] = [0]
    cfg.pop("calibration", None)
    cfg["report"] = {**cfg.get("report", {}), "reference_objective": "grpo", "baseline_objectives": ["grpo"]}
    return cfg


def spec_config() -> dict[str, Any]:
    cfg = smoke_config()
    cfg["benchmarks"] = ["math", "math500", "humaneval_plus"]
    cfg["eval"] = {**cfg["eval"], "benchmark_dir": str(FIXTURES), "sampling": {"math500": MATH500_SAMPLING}}
    return cfg


# ---------------------------------------------------------------- the dry run

@pytest.fixture(scope="module")
def spec_dry_run(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    wd = workflow_copy(tmp_path_factory.mktemp("spec_dry"), spec_config())
    res = snakemake(wd, "-n", "-p", "--cores", "2", "--configfile", "test.yaml")
    assert res.returncode == 0, res.stderr[-3000:]
    return dry_run_jobs(res.stdout + res.stderr)


@pytest.mark.parametrize("benchmark", ["math500", "humaneval_plus"])
def test_a_paper_benchmark_gets_one_evaluate_job_per_checkpoint_reading_its_local_copy(
        spec_dry_run: list[dict[str, Any]], benchmark: str) -> None:
    from harness.evaluate import run_evaluation

    jobs = {(j["settings"]["objective"], j["settings"]["seed"]): j for j in spec_dry_run
            if j["rule"] == "evaluate" and j["settings"]["benchmark"] == benchmark}
    assert set(jobs) == {("grpo", 0), ("base", 0)}
    for (objective, seed), job in jobs.items():
        s = job["settings"]
        assert job["output"] == [f"results/eval/{objective}/seed{seed}/{benchmark}.json"]
        assert s["data"] == f"{FIXTURES}/{benchmark}"
        assert "samples" not in s and "temperature" not in s
        if benchmark == "math500":
            assert s["sampling"] == MATH500_SAMPLING
        else:
            assert "sampling" not in s  # the spec's paper setting
        # inputs: the checkpoint (and the run's run.json), never a generated data file
        assert not any(p.startswith("results/data/") for p in job["input"]), job["input"]
        assert hc.checkpoint_of(objective, seed) in job["input"]
        inspect.signature(run_evaluation).bind(**s)  # the settings are the evaluation's arguments


def test_a_paper_benchmark_gets_no_data_job(spec_dry_run: list[dict[str, Any]]) -> None:
    data_outputs = [p for j in spec_dry_run if j["rule"] == "data" for p in j["output"]]
    assert data_outputs, "the arena benchmark's data job is missing"
    assert {p.split("/")[2] for p in data_outputs} == {"math"}


def test_the_arena_benchmark_of_the_same_config_still_reads_its_generated_split(
        spec_dry_run: list[dict[str, Any]]) -> None:
    evals = [j for j in spec_dry_run if j["rule"] == "evaluate" and j["settings"]["benchmark"] == "math"]
    assert len(evals) == 2
    for job in evals:
        assert job["settings"]["data"] == "results/data/math/test.jsonl"
        assert "results/data/math/test.jsonl" in job["input"]
        assert "sampling" not in job["settings"]


# ---------------------------------------------------------------- config checks

def invalid(cfg: dict[str, Any]) -> str:
    with pytest.raises(hc.ConfigError) as err:
        hc.validate_config(cfg, source="test.yaml")
    return str(err.value)


def test_an_unknown_benchmark_is_named_with_both_lists_of_names() -> None:
    cfg = spec_config()
    cfg["benchmarks"].append("math5000")
    msg = invalid(cfg)
    assert "math5000" in msg and "math500" in msg and "rg_basic_arithmetic" in msg


def test_sampling_for_a_benchmark_the_config_does_not_list_names_the_key() -> None:
    cfg = spec_config()
    cfg["eval"]["sampling"]["aime2024"] = [{"k": 4, "temperature": 1.0}]
    msg = invalid(cfg)
    assert "eval.sampling.aime2024" in msg and "not among benchmarks" in msg


def test_sampling_for_an_arena_benchmark_names_the_key() -> None:
    cfg = spec_config()
    cfg["eval"]["sampling"]["math"] = [{"k": 4, "temperature": 1.0}]
    assert "eval.sampling.math:" in invalid(cfg)


@pytest.mark.parametrize("entry, words", [
    ({"k": 0, "temperature": 0.6}, ["eval.sampling.math500.0.k"]),
    ({"temperature": 0.6}, ["eval.sampling.math500.0", "'k'"]),
    ({"k": 4, "temperature": 0.6, "n": 4}, ["eval.sampling.math500.0", "['n']"]),
    ({"k": 4, "temperature": 0.6, "top_p": 1.5}, ["eval.sampling.math500.0.top_p"]),
    ({"k": 4, "temperature": 0.6, "metric": "best@k"}, ["eval.sampling.math500.0.metric"]),
    ({"k": 4, "temperature": 0}, ["eval.sampling.math500[0]", "'temperature'"]),
    ({"k": 4, "temperature": 0.6, "metric": "greedy"}, ["eval.sampling.math500[0]", "'metric'"]),
])
def test_a_bad_sampling_entry_names_the_benchmark_and_the_key(entry: dict[str, Any], words: list[str]) -> None:
    cfg = spec_config()
    cfg["eval"]["sampling"]["math500"] = [entry]
    msg = invalid(cfg)
    for word in words:
        assert word in msg, msg


def test_an_empty_sampling_list_is_rejected() -> None:
    cfg = spec_config()
    cfg["eval"]["sampling"]["math500"] = []
    assert "eval.sampling.math500" in invalid(cfg)


# ---------------------------------------------------------------- the shipped configs

def test_gpu_config_validates_and_evaluates_the_papers_benchmarks() -> None:
    from harness.tasks.specs import SPECS

    cfg = hc.load_config(REPO / "config" / "gpu.yaml")
    assert set(SPECS) <= set(cfg["benchmarks"])
    s = hc.eval_settings(cfg, "grpo", 0, "aime2024")
    assert s["data"] == f"{cfg['eval']['benchmark_dir']}/aime2024"
    assert s["sampling"] == cfg["eval"]["sampling"]["aime2024"]
    assert "sampling" not in hc.eval_settings(cfg, "grpo", 0, "amc2023")


# The keys of every evaluate job's settings in the CPU configs, as before the papers'
# benchmarks: a new key would change every job's params and rerun every evaluation.
CPU_EVAL_KEYS = {"batch_size", "benchmark", "checkpoint", "data", "max_new_tokens", "objective", "out",
                 "run_json", "seed", "threads"}


@pytest.mark.parametrize("name, extra", [
    ("config.yaml", {"samples", "temperature"}),
    ("smoke.yaml", set()),
    ("smollm2.yaml", {"prompt_format"}),
])
def test_cpu_configs_evaluate_settings_keep_exactly_their_keys(name: str, extra: set[str]) -> None:
    cfg = hc.load_config(REPO / "config" / name)
    for objective in [*cfg["objectives"], "base"]:
        for benchmark in cfg["benchmarks"]:
            s = hc.eval_settings(cfg, objective, 0, benchmark)
            assert set(s) == CPU_EVAL_KEYS | extra, (name, objective, benchmark)
            assert s["data"].startswith("results/data/")


def test_a_config_without_the_new_keys_is_unchanged_by_validation() -> None:
    cfg = smoke_config()
    before = copy.deepcopy(cfg)
    hc.validate_config(cfg)
    assert cfg == before and "benchmark_dir" not in cfg["eval"] and "sampling" not in cfg["eval"]
