"""Benchmark suites: versioned generators/loaders writing JSONL splits.

Items: {"id", "domain", "prompt", "answer", ...}; code items add "tests" and "entry_point".
"""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar



W = TypeVar("W")


def world_from_config(cls: type[W], world: dict[str, Any], suite: str) -> W:
    """A generator's settings dataclass from the config's `data.<suite>` block.

    Unknown keys fail with the allowed ones; lists become tuples (the dataclasses are frozen).
    """
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = set(world) - names
    if unknown:
        raise ValueError(f"data.{suite}: unknown key(s) {sorted(unknown)}; allowed: {sorted(names)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in world.items()})


def math_world(world: dict[str, Any]):
    """MathWorld from the config's `data.math` block."""
    from harness.tasks.math_cot import MathWorld

    return world_from_config(MathWorld, world, "math")


def write_suite(suite: str, out_dir: str | Path, world: dict[str, Any]) -> list[Path]:
    """Write train/validation/test JSONL of ``suite`` under ``out_dir``; returns the paths."""
    from harness.tasks.registry import write_suite as write_any_suite

    return write_any_suite(suite, out_dir, world)
