"""Objective registry: every RL objective of the arena, by name.

Contract (relied on by the trainer, tests and outside checks)::

    obj = harness.objectives.get("grpo", beta=0.0)
    rewards = obj.shape_rewards(batch)          # [B]
    loss, metrics = obj.loss(batch)             # scalar tensor, dict[str, float]
    obj.mechanism                               # metric keys saying how much its mechanism acted

An objective is a small class composed of the pure tensor functions in
``harness.objectives.parts``. It declares in ``needs`` which extra signals the
trainer must compute (see ``SIGNALS``); the trainer computes only those.

This package imports torch and its own modules only: no trainer, rollout,
verifier or I/O code, so every objective is testable on tensors alone.
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import torch

__all__ = [
    "RolloutBatch",
    "Objective",
    "Provenance",
    "SIGNALS",
    "EXTRAS",
    "register",
    "get",
    "available",
    "provenance_table",
]

#: Extra signals an objective may ask the trainer for.
#: - "old_logprobs": log-probs of the sampling policy from a separate no-grad pass
#:   (only differs from ``logprobs.detach()`` when several updates reuse one batch).
#: - "ref_logprobs": log-probs of the frozen reference model (KL terms).
#: - "entropy": per-token entropy of the current policy (with grad), [B, T].
#: - "old_entropy": per-token entropy of the sampling policy, [B, T].
#: - "answer_entropy": IAPO's early-exit answer entropy at every completion prefix, [B, T]
#:   (``harness.rollout.signals.early_exit_answer_entropy``), passed in ``extras``.
#: - "completion_ids": the sampled token ids, [B, T] LongTensor (free: the rollout has them),
#:   passed in ``extras``; TGC finds each group's shared prefix with them.
SIGNALS: frozenset[str] = frozenset(
    {"old_logprobs", "ref_logprobs", "entropy", "old_entropy", "answer_entropy", "completion_ids"}
)

#: ``RolloutBatch.extras`` keys objectives read (the trainer fills them):
#: - "max_new_tokens": int, the generation cap (DAPO overlong punishment, Dr.GRPO's
#:   constant normaliser, HMPO's L_max).
#: - "answer_entropy": [B, T] from ``harness.rollout.signals.early_exit_answer_entropy``.
#: - "completion_ids": [B, T] LongTensor of sampled tokens (TGC finds shared prefixes with it).
EXTRAS: frozenset[str] = frozenset({"max_new_tokens", "answer_entropy", "completion_ids"})

_BATCH_FIELDS = frozenset({"old_logprobs", "ref_logprobs", "entropy", "old_entropy"})


@dataclass
class RolloutBatch:
    """One batch of rollouts; B = prompts x G, the G sequences of a group contiguous.

    logprobs:      [B, T] log pi_theta(o_t | q, o_<t), with grad.
    old_logprobs:  [B, T] log-probs under the sampling policy (no grad).
    mask:          [B, T] 1.0 on completion tokens, 0.0 on padding.
    rewards:       [B]    verifier scores (1.0 right, 0.0 wrong) before shaping.
    group_size:    G.
    ref_logprobs:  [B, T] or None; reference-model log-probs (no grad).
    entropy:       [B, T] or None; current-policy token entropy (with grad).
    old_entropy:   [B, T] or None; sampling-policy token entropy (no grad).
    extras:        free-form signals, e.g. "answer_entropy" [B, T],
                   "max_new_tokens" (int), "completion_ids" [B, T] (see EXTRAS).
    num_sequences: int or None; the number of sequences of the whole minibatch this
                   batch is a micro-batch of (gradient accumulation). None: this batch
                   is the whole minibatch (N = B).
    num_tokens:    float or None; the whole minibatch's completion-token count (its
                   mask sum). None: this batch is the whole minibatch (mask.sum()).

    Gradient accumulation: a trainer may split a minibatch of whole groups (never a
    group across micro-batches: advantages and other group statistics need the whole
    group) into micro-batches, call ``Objective.loss`` on each with ``num_sequences``
    and ``num_tokens`` set to the full minibatch's counts, and backward the SUM of the
    micro-batch losses; every objective's loss aggregation then normalises by the full
    minibatch's count, so that sum equals the full-minibatch loss and gradient
    (tests/test_microbatch.py). Metrics are per micro-batch.

    ``rewards`` are the raw verifier scores: ``Objective.loss`` applies the objective's
    own ``shape_rewards`` itself, so a trainer must not feed shaped rewards back in.
    """

    logprobs: torch.Tensor
    old_logprobs: torch.Tensor
    mask: torch.Tensor
    rewards: torch.Tensor
    group_size: int
    ref_logprobs: torch.Tensor | None = None
    entropy: torch.Tensor | None = None
    old_entropy: torch.Tensor | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    num_sequences: int | None = None
    num_tokens: float | None = None

    def __post_init__(self) -> None:
        if self.logprobs.dim() != 2:
            raise ValueError(f"logprobs must be [B, T], got shape {tuple(self.logprobs.shape)}")
        B, T = self.logprobs.shape
        for name in ("old_logprobs", "mask", "ref_logprobs", "entropy", "old_entropy"):
            t = getattr(self, name)
            if t is not None and tuple(t.shape) != (B, T):
                raise ValueError(f"{name} must have shape {(B, T)}, got {tuple(t.shape)}")
        if tuple(self.rewards.shape) != (B,):
            raise ValueError(f"rewards must have shape ({B},), got {tuple(self.rewards.shape)}")
        if self.group_size < 1 or B % self.group_size:
            raise ValueError(f"batch size {B} is not a multiple of group_size {self.group_size}")
        if self.num_sequences is not None:
            n = self.num_sequences
            if isinstance(n, bool) or int(n) != n or n < B or n % self.group_size:
                raise ValueError(
                    f"num_sequences (the full minibatch's sequence count) must be an integer >= this batch's "
                    f"{B} sequences and a multiple of group_size {self.group_size}, got {n!r}"
                )
            self.num_sequences = int(n)
        if self.num_tokens is not None:
            t = float(self.num_tokens)
            if not t >= 0 or t == float("inf"):
                raise ValueError(f"num_tokens (the full minibatch's completion-token count) must be finite and >= 0, got {t}")
            self.num_tokens = t

    @property
    def lengths(self) -> torch.Tensor:
        """[B] number of completion tokens of each sequence."""
        return self.mask.sum(-1)

    def replace(self, **changes: Any) -> "RolloutBatch":
        """A copy with some fields changed (e.g. shaped rewards)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Provenance:
    """Where an objective's math comes from; printed by `harness objectives`."""

    paper: str  # e.g. "arXiv 2402.03300 (DeepSeekMath)"
    equation: str  # the loss in one line
    exact: str  # parts that follow the paper / reference code exactly
    reconstructed: str  # parts that are our documented reconstruction ("" if none)
    defaults_source: str  # where the default hyperparameters come from
    seed_article: str = ""  # file under shared/seeds/ the claim came from, if any


class Objective:
    """Base class. Subclasses set ``name``, ``needs``, ``provenance`` and implement ``loss``.

    Hyperparameters are constructor keyword arguments; ``hyperparams()`` returns
    them resolved (defaults filled in) for logging.
    """

    name: ClassVar[str] = ""
    needs: ClassVar[frozenset[str]] = frozenset()
    provenance: ClassVar[Provenance]
    #: Keys of the per-step metrics (``loss``'s dict, or the trainer's own ``groups_dropped``)
    #: that measure how much this objective's distinguishing mechanism acted on a batch: a
    #: share of tokens or sequences, or the size of a term. All zero on a step means the
    #: mechanism did not act on that step; the leaderboard reports it per run. Empty: the
    #: objective has no conditional mechanism (it acts the same way on every batch).
    mechanism: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **hyperparams: Any) -> None:
        self._hyperparams = dict(hyperparams)
        _check_common_hyperparams(type(self).name or type(self).__name__, self._hyperparams)

    def hyperparams(self) -> dict[str, Any]:
        return dict(self._hyperparams)

    def required_signals(self) -> frozenset[str]:
        """Signals the trainer must compute for this objective with these hyperparameters."""
        return self.needs

    def shape_rewards(self, batch: RolloutBatch) -> torch.Tensor:
        """[B] rewards the advantage is computed from. Identity unless overridden."""
        return batch.rewards

    def keep_groups(self, rewards: torch.Tensor, group_size: int) -> torch.Tensor:
        """[B/G] bool: which groups enter the update (DAPO's dynamic sampling). All by default."""
        return torch.ones(rewards.numel() // group_size, dtype=torch.bool, device=rewards.device)

    def loss(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def require(self, batch: RolloutBatch, signal: str) -> torch.Tensor:
        """The [B, T] signal ``signal`` from the batch (a field or ``extras``), or an error naming the fix."""
        value = getattr(batch, signal, None) if signal in _BATCH_FIELDS else batch.extras.get(signal)
        if value is None:
            where = f"batch.{signal}" if signal in _BATCH_FIELDS else f"batch.extras[{signal!r}]"
            raise ValueError(
                f"objective {self.name!r} needs {where} but it is missing; the trainer must compute every "
                f"signal in objective.required_signals() = {sorted(self.required_signals())} "
                f"(see harness.objectives.SIGNALS and EXTRAS)"
            )
        return value


def _check_common_hyperparams(name: str, hp: dict[str, Any]) -> None:
    """Range checks shared by every objective: clip widths, KL weights, epsilons >= 0, eps_high >= eps_low."""
    for key, value in hp.items():
        if (key.startswith("eps") or key.startswith("beta") or key.startswith("lambda")) and isinstance(value, (int, float)):
            if value < 0:
                raise ValueError(f"{name}: hyperparameter {key}={value} must be >= 0")
    if "eps_low" in hp and "eps_high" in hp and hp["eps_high"] < hp["eps_low"]:
        raise ValueError(f"{name}: eps_high={hp['eps_high']} must be >= eps_low={hp['eps_low']} (clip-higher)")
    if "eps_low" in hp and isinstance(hp["eps_low"], (int, float)) and hp["eps_low"] >= 1:
        raise ValueError(f"{name}: eps_low={hp['eps_low']} must be < 1 (the ratio's lower clip 1-eps_low must stay positive)")


_REGISTRY: dict[str, Callable[..., Objective]] = {}
_DISCOVERED = False


def register(name: str) -> Callable[[Any], Any]:
    """Class decorator: make an objective available as ``get(name)``."""

    def deco(obj: Any) -> Any:
        if name in _REGISTRY and _REGISTRY[name] is not obj:
            raise ValueError(f"objective {name!r} is registered twice")
        _REGISTRY[name] = obj
        # look in the class's own __dict__: a subclass (HMPO of GRPO) must not keep its parent's name
        if isinstance(obj, type) and not obj.__dict__.get("name", ""):
            obj.name = name
        return obj

    return deco


def _discover() -> None:
    """Import every module of this package and every `harness.objectives` entry point."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_") and mod.name != "parts":
            importlib.import_module(f"{__name__}.{mod.name}")
    for ep in importlib.metadata.entry_points(group="harness.objectives"):
        loaded = ep.load()
        if ep.name not in _REGISTRY and callable(loaded):
            register(ep.name)(loaded)


def available() -> list[str]:
    """Sorted names of all registered objectives."""
    _discover()
    return sorted(_REGISTRY)


def get(name: str, **hyperparams: Any) -> Objective:
    """Build objective ``name`` with ``hyperparams``; unknown names list the known ones."""
    _discover()
    if name not in _REGISTRY:
        raise KeyError(f"unknown objective {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](**hyperparams)


def provenance_table() -> list[dict[str, str]]:
    """One row per objective: name, paper, equation, exact, reconstructed, defaults, needs, seed article."""
    rows = []
    for name in available():
        obj = get(name)
        p = obj.provenance
        rows.append(
            {
                "name": name,
                "paper": p.paper,
                "equation": p.equation,
                "exact": p.exact,
                "reconstructed": p.reconstructed,
                "defaults": ", ".join(f"{k}={v}" for k, v in obj.hyperparams().items()),
                "defaults_source": p.defaults_source,
                "needs": ", ".join(sorted(obj.required_signals())) or "-",
                "seed_article": p.seed_article,
            }
        )
    return rows
