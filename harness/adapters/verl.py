"""Arena objectives as verl policy losses and advantage estimators.

    # once, anywhere before verl builds its actor (or automatically, see below):
    import harness.adapters.verl            # registers arena_<name> for every objective
    # then train with verl's own launcher:
    python -m verl.trainer.main_ppo $(python -m harness.adapters.verl overrides dapo --max-new-tokens 1024) ...

Importing this module with verl installed registers, for every arena objective
``<name>``, a policy loss and an advantage estimator called ``arena_<name>`` in verl's
registries (``verl.trainer.ppo.core_algos.register_policy_loss`` / ``register_adv_est``).
Without verl, importing it registers nothing. verl also imports it by itself when
``VERL_USE_EXTERNAL_MODULES=harness.adapters.verl`` is set, or when the package declares
it under the ``verl.plugins`` entry-point group (docs/scale.md).
Hyperparameters: ``ARENA_OBJECTIVE_KWARGS='{"dapo": {"eps_high": 0.3}}'`` (JSON) and the
generation cap ``ARENA_MAX_NEW_TOKENS`` (= ``data.max_response_length``) are read at
import; ``register_arena_losses(hyperparams=..., max_new_tokens=...)`` takes them directly.

The interface assumed (verl 0.9.1 from PyPI, ``verl/trainer/ppo/core_algos.py`` and the
caller ``verl/workers/utils/losses.py::ppo_loss``; same in verl main of 2026-01):

    policy_loss(old_log_prob [B, T], log_prob [B, T] (grad), advantages [B, T],
                response_mask [B, T] bool, loss_agg_mode: str, config: ActorConfig,
                rollout_is_weights [B, T] | None) -> (pg_loss scalar, metrics dict[str, float])
    advantage_estimator(token_level_rewards [B, T], response_mask [B, T], index: uid per row,
                        config: AlgoConfig, ...) -> (advantages [B, T], returns [B, T])

How an arena objective splits between the two. verl's policy loss never sees rewards or
groups (its mini-batches are shuffled): it gets advantages. So the reward side of an
objective (``shape_rewards``, group normalisation, ``keep_groups``) runs in the
``arena_<name>`` advantage estimator, which regroups rows by verl's ``uid`` and calls the
objective's own ``shape_rewards``; the loss side (ratio, clip, aggregation) runs in the
``arena_<name>`` policy loss, built from the same ``harness.objectives.parts`` with the
objective's hyperparameters, as its recipe in ``RECIPES`` says. A KL term goes through
verl's ``use_kl_loss`` with ``kl_loss_type=low_var_kl`` (k3, clamped to [-10, 10]).

| objective | under verl | why |
|-----------|------------|-----|
| grpo, hmpo | exact | token clip + seq-mean-token-mean; HMPO's length shaping runs in the estimator |
| dapo | exact | clip-higher + token-mean; overlong shaping in the estimator; dropped groups get advantage 0 (their tokens still count in the token-mean unless verl's `algorithm.filter_groups` drops them) |
| dr_grpo | exact | no std, `seq-mean-token-sum-norm` with `loss_scale_factor` = max new tokens |
| gspo | exact | GSPO-token ratio, sequence clip, seq-mean-token-mean |
| tepo | exact when one update per batch | then H = H_old and its KL mask is empty; the mask needs entropies the hook never gets |
| eapo | approximate | entropy weights need per-token entropy: weights are 1 (DAPO surrogate) |
| iapo | approximate | its token advantages need answer entropies and token entropy: plain A_i, clip 0.2/0.28, token-mean, k3 KL via verl |
| tgc | approximate | shared-prefix re-centring and the group normaliser need groups: token clip, token-mean |

"Exact" means: for the same rollouts, rewards and log-probs, estimator + policy loss give
the loss and gradient of ``objective.loss`` (tests/test_adapters.py checks it); verl's
``agg_loss`` adds its global-batch normalisation over data-parallel ranks and micro-batches.
An objective without a recipe (e.g. from another package's entry point) gets a generic
token clip with token-mean and a warning.
"""
from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from harness import objectives
from harness.objectives import parts

__all__ = [
    "PREFIX",
    "VerlRecipe",
    "RECIPES",
    "recipe_for",
    "make_policy_loss",
    "make_advantage_estimator",
    "register_arena_losses",
    "verl_overrides",
    "compute_score",
    "verl_rows",
    "write_verl_parquet",
]

PREFIX = "arena_"
#: the policy-loss keyword arguments verl passes (verl 0.9.1 workers/utils/losses.py::ppo_loss)
POLICY_LOSS_ARGS = ("old_log_prob", "log_prob", "advantages", "response_mask", "loss_agg_mode", "config", "rollout_is_weights")


@dataclass(frozen=True)
class VerlRecipe:
    """The loss side of an objective once verl has computed the advantages.

    ratio:          "token" (pi/pi_old per token) or "sequence" (GSPO-token s_it).
    clip:           names of the objective's hyperparameters holding eps_low and eps_high.
    loss_agg_mode:  verl ``agg_loss`` mode equal to the objective's aggregation.
    scale_by_std:   the group advantage divides by the group std (False for Dr.GRPO).
    kl:             hyperparameter holding the k3 KL weight (verl's kl_loss_coef), or None.
    fidelity:       "exact", or when / why not.
    """

    ratio: str
    clip: tuple[str, str]
    loss_agg_mode: str
    scale_by_std: bool = True
    kl: str | None = None
    fidelity: str = "exact"


RECIPES: dict[str, VerlRecipe] = {
    "grpo": VerlRecipe("token", ("eps", "eps"), "seq-mean-token-mean", kl="beta"),
    "hmpo": VerlRecipe("token", ("eps", "eps"), "seq-mean-token-mean", kl="beta"),
    "length_penalty_control": VerlRecipe("token", ("eps", "eps"), "seq-mean-token-mean", kl="beta"),
    "dapo": VerlRecipe("token", ("eps_low", "eps_high"), "token-mean",
                       fidelity="exact (dropped groups keep their tokens in the token-mean unless algorithm.filter_groups drops them)"),
    "dr_grpo": VerlRecipe("token", ("eps", "eps"), "seq-mean-token-sum-norm", scale_by_std=False),
    "gspo": VerlRecipe("sequence", ("eps_low", "eps_high"), "seq-mean-token-mean"),
    "tepo": VerlRecipe("sequence", ("eps_low", "eps_high"), "token-mean",
                       fidelity="exact with one update per rollout batch (ppo_epochs=1, one mini-batch): its entropy-masked KL "
                                "needs entropies verl's policy-loss hook does not pass, and is left out"),
    "eapo": VerlRecipe("token", ("eps_low", "eps_high"), "token-mean",
                       fidelity="approximate: entropy credit weights need per-token entropy (not passed); weights are 1"),
    "iapo": VerlRecipe("token", ("eps_low", "eps_high"), "token-mean", kl="beta",
                       fidelity="approximate: information-gain and entropy terms of the token advantage need answer "
                                "entropies and token entropy (not passed); A_it = A_i"),
    "tgc": VerlRecipe("token", ("eps", "eps"), "token-mean",
                      fidelity="approximate: shared-prefix re-centring and the per-group normaliser need whole groups "
                               "(verl's mini-batches are shuffled); token clip with token-mean"),
}


def recipe_for(objective: objectives.Objective) -> VerlRecipe:
    """The objective's recipe, or a generic token clip (with a warning) for one without."""
    if objective.name in RECIPES:
        return RECIPES[objective.name]
    hp = objective.hyperparams()
    low = "eps_low" if "eps_low" in hp else "eps"
    high = "eps_high" if "eps_high" in hp else "eps"
    warnings.warn(
        f"harness.adapters.verl: objective {objective.name!r} has no verl recipe; registering a generic token clip "
        f"({low}/{high}, token-mean): add a VerlRecipe to RECIPES for its exact loss",
        stacklevel=2,
    )
    return VerlRecipe("token", (low, high), "token-mean", kl="beta" if "beta" in hp else None,
                      fidelity="approximate: generic token clip (no recipe)")


# ---------------------------------------------------------------- policy loss


def make_policy_loss(
    name: str,
    hyperparams: dict[str, Any] | None = None,
    *,
    agg_loss: Callable[..., torch.Tensor],
    max_new_tokens: int | None = None,
) -> Callable[..., tuple[torch.Tensor, dict[str, float]]]:
    """verl policy loss of arena objective ``name`` (signature: ``POLICY_LOSS_ARGS``).

    ``agg_loss`` is verl's ``core_algos.agg_loss`` (global-batch normalisation over
    data-parallel ranks and micro-batches); the objective's aggregation mode is used
    whatever ``loss_agg_mode`` verl passes, because the aggregation is part of the
    objective (Dr.GRPO is mostly its normaliser). Set ``actor.loss_agg_mode`` to the same
    mode (``verl_overrides`` does) so verl's entropy and KL terms agree.
    """
    objective = objectives.get(name, **(hyperparams or {}))
    recipe = recipe_for(objective)
    hp = objective.hyperparams()
    eps_low, eps_high = float(hp.get(recipe.clip[0], 0.2)), float(hp.get(recipe.clip[1], 0.2))
    takes_scale = "loss_scale_factor" in inspect.signature(agg_loss).parameters
    warned: list[str] = []

    def policy_loss(
        old_log_prob: torch.Tensor,
        log_prob: torch.Tensor,
        advantages: torch.Tensor,
        response_mask: torch.Tensor,
        loss_agg_mode: str = "token-mean",
        config: Any = None,
        rollout_is_weights: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        mask = response_mask.to(log_prob.dtype)
        adv = advantages if advantages.dim() == 2 else advantages[:, None]
        if recipe.ratio == "sequence":
            ratio = parts.sequence_ratio_token_grad(log_prob, old_log_prob, mask)
        else:
            ratio = torch.exp(parts.token_log_ratio(log_prob, old_log_prob))
        per_token = parts.clipped_surrogate(ratio, adv, eps_low, eps_high)
        if rollout_is_weights is not None:
            per_token = per_token * rollout_is_weights
        info = dict(getattr(config, "global_batch_info", None) or {})
        if recipe.loss_agg_mode == "seq-mean-token-sum-norm" and takes_scale:
            info["loss_scale_factor"] = max_new_tokens or info.get("loss_scale_factor") or mask.shape[-1]
        if loss_agg_mode != recipe.loss_agg_mode and not warned:
            warned.append(loss_agg_mode)
            warnings.warn(
                f"{PREFIX}{name}: actor.loss_agg_mode={loss_agg_mode!r} but the objective aggregates with "
                f"{recipe.loss_agg_mode!r} (used for its loss); set actor.loss_agg_mode={recipe.loss_agg_mode} so "
                "verl's entropy and KL terms agree",
                stacklevel=2,
            )
        loss = agg_loss(loss_mat=per_token, loss_mask=mask, loss_agg_mode=recipe.loss_agg_mode, **info)
        metrics = {
            "actor/pg_clipfrac": parts.clip_fraction(ratio.detach(), adv, mask, eps_low, eps_high),
            "actor/ppo_kl": parts.masked_mean((old_log_prob - log_prob).detach(), mask),
            "actor/pg_clipfrac_lower": 0.0,  # no dual clip in arena objectives
        }
        return loss, metrics

    policy_loss.__name__ = f"{PREFIX}{name}_policy_loss"
    policy_loss.__doc__ = f"Arena objective {name!r} as a verl policy loss ({recipe.fidelity})."
    policy_loss.__arena__ = True  # type: ignore[attr-defined]
    return policy_loss


# ---------------------------------------------------------------- advantages


def group_rows(index: Sequence[Any]) -> tuple[torch.Tensor, int]:
    """Row order putting each group (rows with equal ``index``) together, and the group size G.

    index: [B] group ids (verl's ``uid``); every group must have the same size.
    """
    groups: dict[Any, list[int]] = {}
    for row, uid in enumerate(list(index)):
        groups.setdefault(uid, []).append(row)
    sizes = {len(rows) for rows in groups.values()}
    if len(sizes) != 1:
        raise ValueError(
            f"arena advantage estimators need groups of equal size (rollout.n), got sizes {sorted(sizes)}; "
            "filter whole groups only"
        )
    order = torch.tensor([row for rows in groups.values() for row in rows], dtype=torch.long)
    return order, sizes.pop()


def make_advantage_estimator(
    name: str, hyperparams: dict[str, Any] | None = None, *, max_new_tokens: int | None = None
) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """verl advantage estimator running the reward side of arena objective ``name``.

    Regroups rows by ``index`` (verl's uid), applies the objective's ``shape_rewards``
    (HMPO's length budget, DAPO's overlong punishment) to the summed token-level rewards,
    normalises within each group as the objective does and zeroes the groups
    ``keep_groups`` drops. Rewards must be the raw verifier scores (1 right, 0 wrong):
    leave ``algorithm.use_kl_in_reward`` off. L_max is ``max_new_tokens`` or the padded
    response width.
    """
    objective = objectives.get(name, **(hyperparams or {}))
    recipe = recipe_for(objective)
    adv_eps = float(objective.hyperparams().get("adv_eps", 1e-4))

    def advantage_estimator(
        token_level_rewards: torch.Tensor, response_mask: torch.Tensor, index: Sequence[Any] | None = None,
        config: Any = None, **_: Any,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if index is None:
            raise ValueError(f"{PREFIX}{name} advantage estimator needs index (verl's uid per row) to find the groups")
        order, G = group_rows(index)
        order = order.to(token_level_rewards.device)
        mask = response_mask[order].float()
        zeros = torch.zeros_like(mask)
        batch = objectives.RolloutBatch(
            logprobs=zeros, old_logprobs=zeros, mask=mask, rewards=token_level_rewards.sum(-1)[order].float(),
            group_size=G, extras={"max_new_tokens": int(max_new_tokens or mask.shape[-1])},
        )
        with torch.no_grad():
            shaped = objective.shape_rewards(batch)
            adv = parts.group_normalised_advantage(shaped, G, scale_by_std=recipe.scale_by_std, eps=adv_eps)
            adv = adv * objective.keep_groups(batch.rewards, G).repeat_interleave(G).to(adv.dtype)
        per_row = torch.empty_like(adv)
        per_row[order] = adv
        advantages = per_row[:, None] * response_mask.to(per_row.dtype)
        return advantages, advantages

    advantage_estimator.__name__ = f"{PREFIX}{name}_advantage"
    advantage_estimator.__arena__ = True  # type: ignore[attr-defined]
    return advantage_estimator


# ---------------------------------------------------------------- registration


def _env_settings() -> tuple[dict[str, dict[str, Any]], int | None]:
    raw = os.environ.get("ARENA_OBJECTIVE_KWARGS", "").strip()
    try:
        hyperparams = json.loads(raw) if raw else {}
    except json.JSONDecodeError as e:
        raise ValueError(f"ARENA_OBJECTIVE_KWARGS is not JSON ({e}); expected e.g. '{{\"dapo\": {{\"eps_high\": 0.3}}}}'") from e
    cap = os.environ.get("ARENA_MAX_NEW_TOKENS", "").strip()
    return hyperparams, int(cap) if cap else None


def register_arena_losses(
    core_algos: Any = None,
    hyperparams: dict[str, dict[str, Any]] | None = None,
    max_new_tokens: int | None = None,
) -> list[str]:
    """Register ``arena_<name>`` policy losses and advantage estimators for every objective.

    core_algos: ``verl.trainer.ppo.core_algos`` (imported when None; tests pass a stand-in).
    hyperparams: objective name -> keyword arguments (default: ``ARENA_OBJECTIVE_KWARGS``).
    max_new_tokens: the generation cap, L_max (default: ``ARENA_MAX_NEW_TOKENS``).
    Returns the registered names. Registering again replaces this module's own entries.
    """
    if core_algos is None:
        from verl.trainer.ppo import core_algos
    env_hp, env_cap = _env_settings()
    hyperparams = env_hp if hyperparams is None else hyperparams
    max_new_tokens = env_cap if max_new_tokens is None else max_new_tokens
    unknown = set(hyperparams) - set(objectives.available())
    if unknown:
        raise KeyError(f"hyperparameters for unknown objective(s) {sorted(unknown)}; available: {objectives.available()}")
    estimators = getattr(core_algos, "ADV_ESTIMATOR_REGISTRY", {})
    names = []
    for name in objectives.available():
        key = PREFIX + name
        hp = hyperparams.get(name, {})
        core_algos.register_policy_loss(key)(
            make_policy_loss(name, hp, agg_loss=core_algos.agg_loss, max_new_tokens=max_new_tokens)
        )
        estimator = make_advantage_estimator(name, hp, max_new_tokens=max_new_tokens)
        if key in estimators:
            if not getattr(estimators[key], "__arena__", False):
                raise ValueError(f"verl already has an advantage estimator {key!r} that is not the arena's")
            estimators[key] = estimator  # re-registration: verl's decorator refuses a different function
        else:
            core_algos.register_adv_est(key)(estimator)
        names.append(key)
    return names


def verl_overrides(name: str, hyperparams: dict[str, Any] | None = None, max_new_tokens: int | None = None) -> list[str]:
    """Hydra overrides for ``verl.trainer.main_ppo`` that run arena objective ``name``."""
    objective = objectives.get(name, **(hyperparams or {}))
    recipe = recipe_for(objective)
    beta = float(objective.hyperparams().get(recipe.kl, 0.0)) if recipe.kl else 0.0
    actor = "actor_rollout_ref.actor"
    out = [
        f"algorithm.adv_estimator={PREFIX}{name}",
        "algorithm.use_kl_in_reward=False",
        f"{actor}.policy_loss.loss_mode={PREFIX}{name}",
        f"{actor}.loss_agg_mode={recipe.loss_agg_mode}",
        f"{actor}.entropy_coeff=0",
        f"{actor}.use_kl_loss={beta > 0}",
    ]
    if beta > 0:
        out += [f"{actor}.kl_loss_coef={beta}", f"{actor}.kl_loss_type=low_var_kl"]
    if max_new_tokens:
        out.append(f"data.max_response_length={max_new_tokens}")
        if recipe.loss_agg_mode == "seq-mean-token-sum-norm":
            out.append(f"{actor}.loss_scale_factor={max_new_tokens}")
    return out


# ---------------------------------------------------------------- data and rewards


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: dict[str, Any] | None = None) -> float:
    """verl custom reward function: the arena verifier's score (1.0 right, 0.0 wrong).

    Use with ``reward.custom_reward_function.path=<this file>`` and ``.name=compute_score``
    on rows written by ``write_verl_parquet`` (``extra_info["item"]`` holds the benchmark
    item as JSON, so code items keep their tests).
    """
    from harness.tasks.registry import verifier_response
    from verifiers import verify

    item_json = (extra_info or {}).get("item")
    item = json.loads(item_json) if item_json else {"domain": data_source, "answer": ground_truth, "prompt": ""}
    domain = item.get("domain", data_source)
    return float(verify(domain, verifier_response(item, solution_str), item).score)


def verl_rows(items: Sequence[dict[str, Any]], split: str) -> list[dict[str, Any]]:
    """Benchmark items as verl RL-dataset rows (prompt as one user message, item kept for ``compute_score``)."""
    return [
        {
            "data_source": it["domain"],
            "prompt": [{"role": "user", "content": it["prompt"]}],
            "ability": it["domain"],
            "reward_model": {"style": "rule", "ground_truth": json.dumps(it.get("answer"))},
            "extra_info": {"split": split, "index": i, "id": str(it["id"]), "item": json.dumps(it)},
        }
        for i, it in enumerate(items)
    ]


def write_verl_parquet(jsonl: str | Path, out: str | Path, split: str | None = None) -> Path:
    """Convert a task JSONL (results/data/<suite>/<split>.jsonl) to a verl parquet file."""
    import pandas as pd

    from harness.io import read_jsonl

    jsonl, out = Path(jsonl), Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    pd.DataFrame(verl_rows(read_jsonl(jsonl), split or jsonl.stem)).to_parquet(tmp)
    tmp.replace(out)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m harness.adapters.verl overrides NAME`` | ``data IN.jsonl OUT.parquet``."""
    ap = argparse.ArgumentParser(prog="python -m harness.adapters.verl", description=main.__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("overrides", help="Hydra overrides for verl.trainer.main_ppo")
    o.add_argument("objective", choices=objectives.available())
    o.add_argument("--max-new-tokens", type=int)
    o.add_argument("--hyperparams", default="{}", help="JSON keyword arguments of the objective")
    d = sub.add_parser("data", help="task JSONL -> verl parquet")
    d.add_argument("jsonl")
    d.add_argument("parquet")
    args = ap.parse_args(argv)
    if args.cmd == "overrides":
        hp = json.loads(args.hyperparams)
        print("\n".join(verl_overrides(args.objective, hp, args.max_new_tokens)))
        fidelity = recipe_for(objectives.get(args.objective, **hp)).fidelity
        print(f"{args.objective} under verl: {fidelity}", file=sys.stderr)
    else:
        print(write_verl_parquet(args.jsonl, args.parquet))


if importlib.util.find_spec("verl") is not None and __name__ != "__main__":
    register_arena_losses()

if __name__ == "__main__":
    main()
