"""Adapters: arena objectives inside existing distributed RL trainers.

A user who outgrows one node keeps the arena's objective code and runs it on an engine
that already scales:

- ``harness.adapters.trl``: ``ArenaGRPOTrainer``, a TRL ``GRPOTrainer`` whose loss is
  ``harness.objectives.get(name, **hp).loss(batch)`` (accelerate / DeepSpeed / FSDP,
  TRL's vLLM rollouts). Needs ``trl``.
- ``harness.adapters.verl``: registers every arena objective as a verl policy loss and a
  verl advantage estimator (``arena_<name>``). Needs ``verl``; importing it without
  verl registers nothing.

Neither trainer is imported here: ``import harness.adapters`` stays cheap and works
without either installed. docs/scale.md says how to run each.
"""
from __future__ import annotations

__all__ = ["trl", "verl"]
