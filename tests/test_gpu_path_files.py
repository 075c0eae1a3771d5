"""Result files are readable by whoever may read the project: written atomically, but with the
mode a plain open()/mkdir() would give them under the umask, not the temp file's 0600."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from harness.io import (atomic_replace_dir, atomic_write_json, atomic_write_jsonl, atomic_write_text, current_umask,
                        default_dir_mode, default_file_mode)


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    old = os.umask(0o022)
    os.umask(old)

    def set_umask(mask: int) -> None:
        os.umask(mask)

    yield set_umask
    os.umask(old)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_atomic_writes_get_the_umasks_mode(tmp_path: Path, umask, mask: int) -> None:
    umask(mask)
    assert current_umask() == mask
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # what open() gives
    for write, name, obj in ((atomic_write_text, "a.md", "x"), (atomic_write_json, "a.json", {"a": 1}),
                             (atomic_write_jsonl, "a.jsonl", [{"a": 1}])):
        assert mode(write(tmp_path / name, obj)) == mode(plain) == 0o666 & ~mask == default_file_mode()
    tmp_dir = Path(tempfile.mkdtemp(dir=tmp_path))  # 0700, as save_checkpoint's
    (tmp_dir / "weights").write_bytes(b"w")
    final = atomic_replace_dir(tmp_dir, tmp_path / "model")
    (tmp_path / "plain_dir").mkdir()
    assert mode(final) == mode(tmp_path / "plain_dir") == 0o777 & ~mask == default_dir_mode()


def test_the_reports_files_are_not_owner_only(tmp_path: Path, umask) -> None:
    from harness.report import cli
    from harness.report.synthetic import SyntheticObjective, synthetic_config, write_synthetic_results

    umask(0o022)
    results = tmp_path / "results"
    write_synthetic_results(results, {"grpo": SyntheticObjective(0.5, 40), "dapo": SyntheticObjective(0.5, 40)},
                            seeds=(0, 1), n_items=60)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(synthetic_config(["grpo", "dapo"], seeds=(0, 1))))
    assert cli.main(["--config", str(config), "--results", str(results), "--no-mlflow"]) == 0
    for name in ("summary.json", "calibration.json", "leaderboard.md", "leaderboard.html", "audit.md"):
        assert mode(results / name) == 0o644, name
    assert mode(results / "runs" / "grpo" / "seed0" / "metrics.jsonl") == 0o644
