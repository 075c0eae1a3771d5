"""TRL's GRPOTrainer with the loss of an arena objective.

    from harness.adapters.trl import ArenaGRPOTrainer
    trainer = ArenaGRPOTrainer(model, reward_funcs=score, args=GRPOConfig(...), train_dataset=ds,
                               objective="dapo", objective_kwargs={"eps_high": 0.28})
    trainer.train()

TRL keeps doing what it does at scale (sampling with HF or vLLM, reward functions,
accelerate / DeepSpeed / FSDP, gradient accumulation, logging); the arena objective
replaces ``GRPOTrainer._compute_loss``. Three things had to change for that:

1. Raw rewards reach the loss. TRL turns rewards into advantages inside
   ``_generate_and_score_completions`` (trl 1.16: ``rewards_per_func =
   self._calculate_rewards(...)``, then the weighted sum and group normalisation) and
   passes only ``advantages`` on. Arena objectives compute their own advantages from the
   raw verifier scores (HMPO shapes them by length, Dr.GRPO does not divide by the std,
   IAPO signs by correctness), so ``_calculate_rewards`` keeps the gathered per-function
   rewards, and ``_generate_and_score_completions`` adds this process's slice of their
   weighted sum to the inputs as ``"arena_rewards"`` [B]. TRL's ``advantages`` stay in the
   dict (its logging reads them) and are not used by the loss.
2. Groups stay whole and contiguous. TRL shuffles the generation batch row by row before
   splitting it into micro-batches (its advantages are already computed, so it can);
   arena objectives need each micro-batch to hold whole groups in order. ``_prepare_inputs``
   shuffles groups instead of rows, and the constructor requires
   ``per_device_train_batch_size % num_generations == 0`` (TRL's sampler then hands every
   process whole groups: each process reads a contiguous slice of G-fold repeated prompts).
3. The signals an objective declares are computed. ``entropy`` comes from TRL's own
   log-prob pass; ``ref_logprobs`` from TRL's reference model (TRL builds it only when
   ``args.beta != 0``, so ``args.beta`` is set from the objective: it switches the
   reference pass on, while the KL weight the loss uses is the objective's ``beta``);
   ``old_entropy`` and IAPO's ``answer_entropy`` are computed here, once per generation
   batch, by the policy that sampled it; ``completion_ids`` and ``max_new_tokens``
   (= ``max_completion_length``) come from the batch and the config.

Exactness: with one process, ``steps_per_generation`` = gradient accumulation steps = 1
(one micro-batch per generation batch), the loss is ``objective.loss`` on the batch the
arena's own loop would build; for "grpo" it equals TRL's ``loss_type="grpo"`` on the same
inputs (tests/test_adapters.py). With several micro-batches, each micro-batch's loss is
divided by the accumulation steps (as TRL does for "grpo"), so token-mean objectives
average per micro-batch instead of over the whole generation batch; with several
processes DDP averages the per-process losses. Unscorable completions (every reward
function returned None) get reward 0. TRL's own loss settings (``loss_type``,
``epsilon*``, ``importance_sampling_level``, ``top_entropy_quantile``, ``delta``,
entropy bonus, vLLM importance-sampling correction) do not act on the loss: the
objective's hyperparameters do.

Tested on CPU with trl 1.16 (tests/test_adapters.py); DeepSpeed/FSDP and multi-process
runs are untested here.
"""
from __future__ import annotations

import copy
import warnings
from typing import Any

import torch

try:
    from trl import GRPOConfig, GRPOTrainer
    from trl.trainer.utils import split_pixel_values_by_grid, split_tensor_dict, unsplit_pixel_values_by_grid
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(f"harness.adapters.trl needs TRL >= 1.16 ({e}); install it with `pip install trl`") from e

from harness import objectives

__all__ = ["ArenaGRPOTrainer", "shuffle_groups"]


def shuffle_groups(batch: dict[str, Any], group_size: int, generator: torch.Generator | None = None) -> dict[str, Any]:
    """Permute whole groups of ``group_size`` consecutive rows, in unison over every value of ``batch``.

    Values are tensors with a leading batch dimension [B, ...], lists of B items, 0-d
    tensors or None (kept as they are) — the layout TRL's ``shuffle_sequence_dict`` takes.
    """
    first = next(v for v in batch.values() if v is not None and not (isinstance(v, torch.Tensor) and v.ndim == 0))
    B = len(first)
    if B % group_size:
        raise ValueError(f"batch of {B} rows is not a whole number of groups of {group_size}")
    order = torch.randperm(B // group_size, generator=generator)
    rows = (order[:, None] * group_size + torch.arange(group_size)).reshape(-1)

    def permute(v: Any) -> Any:
        if v is None or (isinstance(v, torch.Tensor) and v.ndim == 0):
            return v
        if isinstance(v, torch.Tensor):
            return v[rows.to(v.device)]
        return [v[i] for i in rows.tolist()]

    return {k: permute(v) for k, v in batch.items()}


class ArenaGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` whose loss is ``harness.objectives.get(objective, **objective_kwargs).loss``.

    Takes GRPOTrainer's arguments plus ``objective`` (a registry name), ``objective_kwargs``
    (its hyperparameters) and ``answer_delimiter`` (IAPO's early-exit delimiter, as
    ``TrainSettings.answer_delimiter``). ``args`` is required: TRL's default config
    (bf16 on, loss "dapo") is rarely the one meant.
    """

    def __init__(
        self,
        model: Any,
        reward_funcs: Any = None,
        args: GRPOConfig | None = None,
        *,
        objective: str,
        objective_kwargs: dict[str, Any] | None = None,
        answer_delimiter: str = "A: ",
        **kwargs: Any,
    ) -> None:
        if args is None:
            raise TypeError("ArenaGRPOTrainer needs args=GRPOConfig(...) (num_generations, batch sizes, bf16 ...)")
        self.objective = objectives.get(objective, **(objective_kwargs or {}))
        self.objective_needs = self.objective.required_signals()
        self.answer_delimiter = answer_delimiter
        if args.per_device_train_batch_size % args.num_generations:
            raise ValueError(
                f"ArenaGRPOTrainer: per_device_train_batch_size={args.per_device_train_batch_size} must be a multiple "
                f"of num_generations={args.num_generations}: arena objectives normalise within whole groups, so every "
                "micro-batch must hold whole groups"
            )
        args = self._reference_switch(args)
        super().__init__(model, reward_funcs, args, **kwargs)
        self._arena_rewards_per_func: torch.Tensor | None = None

    def _reference_switch(self, args: GRPOConfig) -> GRPOConfig:
        """A copy of ``args`` whose ``beta`` makes TRL compute reference log-probs iff the objective needs them."""
        needs_ref = "ref_logprobs" in self.objective_needs
        beta = float(self.objective.hyperparams().get("beta", 1.0)) if needs_ref else 0.0
        if (args.beta != 0.0) == needs_ref:
            return args
        if args.beta != 0.0:
            warnings.warn(
                f"ArenaGRPOTrainer: objective {self.objective.name!r} uses no reference model; args.beta={args.beta} "
                "is set to 0 so TRL skips the reference pass (the objective's hyperparameters set its loss)",
                stacklevel=3,
            )
        args = copy.copy(args)
        args.beta = beta
        return args

    # ------------------------------------------------------------ rewards and signals

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):  # type: ignore[no-untyped-def]
        # keep the raw scores: TRL only passes advantages on (point 1 of the module docstring)
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._arena_rewards_per_func = rewards_per_func
        return rewards_per_func

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        out = super()._generate_and_score_completions(inputs)
        per_func = self._arena_rewards_per_func
        assert per_func is not None, "TRL did not call _calculate_rewards (trl version changed?)"
        self._arena_rewards_per_func = None
        rewards = (per_func * self.reward_weights.to(per_func.device).unsqueeze(0)).nansum(dim=1)  # all-None rows: 0
        n = out["completion_ids"].shape[0]
        start = self.accelerator.process_index * n
        out["arena_rewards"] = rewards[start : start + n]
        out.update(self._rollout_signals(out))
        return out

    @torch.no_grad()
    def _rollout_signals(self, out: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Signals of the sampling policy the objective needs and TRL does not compute."""
        needs = self.objective_needs
        signals: dict[str, torch.Tensor] = {}
        want_old_logps = "old_logprobs" in needs and out.get("old_per_token_logps") is None
        if not (want_old_logps or "old_entropy" in needs or "answer_entropy" in needs):
            return signals
        ids = torch.cat([out["prompt_ids"], out["completion_ids"]], dim=1)
        attn = torch.cat([out["prompt_mask"], out["completion_mask"]], dim=1)
        T = out["completion_ids"].shape[1]
        if want_old_logps or "old_entropy" in needs:
            logps, entropy, _ = self._get_per_token_logps_and_entropies(
                self.model, ids, attn, T, batch_size=self.args.per_device_train_batch_size,
                compute_entropy="old_entropy" in needs,
            )
            if want_old_logps:
                signals["old_per_token_logps"] = logps
            if entropy is not None:
                signals["arena_old_entropy"] = entropy
        if "answer_entropy" in needs:
            from harness.rollout.signals import early_exit_answer_entropy

            delim = self.processing_class(self.answer_delimiter, add_special_tokens=False)["input_ids"]
            model = self.accelerator.unwrap_model(self.model)
            signals["arena_answer_entropy"] = early_exit_answer_entropy(
                model, ids, out["prompt_ids"].shape[1], out["completion_mask"].float(), delim, attention_mask=attn
            )
        return signals

    # ------------------------------------------------------------ batching

    def _prepare_inputs(self, generation_batch: Any) -> dict[str, Any]:
        """TRL's ``_prepare_inputs`` with groups shuffled whole instead of rows (point 2 of the docstring)."""
        if not self.model.training:
            return super()._prepare_inputs(generation_batch)
        generate_every = self.args.steps_per_generation * self.num_iterations
        if self._step % generate_every == 0 or self._buffered_inputs is None:
            batch = self._generate_and_score_completions(generation_batch)
            batch = split_pixel_values_by_grid(batch)
            batch = shuffle_groups(batch, self.num_generations)
            batches = split_tensor_dict(batch, self.args.steps_per_generation)
            self._buffered_inputs = [unsplit_pixel_values_by_grid(b) for b in batches]
        return self._buffered_inputs[self._step % self.args.steps_per_generation]

    # ------------------------------------------------------------ loss

    def _compute_loss(self, model: torch.nn.Module, inputs: dict[str, Any]) -> torch.Tensor:
        mode = "train" if self.model.training else "eval"
        G = self.num_generations if mode == "train" else self.num_generations_eval
        rewards = inputs["arena_rewards"]
        B = rewards.shape[0]
        if B % G:
            raise ValueError(f"micro-batch of {B} completions is not whole groups of {G} (per-device batch size?)")
        keep = self.objective.keep_groups(rewards, G).repeat_interleave(G)
        rows = keep.nonzero().squeeze(-1) if keep.any() else torch.arange(B, device=rewards.device)

        completion_ids = inputs["completion_ids"][rows]
        attn = torch.cat([inputs["prompt_mask"][rows], inputs["completion_mask"][rows]], dim=1)
        ids = torch.cat([inputs["prompt_ids"][rows], completion_ids], dim=1)
        mask = inputs["completion_mask"][rows].float()
        if "tool_mask" in inputs:
            mask = mask * inputs["tool_mask"][rows]
        logps, entropy, _ = self._get_per_token_logps_and_entropies(
            model, ids, attn, completion_ids.shape[1], compute_entropy="entropy" in self.objective_needs
        )
        if not keep.any():
            # every group dropped (DAPO's dynamic sampling): a zero loss that still touches the
            # parameters, so every process runs the same backward and DDP does not hang
            self._metrics[mode]["arena/groups_kept"].append(0.0)
            return (logps * 0.0).sum()

        def pick(key: str) -> torch.Tensor | None:
            value = inputs.get(key)
            return None if value is None else value[rows]

        old = pick("old_per_token_logps")
        batch = objectives.RolloutBatch(
            logprobs=logps,
            old_logprobs=logps.detach() if old is None else old,
            mask=mask,
            rewards=rewards[rows].float(),
            group_size=G,
            ref_logprobs=pick("ref_per_token_logps"),
            entropy=entropy,
            old_entropy=pick("arena_old_entropy"),
            extras={
                "max_new_tokens": self.max_completion_length,
                "completion_ids": completion_ids,
                **({"answer_entropy": pick("arena_answer_entropy")} if "arena_answer_entropy" in inputs else {}),
            },
        )
        loss, metrics = self.objective.loss(batch)
        if mode == "train":
            # TRL turns off HF's loss scaling for gradient accumulation and scales itself ("grpo" branch)
            loss = loss / self.current_gradient_accumulation_steps
        for key, value in {**metrics, "groups_kept": float(keep.sum()) / G}.items():
            self._metrics[mode][f"arena/{key}"].append(float(value))
        return loss
