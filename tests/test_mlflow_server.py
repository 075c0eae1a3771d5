"""MLflow on a shared tracking server: runs found by their key and updated, never deleted.

Against a real ``mlflow server`` process on 127.0.0.1 (sqlite behind it, artifacts served):
two comparisons logged into one experiment coexist, a rerun of the report updates its runs
instead of adding or deleting any, timestamps are real times, and a training job's rows
reach the server while it runs (``python -m harness.report.tracking follow``). Skipped, with
the reason, when the server cannot start here (~20 s to start on 2 busy cores).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from harness.report import cli, tracking
from harness.report.synthetic import SyntheticObjective, synthetic_config, write_synthetic_results

REPO = Path(__file__).resolve().parent.parent
MLFLOW = Path(sys.executable).parent / "mlflow"
SHARED = "shared_experiment"
YEAR_2020_MS = 1_577_836_800_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> str:
    if not MLFLOW.exists():
        pytest.skip(f"no mlflow command next to {sys.executable}")
    root = tmp_path_factory.mktemp("mlflow_server")
    port = _free_port()
    log = open(root / "server.log", "w")
    proc = subprocess.Popen(
        [str(MLFLOW), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root / 'store.db'}", "--artifacts-destination", str(root / "artifacts")],
        cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                log.close()
                pytest.skip(f"`mlflow server` did not start on 127.0.0.1:{port} within 120 s: "
                            f"{(root / 'server.log').read_text()[-800:]}")
            time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


def _comparison(tmp: Path, name: str, objectives: dict[str, SyntheticObjective]) -> tuple[Path, Path]:
    results = tmp / name / "results"
    write_synthetic_results(results, objectives, seeds=(0, 1), n_items=120)
    config = tmp / name / "config.yaml"
    config.write_text(yaml.safe_dump(synthetic_config(list(objectives), seeds=(0, 1), comparison=name)))
    return config, results


def _report(config: Path, results: Path, url: str) -> None:
    assert cli.main(["--config", str(config), "--results", str(results), "--tracking-uri", url]) == 0


def _runs(client, experiment_id: str) -> dict[str, object]:
    from mlflow.entities import ViewType

    return {r.info.run_id: r for r in client.search_runs([experiment_id], run_view_type=ViewType.ALL, max_results=1000)}


def test_two_comparisons_share_an_experiment_and_a_rerun_updates_without_duplicates(
        server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", SHARED)
    a = _comparison(tmp_path, "cmp_a", {"grpo": SyntheticObjective(0.5, 40), "dapo": SyntheticObjective(0.55, 42)})
    b = _comparison(tmp_path, "cmp_b", {"grpo": SyntheticObjective(0.45, 30), "hmpo": SyntheticObjective(0.5, 20)})
    client = MlflowClient(tracking_uri=server)
    # someone else's run in the same experiment: never touched
    experiment_id = tracking.ensure_experiment(client, SHARED, server, tmp_path)
    stranger = client.create_run(experiment_id, run_name="someone else's run").info.run_id

    _report(*a, server)
    after_a = _runs(client, experiment_id)
    _report(*b, server)
    after_b = _runs(client, experiment_id)
    key_of = {rid: r.data.tags.get(tracking.KEY_TAG) for rid, r in after_b.items()}
    a_keys = sorted(k for k in key_of.values() if k and k.startswith("cmp_a/"))
    b_keys = sorted(k for k in key_of.values() if k and k.startswith("cmp_b/"))
    assert a_keys == ["cmp_a/base/seed0", "cmp_a/dapo/seed0", "cmp_a/dapo/seed1", "cmp_a/grpo/seed0",
                      "cmp_a/grpo/seed1", "cmp_a/summary"]
    assert b_keys == ["cmp_b/base/seed0", "cmp_b/grpo/seed0", "cmp_b/grpo/seed1", "cmp_b/hmpo/seed0",
                      "cmp_b/hmpo/seed1", "cmp_b/summary"]
    assert set(after_a) <= set(after_b), "logging comparison B removed runs of comparison A"
    assert stranger in after_b and after_b[stranger].info.lifecycle_stage == "active"
    # the UI names runs by comparison when several share the experiment
    names = {r.info.run_name for r in after_b.values()}
    assert {"cmp_a/grpo/seed0", "cmp_b/grpo/seed0", "cmp_a/summary"} <= names

    grpo_a = next(rid for rid, k in key_of.items() if k == "cmp_a/grpo/seed0")
    history = client.get_metric_history(grpo_a, "val/accuracy")
    assert len(history) == 7 and len({m.step for m in history}) == 7  # steps 0, 10, ..., 60
    assert all(m.timestamp > YEAR_2020_MS for m in history), "timestamps must be real times, not seconds since start"
    assert [m.timestamp for m in sorted(history, key=lambda m: m.step)] == sorted(m.timestamp for m in history)

    # a rerun of A, with one evaluation changed: the same runs, updated; nothing added or deleted
    config_a, results_a = a
    evaluation = results_a / "eval" / "grpo" / "seed0" / "math.json"
    data = json.loads(evaluation.read_text())
    data["accuracy"] = 0.123
    time.sleep(0.01)
    evaluation.write_text(json.dumps(data))
    _report(config_a, results_a, server)
    after_rerun = _runs(client, experiment_id)
    assert set(after_rerun) == set(after_b), "a rerun created or deleted runs"
    assert all(r.info.lifecycle_stage == "active" for r in after_rerun.values())
    assert len(client.get_metric_history(grpo_a, "val/accuracy")) == 7, "a rerun duplicated training rows"
    assert client.get_run(grpo_a).data.metrics["eval/math/accuracy"] == pytest.approx(0.123)
    assert not any(tracking.SUPERSEDED_TAG in r.data.tags for r in after_rerun.values())
    summary = next(r for r in after_rerun.values() if r.data.tags.get(tracking.KEY_TAG) == "cmp_a/summary")
    tables = [a.path for a in client.list_artifacts(summary.info.run_id)]
    assert "leaderboard_math.json" in tables and "leaderboard.md" in tables
    table = json.loads(Path(client.download_artifacts(summary.info.run_id, "leaderboard_math.json", str(tmp_path))).read_text())
    assert len(table["data"]) == 2, "a rerun appended to the leaderboard table instead of replacing it"


def test_changed_config_supersedes_the_run_and_keeps_the_old_one(
        server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", SHARED)
    config, results = _comparison(tmp_path, "cmp_c", {"grpo": SyntheticObjective(0.5, 40)})
    _report(config, results, server)
    client = MlflowClient(tracking_uri=server)
    experiment_id = client.get_experiment_by_name(SHARED).experiment_id
    old = tracking.find_run(client, experiment_id, "cmp_c/grpo/seed0")
    run_json = results / "runs" / "grpo" / "seed0" / "run.json"
    info = json.loads(run_json.read_text())
    info["config"]["train"]["lr"] = 123.0  # the config changed: the old run no longer describes it
    run_json.write_text(json.dumps(info))
    _report(config, results, server)
    new = tracking.find_run(client, experiment_id, "cmp_c/grpo/seed0")
    assert new.info.run_id != old.info.run_id
    kept = client.get_run(old.info.run_id)
    assert kept.info.lifecycle_stage == "active" and kept.data.tags[tracking.SUPERSEDED_TAG] == new.info.run_id
    assert new.data.params["config.train.lr"] == "123.0" and kept.data.params["config.train.lr"] == "2e-05"


TRAINER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    out = Path(json.loads(sys.argv[2])["out_dir"])  # as `harness train --settings JSON`
    rows = []
    for step in range(4):
        rows.append({"step": step, "wall_s": 0.5 * step, "loss": 1.0 / (step + 1), "val_accuracy": 0.1 * step})
        tmp = out / ".metrics.tmp"
        tmp.write_text("".join(json.dumps(r) + "\\n" for r in rows))
        tmp.replace(out / "metrics.jsonl")
        if step == 1:
            time.sleep(float(sys.argv[3]))  # the follower must log steps 0-1 while this still runs
    sys.exit(3)
""")


def test_a_training_job_logs_live_and_a_fresh_restart_supersedes(server: str, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    run_dir = tmp_path / "results" / "runs" / "grpo" / "seed0"
    run_dir.mkdir(parents=True)
    env = {**os.environ, "MLFLOW_TRACKING_URI": server, "MLFLOW_EXPERIMENT_NAME": SHARED, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "harness.report.tracking", "follow", "--comparison", "cmp_live",
           "--results", str(tmp_path / "results"), "--interval", "0.5", "--",
           sys.executable, "-c", TRAINER, "--settings", json.dumps({"objective": "grpo", "seed": 0, "out_dir": str(run_dir)})]
    client = MlflowClient(tracking_uri=server)
    proc = subprocess.Popen([*cmd, "20"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, seen = time.monotonic() + 60, []
        while time.monotonic() < deadline and len(seen) < 2:
            experiment = client.get_experiment_by_name(SHARED)
            run = experiment and tracking.find_run(client, experiment.experiment_id, "cmp_live/grpo/seed0")
            seen = client.get_metric_history(run.info.run_id, "train/loss") if run else []
            time.sleep(0.5)
        assert len(seen) == 2 and proc.poll() is None, "rows did not reach the server while the job ran"
        assert client.get_run(run.info.run_id).info.status == "RUNNING"
    finally:
        proc.terminate()  # forwarded to the trainer
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 128 + 15, out
    first = client.get_run(run.info.run_id)
    assert first.info.status == "KILLED"

    # resumed (a checkpoint exists): the same run continues
    (run_dir / "state").mkdir()
    (run_dir / "state" / "state.pt").write_bytes(b"")
    done = subprocess.run([*cmd, "0"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr  # the trainer's exit code passes through
    resumed = tracking.find_run(client, first.info.experiment_id, "cmp_live/grpo/seed0")
    assert resumed.info.run_id == run.info.run_id and resumed.info.status == "FAILED"
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "train/loss")) == [0, 1, 2, 3]
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "val/accuracy")) == [0, 1, 2, 3]

    # a fresh training (no resume state): a new run; the old one is kept, superseded
    (run_dir / "state" / "state.pt").unlink()
    assert subprocess.run([*cmd, "0"], env=env, capture_output=True, text=True, timeout=120).returncode == 3
    fresh = tracking.find_run(client, first.info.experiment_id, "cmp_live/grpo/seed0")
    assert fresh.info.run_id != run.info.run_id
    old = client.get_run(run.info.run_id)
    assert old.info.lifecycle_stage == "active" and old.data.tags[tracking.SUPERSEDED_TAG] == fresh.info.run_id


def test_where_runs_go_comes_from_the_config_or_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    assert tracking.resolve_tracking_uri(tmp_path) == f"sqlite:///{(tmp_path / 'mlflow.db').resolve()}"
    assert tracking.experiment_name("cmp") == "cmp"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.example:5000")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "team")
    assert tracking.resolve_tracking_uri(tmp_path) == "http://tracking.example:5000"
    assert tracking.resolve_tracking_uri(tmp_path, "sqlite:///x.db") == "sqlite:///x.db"
    assert tracking.experiment_name("cmp") == "team"
    config = {"mlflow": {"tracking_uri": "https://mlflow.lab", "experiment": "arena"}}
    assert tracking.workflow_environment(config) == {"MLFLOW_TRACKING_URI": "https://mlflow.lab",
                                                     "MLFLOW_EXPERIMENT_NAME": "arena"}
    assert tracking.workflow_environment({}) == {}
    # live logging: on by default for a server, off for sqlite and files (one writer at a time)
    assert tracking.live_logging("auto", "http://host:5000") and tracking.live_logging(None, "https://h")
    assert not tracking.live_logging("auto", "sqlite:///results/mlflow.db")
    assert not tracking.live_logging("auto", "/abs/mlruns") and not tracking.live_logging("auto", "file:///x")
    assert tracking.live_logging(True, "sqlite:///x.db") and not tracking.live_logging(False, "http://h")
    with pytest.raises(ValueError, match="mlflow.live"):
        tracking.live_logging("sometimes", "http://h")
