"""GSPO: Group Sequence Policy Optimization.

Provenance
- Paper: Zheng et al., GSPO, arXiv 2507.18071: eq. 5 (sequence-level objective), eq. 6 (group
  advantage), eq. 7 (length-normalised sequence ratio), eq. 13-14 (GSPO-token), sec. 4.3 (GSPO-token
  equals GSPO when every token carries A_i), sec. 5.1 (clip ranges). No seed article.
- Equation: L = -1/G sum_i 1/|o_i| sum_t min(s_it A_i, clip(s_it, 1-eps_low, 1+eps_high) A_i),
  s_it = sg[s_i] * pi_theta(o_t)/sg[pi_theta(o_t)], s_i = exp(1/|o_i| sum_t log r_it),
  A_i = (R_i - mean(R)) / (std(R) + 1e-4).
- Exact:
  * the sequence ratio s_i = exp(mean_t log r_it) (eq. 7) clipped as a whole, one decision per
    sequence (eq. 5), with the group advantage of eq. 6 on the raw verifier scores (sec. 2: r in [0, 1]).
  * written in the GSPO-token form (eq. 13-14: value s_i at every token, gradient s_i * grad log
    pi), which equals GSPO's objective, clipping and gradient when every token carries A_i
    (sec. 4.3); the seq-mean-token-mean of eq. 13 is then eq. 5's 1/G sum_i.
  * eps_low 3e-4, eps_high 4e-4 (sec. 5.1).
  Loss and gradient equal TRL's GRPOTrainer with importance_sampling_level 'sequence' and
  loss_type 'grpo' (trl/trainer/grpo_trainer.py:3086-3088, 3153-3154; tests/test_objectives_trl_parity.py),
  and verl's compute_policy_loss_gspo (verl/trainer/ppo/core_algos.py:1293-1305) computes the same
  token form.
- Reconstructed: the std epsilon 1e-4 follows TRL (trl/trainer/grpo_trainer.py:2787; eq. 6 states
  none); no KL term: the paper leaves it out of its equations for brevity (sec. 2) and states no
  coefficient for its runs.
- Mechanism: ``seq_clip_frac``, the share of sequences whose sequence ratio the clip acted on
  (s_i > 1 + eps_high with A_i > 0, or s_i < 1 - eps_low with A_i < 0: the clipped branch of the
  min, which removes that sequence's gradient), counted per sequence, not per token.
- Defaults: eps_low 3e-4, eps_high 4e-4 (sec. 5.1), no KL.
"""
from __future__ import annotations

from typing import ClassVar

import torch

from harness.objectives import Objective, Provenance, RolloutBatch, register
from harness.objectives import parts


def _sequence_clip_fraction(
    seq_ratio: torch.Tensor, advantage: torch.Tensor, lengths: torch.Tensor, eps_low: float, eps_high: float
) -> float:
    """Share of sequences whose sequence ratio the clip acted on (GSPO's clip, one decision per sequence).

    seq_ratio, advantage, lengths: [B]. A sequence counts when the clipped branch of
    min(s A, clip(s) A) is taken with a different value, i.e. s > 1 + eps_high with A > 0 or
    s < 1 - eps_low with A < 0; its gradient is then zero. Empty sequences (length 0) are not counted.
    """
    hit = ((seq_ratio > 1 + eps_high) & (advantage > 0)) | ((seq_ratio < 1 - eps_low) & (advantage < 0))
    present = lengths > 0
    return float((hit & present).sum() / present.sum().clamp(min=1))


@register("gspo")
class GSPO(Objective):
    provenance = Provenance(
        paper="arXiv 2507.18071 (GSPO)",
        equation="-1/G sum_i 1/|o_i| sum_t min(s_it A_i, clip(s_it,1-3e-4,1+4e-4) A_i), s_i = exp(mean_t log r)",
        exact=(
            "sequence ratio (eq. 7) clipped per sequence (eq. 5), group advantage (eq. 6); GSPO-token form "
            "(eq. 13-14, equal to GSPO by sec. 4.3); clip 3e-4/4e-4 (sec. 5.1); = trl/trainer/grpo_trainer.py:3086"
        ),
        reconstructed="std epsilon 1e-4 as trl/trainer/grpo_trainer.py:2787; no KL term (paper omits it, sec. 2)",
        defaults_source="eps 3e-4 / 4e-4 from paper sec. 5.1",
    )
    #: seq_clip_frac: share of sequences whose sequence ratio was clipped (per sequence, not per token)
    mechanism: ClassVar[tuple[str, ...]] = ("seq_clip_frac",)

    def __init__(self, eps_low: float = 3e-4, eps_high: float = 4e-4, adv_eps: float = 1e-4) -> None:
        super().__init__(eps_low=eps_low, eps_high=eps_high, adv_eps=adv_eps)
        self.eps_low, self.eps_high, self.adv_eps = eps_low, eps_high, adv_eps

    def loss(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        rewards = self.shape_rewards(batch)
        adv = parts.group_normalised_advantage(rewards, batch.group_size, eps=self.adv_eps)[:, None]
        ratio = parts.sequence_ratio_token_grad(batch.logprobs, batch.old_logprobs, batch.mask)
        per_token = parts.clipped_surrogate(ratio, adv, self.eps_low, self.eps_high)
        loss = parts.seq_mean_token_mean(per_token, batch.mask, batch.num_sequences)
        seq_ratio = ratio.detach()[:, 0]  # s_i: the same value at every position of row i
        return loss, {
            "clip_frac": parts.clip_fraction(ratio.detach(), adv, batch.mask, self.eps_low, self.eps_high),
            "seq_clip_frac": _sequence_clip_fraction(seq_ratio, adv[:, 0], batch.lengths, self.eps_low, self.eps_high),
            "seq_ratio_mean": float(seq_ratio.mean()),
        }
