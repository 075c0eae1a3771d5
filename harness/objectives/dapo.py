"""DAPO: Decoupled Clip and Dynamic sAmpling Policy Optimization.

Provenance
- Paper: Yu et al., DAPO, arXiv 2503.14476, eq. 8 (objective), eq. 10-11 (clip-higher,
  dynamic sampling), eq. 13 (soft overlong punishment).
- Equation: L = -1/sum_i |o_i| sum_i sum_t min(r_it A_i, clip(r_it, 1-eps_low, 1+eps_high) A_i),
  A_i = (R_i - mean(R)) / (std(R) + 1e-4), R_i = verifier score + R_length(|o_i|).
- Exact: decoupled clip (eps_low 0.2, eps_high 0.28), token-mean over the whole batch,
  no KL term, dynamic sampling as ``keep_groups`` (drop groups whose rewards are all
  equal, i.e. all right or all wrong), soft overlong punishment
  R_length = 0 if L <= L_max - L_cache; (L_max - L_cache - L) / L_cache inside the buffer;
  -1 past L_max (eq. 13). Loss and gradient equal TRL's GRPOTrainer with loss_type
  "dapo" when the punishment is off (tests/test_objectives_trl_parity.py).
- Reconstructed: nothing in the loss. The arena-specific choices: L_max is
  ``batch.extras["max_new_tokens"]`` (the generation cap) and lengths come from the mask;
  the default buffer is 20% of L_max, the paper's 4096 of 20480 tokens; the std epsilon
  1e-4 follows TRL (the paper states none). Dynamic sampling's "sample more until the
  batch is full" is the trainer's job; this objective only says which groups to keep. The
  arena's loop refills (`harness.train.loop.sample_groups`): more prompts, up to
  ``train.max_sampling_rounds`` rounds per step (default 3; the paper's Algorithm 1 samples
  until full, verl caps it with ``max_num_gen_batches``), then the first prompts_per_step
  surviving groups. The TRL and verl adapters only mask the dropped groups out.
- Defaults: eps_low 0.2, eps_high 0.28, overlong penalty factor 1.0 and buffer ratio
  4096/20480 all from the paper (sec. 3.1, 3.4, table of hyperparameters).
"""
from __future__ import annotations

import torch

from harness.objectives import Objective, Provenance, RolloutBatch, register
from harness.objectives import parts


@register("dapo")
class DAPO(Objective):
    provenance = Provenance(
        paper="arXiv 2503.14476 (DAPO)",
        equation="-1/sum|o_i| sum_i sum_t min(r A_i, clip(r,1-eps_low,1+eps_high) A_i); R += overlong penalty",
        exact="clip-higher 0.2/0.28, token-mean over batch, no KL, dynamic sampling, soft overlong (eq. 13)",
        reconstructed="L_max = extras['max_new_tokens']; default buffer 20% of it (paper 4096/20480); std eps 1e-4 as TRL",
        defaults_source="paper sec. 3 and its hyperparameter table",
    )

    def __init__(
        self,
        eps_low: float = 0.2,
        eps_high: float = 0.28,
        overlong_buffer: int | None = None,
        overlong_penalty: float = 1.0,
        adv_eps: float = 1e-4,
    ) -> None:
        super().__init__(
            eps_low=eps_low, eps_high=eps_high, overlong_buffer=overlong_buffer,
            overlong_penalty=overlong_penalty, adv_eps=adv_eps,
        )
        self.eps_low, self.eps_high = eps_low, eps_high
        self.overlong_buffer, self.overlong_penalty, self.adv_eps = overlong_buffer, overlong_penalty, adv_eps

    def keep_groups(self, rewards: torch.Tensor, group_size: int) -> torch.Tensor:
        return parts.groups_with_reward_spread(rewards, group_size)

    def shape_rewards(self, batch: RolloutBatch) -> torch.Tensor:
        if not self.overlong_penalty:
            return batch.rewards
        if "max_new_tokens" not in batch.extras:
            raise ValueError(
                "dapo's overlong punishment needs batch.extras['max_new_tokens'] (the generation cap); "
                "set it in the trainer, or pass overlong_penalty=0 to turn the punishment off"
            )
        max_len = int(batch.extras["max_new_tokens"])
        buffer = round(0.2 * max_len) if self.overlong_buffer is None else int(self.overlong_buffer)
        penalty = parts.soft_overlong_penalty(batch.lengths, max_len, buffer, self.overlong_penalty)
        return batch.rewards.float() + penalty

    def loss(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        rewards = self.shape_rewards(batch)
        adv = parts.group_normalised_advantage(rewards, batch.group_size, eps=self.adv_eps)[:, None]
        ratio = torch.exp(parts.token_log_ratio(batch.logprobs, batch.old_logprobs))
        per_token = parts.clipped_surrogate(ratio, adv, self.eps_low, self.eps_high)
        loss = parts.token_mean(per_token, batch.mask, batch.num_tokens)
        return loss, {
            "clip_frac": parts.clip_fraction(ratio, adv, batch.mask, self.eps_low, self.eps_high),
            "reward_shaped_mean": float(rewards.float().mean()),
        }
