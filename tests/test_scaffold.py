"""`harness new-objective`: the scaffolded objective registers, runs, and its generated test passes."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from harness import objectives, scaffold

ROOT = Path(__file__).resolve().parents[1]
BASES = ["dapo", "dr_grpo", "eapo", "grpo", "gspo", "hmpo", "iapo", "tepo", "tgc"]


@pytest.fixture()
def sandbox(tmp_path: Path) -> Path:
    """A copy of the harness package (no tests) to scaffold into."""
    shutil.copytree(ROOT / "harness", tmp_path / "harness", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "tests").mkdir()
    return tmp_path


def _load_generated(path: Path, name: str):
    """Import a generated objective file in-process; returns its module (registered under ``name``)."""
    spec = importlib.util.spec_from_file_location(f"_scaffold_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("base", BASES)
def test_scaffolded_objective_registers_under_its_name_and_equals_its_base(sandbox: Path, base: str) -> None:
    name = f"new_from_{base}"
    obj_path, test_path = scaffold.new_objective(name, base=base, root=sandbox)
    assert obj_path == sandbox / "harness" / "objectives" / f"{name}.py" and test_path.exists()
    source = obj_path.read_text()
    assert source.startswith(f'"""{name}:') and "Provenance" in source and f'@register("{name}")' in source
    assert f'register("{base}")' not in source
    try:
        _load_generated(obj_path, name)
        new = objectives.get(name)
        assert new.name == name and "TODO" in new.provenance.paper
        sys.path.insert(0, str(test_path.parent))
        generated_tests = _load_generated(test_path, f"test_{name}")
        batch = generated_tests.random_batch()
        ours, _ = new.loss(batch)
        theirs, _ = objectives.get(base).loss(generated_tests.random_batch())
        torch.testing.assert_close(ours, theirs)
    finally:
        sys.path.remove(str(test_path.parent)) if str(test_path.parent) in sys.path else None
        objectives._REGISTRY.pop(name, None)


def test_generated_test_file_runs_and_passes(sandbox: Path) -> None:
    assert scaffold.main(["my_objective", "--from", "grpo", "--root", str(sandbox)]) == 0
    env = {**os.environ, "PYTHONPATH": str(sandbox), "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_objective_my_objective.py"],
        cwd=sandbox, env=env, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout and "1 xfailed" in run.stdout


def test_scaffold_refuses_taken_or_invalid_names(sandbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(FileExistsError):
        scaffold.new_objective("dapo", base="grpo", root=sandbox)
    with pytest.raises(ValueError, match="lower-case Python identifier"):
        scaffold.new_objective("My-Objective", root=sandbox)
    with pytest.raises(ValueError, match="--from one of"):
        scaffold.new_objective("fine_name", base="no_such_objective", root=sandbox)
    assert scaffold.main(["class"]) == 2 and "identifier" in capsys.readouterr().err
