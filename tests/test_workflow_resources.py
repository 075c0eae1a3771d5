"""How the workflow's jobs are started: GPU resources and device locks, the interpreter,
the code sandbox check at the start, and MLflow's settings reaching the jobs.

Dry runs (``snakemake -n -p``) of config/gpu.yaml and the CPU configs show every job's
resources and shell command; two short real runs show that a job needs no venv on PATH and
that a run which verifies code without a sandbox stops before its first job.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import dry_run_jobs, snakemake, workflow_copy

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# the rules whose jobs load the model on the config's device
GPU_RULES = ("base_model", "train", "evaluate", "credit")
WITH_FREE_GPU = f"{PYTHON} -m harness.rollout.backends with-free-gpu --lock-dir results/.gpu_locks -- {PYTHON} -m harness "
# a PATH without the venv (and without any `harness` or project python on it)
BARE_PATH = "/usr/local/bin:/usr/bin:/bin"


@pytest.fixture(scope="module")
def gpu_dry_run(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str]]:
    wd = workflow_copy(tmp_path_factory.mktemp("gpu_dry"))
    res = snakemake(wd, "-n", "-p", "--cores", "16", "--resources", "gpu=8", "--configfile", "config/gpu.yaml")
    assert res.returncode == 0, res.stderr[-3000:]
    return dry_run_jobs(res.stdout + res.stderr)


@pytest.mark.parametrize("rule", GPU_RULES)
def test_every_gpu_job_asks_for_one_gpu_and_starts_on_a_free_one(gpu_dry_run: list[dict[str, str]], rule: str) -> None:
    jobs = [job for job in gpu_dry_run if job["rule"] == rule]
    assert jobs, f"no {rule} job in the dry run"
    for job in jobs:
        assert job["resources"].get("gpu") == "1", job
        assert job["shell"].startswith(WITH_FREE_GPU), job["shell"][:300]
    if rule == "train":
        assert len(jobs) == 27  # 9 objectives x 3 seeds: at most 8 run at once under --resources gpu=8


@pytest.fixture(scope="module")
def slurm_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """snakemake-executor-plugin-slurm (the `slurm` extra) in a directory of its own, for PYTHONPATH."""
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
        return Path()
    except ImportError:
        pass
    target = tmp_path_factory.mktemp("slurm_plugin")
    res = subprocess.run([PYTHON, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                          "snakemake-executor-plugin-slurm>=2.0,<3", "snakemake-executor-plugin-slurm-jobstep"],
                         capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        pytest.skip(f"the Slurm executor plugin could not be installed from the package index: {res.stderr[-300:]}")
    return target


def test_the_slurm_profile_sends_gpu_jobs_to_the_gpu_partition_with_one_gpu(slurm_plugin: Path, tmp_path: Path) -> None:
    wd = workflow_copy(tmp_path / "slurm")
    env_path = {"PYTHONPATH": str(slurm_plugin)} if str(slurm_plugin) != "." else {}
    res = subprocess.run([PYTHON, "-m", "snakemake", "-n", "-p", "--workflow-profile", "workflow/profiles/slurm",
                          "--configfile", "config/gpu.yaml"], cwd=wd, capture_output=True, text=True, timeout=600,
                         env={**os.environ, **env_path})
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = dry_run_jobs(res.stdout + res.stderr)
    for job in jobs:
        if job["rule"] in ("base_model", "train", "evaluate"):
            assert job["resources"].get("gpu") == "1" and job["resources"].get("slurm_partition") == "gpu", job
            assert job["shell"].startswith(WITH_FREE_GPU)  # changes nothing where Slurm set CUDA_VISIBLE_DEVICES
        elif job["rule"] in ("data", "report"):
            assert job["resources"].get("slurm_partition") == "cpu" and "gpu" not in job["resources"], job


def test_cpu_jobs_of_a_gpu_config_ask_for_no_gpu(gpu_dry_run: list[dict[str, str]]) -> None:
    cpu_jobs = [job for job in gpu_dry_run if job["rule"] not in GPU_RULES + ("all",)]
    assert {job["rule"] for job in cpu_jobs} == {"data", "report"}
    for job in cpu_jobs:
        assert job["resources"].get("gpu", "0") == "0", job
        assert "with-free-gpu" not in job["shell"], job["shell"][:300]


def test_cpu_configs_ask_for_no_gpu_and_run_jobs_directly(tmp_path: Path) -> None:
    wd = workflow_copy(tmp_path / "cpu")
    res = snakemake(wd, "-n", "-p", "--cores", "2", "--configfile", "config/smoke.yaml")
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = dry_run_jobs(res.stdout + res.stderr)
    assert {job["rule"] for job in jobs} >= {"data", "base_model", "train", "evaluate", "report", "credit"}
    for job in jobs:
        assert job["resources"].get("gpu", "0") == "0", job
        if job["rule"] != "all":
            assert job["shell"].startswith(f"{PYTHON} -m harness"), job["shell"][:200]


def test_every_job_runs_with_the_workflows_interpreter_not_a_command_on_path(gpu_dry_run: list[dict[str, str]]) -> None:
    for job in gpu_dry_run:
        if job["rule"] != "all":
            words = job["shell"].split()
            assert words[0] == PYTHON and words[1] == "-m", job["shell"][:200]
            assert not re.search(r"(^|[;&|(]\s*)(harness|python3?)\s", job["shell"]), job["shell"][:300]


def test_a_rule_runs_with_a_path_that_lacks_the_venv(tmp_path: Path) -> None:
    """`.venv/bin/snakemake` from a shell where the venv is not activated (or a cluster job)."""
    assert shutil.which("harness", path=BARE_PATH) is None
    wd = workflow_copy(tmp_path / "bare")
    res = snakemake(wd, "results/data/math/train.jsonl", "--cores", "1", "--configfile", "config/smoke.yaml",
                    path=BARE_PATH)
    assert res.returncode == 0, res.stderr[-3000:] + (wd / "results/logs/data/math.log").read_text()
    assert (wd / "results/data/math/train.jsonl").stat().st_size > 0
    assert (wd / "results/data/math/train.jsonl").stat().st_mode & 0o777 == 0o666 & ~current_umask()


def current_umask() -> int:
    from harness.io import current_umask as umask

    return umask()


# ---------------------------------------------------------------- the code sandbox, checked first

NO_BWRAP = "import verifiers.sandbox as s\ns.bwrap_path = lambda: None  # this machine has no bubblewrap"


def code_config() -> dict:
    cfg = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    cfg.update(objectives={"grpo": {}}, seeds=[0], benchmarks=["math", "code"])
    cfg.pop("calibration", None)
    cfg["data"]["code"] = {}
    return cfg


def test_a_run_that_verifies_code_without_a_sandbox_stops_before_its_first_job(tmp_path: Path) -> None:
    wd = workflow_copy(tmp_path / "nosandbox", code_config())
    res = snakemake(wd, "--cores", "1", "--configfile", "test.yaml", prelude=NO_BWRAP, timeout=300)
    err = res.stdout + res.stderr
    assert res.returncode != 0
    assert "no code sandbox on this machine" in err and "bubblewrap" in err, err[-3000:]
    assert "container runtime" in err and "partition" in err  # the alternatives are named
    assert not (wd / "results").exists() or not any((wd / "results").rglob("*.jsonl")), "a job ran"


def test_a_run_without_code_does_not_need_a_sandbox(tmp_path: Path) -> None:
    wd = workflow_copy(tmp_path / "mathonly")
    res = snakemake(wd, "results/data/math/train.jsonl", "--cores", "1", "--configfile", "config/smoke.yaml",
                    prelude=NO_BWRAP, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]


def test_a_cluster_job_that_verifies_code_checks_its_node_before_it_starts(tmp_path: Path) -> None:
    """What the Slurm plugin runs on a compute node: the job alone, in remote mode."""
    wd = workflow_copy(tmp_path / "remote", code_config())
    # the arguments snakemake's spawn_jobs gives a job it submits (--force --no-hooks --nolock ...)
    job = ["--mode", "remote", "--target-jobs", "evaluate:objective=base,seed=0,benchmark=code",
           "--allowed-rules", "evaluate", "--cores", "1", "--configfile", "test.yaml", "--force", "--no-hooks",
           "--nolock", "--ignore-incomplete", "--rerun-triggers", "mtime"]
    res = snakemake(wd, *job, prelude=NO_BWRAP, timeout=300)
    err = res.stdout + res.stderr
    assert res.returncode != 0 and "no code sandbox on node" in err, err[-3000:]
    # a job of the same run that verifies no code is not held up by the check
    res = snakemake(wd, *[a.replace("benchmark=code", "benchmark=math") for a in job], prelude=NO_BWRAP, timeout=300)
    err = res.stdout + res.stderr
    assert "no code sandbox" not in err and "Missing files" in err, err[-3000:]  # it got as far as its inputs


def test_preflight_names_the_problem_and_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    from verifiers import sandbox

    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    with pytest.raises(sandbox.SandboxUnavailable) as err:
        sandbox.preflight("node gpu042")
    message = str(err.value)
    assert message.startswith("no code sandbox on node gpu042: bubblewrap (bwrap) is required")
    for hint in ("user.max_user_namespaces", "slurm_partition", "Apptainer", "--unsafe-no-sandbox"):
        assert hint in message
    monkeypatch.undo()
    sandbox.sandbox_problem.cache_clear()


# ---------------------------------------------------------------- MLflow settings reach the jobs

def test_the_configs_mlflow_server_reaches_the_report_and_turns_on_live_training_logs(tmp_path: Path) -> None:
    cfg = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    cfg["mlflow"] = {"tracking_uri": "http://127.0.0.1:9", "experiment": "arena"}
    wd = workflow_copy(tmp_path / "mlflow", cfg)
    probe = ("import os, sys\nimport snakemake.api\nfrom snakemake.workflow import Workflow\norig = Workflow.execute\n"
             "def execute(self, *a, **k):\n"
             "    print('ENV', os.environ.get('MLFLOW_TRACKING_URI'), os.environ.get('MLFLOW_EXPERIMENT_NAME'), file=sys.stderr)\n"
             "    return orig(self, *a, **k)\nWorkflow.execute = execute\n"
             "import harness.config as hc\n_v = hc.validate_config\n"
             "hc.validate_config = lambda c, source='': c  # the schema's mlflow block may not be merged yet\n")
    res = snakemake(wd, "-n", "-p", "--cores", "2", "--configfile", "test.yaml", prelude=probe)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "ENV http://127.0.0.1:9 arena" in out
    trains = [job for job in dry_run_jobs(out) if job["rule"] == "train"]
    assert trains and all(job["shell"].startswith(
        f"{PYTHON} -m harness.report.tracking follow --comparison smoke -- {PYTHON} -m harness train") for job in trains)
    # sqlite (the default): no live logging, training runs directly
    res = snakemake(wd, "-n", "-p", "--cores", "2", "--configfile", "config/smoke.yaml")
    assert all("tracking follow" not in job["shell"] for job in dry_run_jobs(res.stdout + res.stderr))
