"""Checkpoint/resume state: model, optimizer, RNG states, data position, metrics so far.

Written atomically (one torch.save to a temp file + rename), so a `kill -9` at any moment
leaves either the previous state or the new one, never half of one.
"""
from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.io import atomic_write_bytes

STATE_VERSION = 1


def save_state(
    state_dir: str | Path, model: torch.nn.Module, opt: torch.optim.Optimizer, *, step: int,
    rows: list[dict[str, Any]], wall_s: float, rollout_tokens: int, stream: dict[str, int], identity: dict[str, Any],
) -> Path:
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "version": STATE_VERSION,
        "identity": identity,
        "step": step,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "rng": {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()},
        "rows": rows,
        "wall_s": wall_s,
        "rollout_tokens": rollout_tokens,
        "stream": stream,
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    return atomic_write_bytes(state_dir / "state.pt", buf.getvalue())


class CheckpointError(RuntimeError):
    """A resume state that cannot be used (corrupt, other version, other job).

    found_identity: the state's own identity when that is what differs (a readable state of
    another configuration, which the trainer replaces by starting over); None otherwise."""

    def __init__(self, message: str, found_identity: Any = None) -> None:
        super().__init__(message)
        self.found_identity = found_identity


def load_state(state_dir: str | Path, model: torch.nn.Module, opt: torch.optim.Optimizer, *, expect: dict[str, Any]) -> dict[str, Any]:
    """Restore model, optimizer and RNG states in place; returns step, rows, wall_s, ..."""
    path = Path(state_dir) / "state.pt"
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # truncated or foreign file
        raise CheckpointError(f"resume state {path} is unreadable ({e}); delete {path.parent} to start this run over") from e
    if payload.get("version") != STATE_VERSION:
        raise CheckpointError(f"resume state {path} has version {payload.get('version')}, this harness writes {STATE_VERSION}; delete {path.parent} to start over")
    if payload.get("identity") != expect:  # checked before the model, optimizer and RNGs are touched
        raise CheckpointError(f"resume state {path} belongs to another job or configuration; delete {path.parent}",
                              found_identity=payload.get("identity") or {})
    try:
        model.load_state_dict(payload["model"])
        opt.load_state_dict(payload["optimizer"])
    except Exception as e:
        raise CheckpointError(f"resume state {path} does not fit this model/optimizer ({e}); delete {path.parent} to start over") from e
    random.setstate(payload["rng"]["python"])
    np.random.set_state(payload["rng"]["numpy"])
    torch.set_rng_state(payload["rng"]["torch"])
    return payload
