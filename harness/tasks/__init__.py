"""Benchmark suites: versioned generators/loaders writing JSONL splits.

Items: {"id", "domain", "prompt", "answer", ...}; code items add "tests" and "entry_point".
"""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from harness.io import atomic_write_jsonl

SPLITS = ("train", "validation", "test")


def math_world(world: dict[str, Any]):
    """MathWorld from the config's `data.math` block (lists become tuples)."""
    from harness.tasks.math_cot import MathWorld

    names = {f.name for f in fields(MathWorld)}
    unknown = set(world) - names
    if unknown:
        raise ValueError(f"data.math: unknown key(s) {sorted(unknown)}; allowed: {sorted(names)}")
    return MathWorld(**{k: tuple(v) if isinstance(v, list) else v for k, v in world.items()})


def write_suite(suite: str, out_dir: str | Path, world: dict[str, Any]) -> list[Path]:
    """Write train/validation/test JSONL of ``suite`` under ``out_dir``; returns the paths."""
    if suite != "math":
        raise ValueError(f"unknown suite {suite!r}; available: ['math']")
    from harness.tasks.math_cot import make_items

    w = math_world(world)
    return [atomic_write_jsonl(Path(out_dir) / f"{split}.jsonl", make_items(split, w)) for split in SPLITS]
