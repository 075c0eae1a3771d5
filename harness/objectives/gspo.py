"""GSPO: Group Sequence Policy Optimization.

Provenance
- Paper: Zheng et al., GSPO, arXiv 2507.18071, eq. 5-7 (sequence-level objective and
  length-normalised ratio), eq. 13 (GSPO-token).
- Equation: L = -1/G sum_i 1/|o_i| sum_t min(s_it A_i, clip(s_it, 1-eps_low, 1+eps_high) A_i),
  s_it = sg[s_i] * pi_theta(o_t)/sg[pi_theta(o_t)], s_i = exp(1/|o_i| sum_t log r_it),
  A_i = (R_i - mean(R)) / (std(R) + 1e-4).
- Exact: the length-normalised sequence ratio, sequence clipping, seq-mean aggregation,
  written in the paper's GSPO-token form (value s_i at every token, gradient
  s_i * grad log pi) which the paper shows equals GSPO when every token carries A_i.
  Loss and gradient equal TRL's GRPOTrainer with importance_sampling_level "sequence"
  and loss_type "grpo" (tests/test_objectives_trl_parity.py).
- Reconstructed: nothing; std epsilon 1e-4 as TRL.
- Defaults: eps_low 3e-4, eps_high 4e-4 (paper sec. 5.1), beta 0 (no KL in the paper).
"""
from __future__ import annotations

import torch

from harness.objectives import Objective, Provenance, RolloutBatch, register
from harness.objectives import parts


@register("gspo")
class GSPO(Objective):
    provenance = Provenance(
        paper="arXiv 2507.18071 (GSPO)",
        equation="-1/G sum_i 1/|o_i| sum_t min(s_it A_i, clip(s_it,1-3e-4,1+4e-4) A_i), s_i = exp(mean_t log r)",
        exact="sequence ratio, sequence clip, seq-mean, GSPO-token gradient form; equals TRL sequence-level IS",
        reconstructed="std epsilon 1e-4 as TRL",
        defaults_source="eps 3e-4 / 4e-4 from paper sec. 5.1",
    )

    def __init__(self, eps_low: float = 3e-4, eps_high: float = 4e-4, adv_eps: float = 1e-4) -> None:
        super().__init__(eps_low=eps_low, eps_high=eps_high, adv_eps=adv_eps)
        self.eps_low, self.eps_high, self.adv_eps = eps_low, eps_high, adv_eps

    def loss(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        rewards = self.shape_rewards(batch)
        adv = parts.group_normalised_advantage(rewards, batch.group_size, eps=self.adv_eps)[:, None]
        ratio = parts.sequence_ratio_token_grad(batch.logprobs, batch.old_logprobs, batch.mask)
        per_token = parts.clipped_surrogate(ratio, adv, self.eps_low, self.eps_high)
        loss = parts.seq_mean_token_mean(per_token, batch.mask, batch.num_sequences)
        return loss, {
            "clip_frac": parts.clip_fraction(ratio.detach(), adv, batch.mask, self.eps_low, self.eps_high),
            "seq_ratio_mean": float(ratio.detach()[:, 0].mean()),
        }
