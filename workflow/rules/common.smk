import json
import os
import shlex
import socket
import sys
from pathlib import Path

from harness import config as hc
from harness.report import tracking as mlflow_tracking
from harness.tasks.registry import BENCHMARKS as ALL_BENCHMARKS
from harness.tasks.specs import SPECS
from verifiers.sandbox import preflight as sandbox_preflight

# Every job runs under the interpreter Snakemake itself runs under (`python -m harness ...`),
# never a `harness` or `python` looked up on PATH: `.venv/bin/snakemake` from a shell where
# the venv is not activated, and a cluster job whose PATH lacks the venv, run the same code.
PYTHON = shlex.quote(sys.executable)
HARNESS = f"{PYTHON} -m harness"

OBJECTIVES = list(config["objectives"])
SEEDS = [int(s) for s in config["seeds"]]
BENCHMARKS = list(config["benchmarks"])
THREADS = int(config.get("threads", 1))

wildcard_constraints:
    objective="[A-Za-z0-9_]+",
    seed="[0-9]+",
    benchmark="[A-Za-z0-9_]+",


def settings(d):
    """A job's settings as one JSON string (Snakemake reruns a job when its params change)."""
    return json.dumps(d, sort_keys=True)


# GPUs (config `device: cuda`). Each GPU job declares gpu=1, so `--resources gpu=N` keeps at
# most N of them running (the Slurm profile turns it into --gpus=1), and starts under
# `with-free-gpu` (harness/rollout/backends.py), which locks a free device and sets
# CUDA_VISIBLE_DEVICES for the job; where the scheduler set it already (Slurm) it changes nothing.
ON_GPU = config.get("device", "cpu") == "cuda"
GPU_JOB = 1 if ON_GPU else 0
GPU_PREFIX = f"{PYTHON} -m harness.rollout.backends with-free-gpu --lock-dir results/.gpu_locks -- " if ON_GPU else ""

# The prefixes are substituted into the shell commands ({GPU_PREFIX}), never joined to them:
# Snakemake reruns a job when its command's text changes, and turning live logging on or moving
# the venv must not retrain anything.

# MLflow (harness/report/tracking.py). The config's `mlflow.tracking_uri` / `experiment`, when
# given, override $MLFLOW_TRACKING_URI / $MLFLOW_EXPERIMENT_NAME for every job (default: sqlite
# under results/, one experiment per comparison). With live logging on (`mlflow.live`; `auto`:
# on for a tracking server, off for sqlite) each training job runs under a follower that logs
# its metrics.jsonl rows while it trains.
os.environ.update(mlflow_tracking.workflow_environment(config))
MLFLOW_LIVE = mlflow_tracking.live_logging(
    (config.get("mlflow") or {}).get("live", "auto"), mlflow_tracking.resolve_tracking_uri(Path("results")))
LIVE_PREFIX = f"{PYTHON} -m harness.report.tracking follow --comparison {shlex.quote(config['comparison'])} -- " if MLFLOW_LIVE else ""

# Code is only ever verified inside the sandbox (verifiers/sandbox.py). A config that verifies
# code checks for a working one before any job runs: a local run when it starts (`onstart`);
# on a cluster, each job that verifies code on the node it landed on, before it starts (the
# input function below, which adds no input). Suites whose items are programs:
CODE_SUITES = ("code", "humaneval")


def benchmark_suite(benchmark):
    """The suite (arena benchmark) or verifier domain (papers' benchmark, harness/tasks/specs.py)
    whose verifier judges a benchmark's responses."""
    return ALL_BENCHMARKS[benchmark][0] if benchmark in ALL_BENCHMARKS else SPECS[benchmark].domain


def verified_suites(config):
    """The suites whose responses some job verifies: benchmarks, the RL suite, the warm start's."""
    return {benchmark_suite(b) for b in config["benchmarks"]} | {hc.train_suite(config)} | set(hc.warmstart_suites(config))


def verifies_code(suites):
    return any(suite in CODE_SUITES for suite in suites)


def sandbox_on_this_node(suites_of_job):
    """An input function (no inputs) that, in a cluster job verifying code, checks the node's sandbox."""
    def check(wildcards):
        if workflow.remote_exec and verifies_code(suites_of_job(wildcards)):
            sandbox_preflight(f"node {socket.gethostname()}")
        return []
    return check


onstart:
    if verifies_code(verified_suites(config)):
        if workflow.local_exec:
            sandbox_preflight(f"this machine ({socket.gethostname()})")
        else:
            print("code sandbox: every job that verifies code checks for it on its own node before it starts",
                  file=sys.stderr)
