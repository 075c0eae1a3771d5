"""Dr. GRPO: GRPO Done Right.

Provenance
- Paper: Liu et al., "Understanding R1-Zero-Like Training: A Critical Perspective",
  arXiv 2503.20783, sec. 3.1 and eq. 3 (the unbiased objective).
- Equation: L = -1/(B * L_max) sum_i sum_t min(r_it A_i, clip(r_it, 1-eps, 1+eps) A_i),
  A_i = R_i - mean(R) (no division by std).
- Exact: no std division of the advantage, no 1/|o_i| per-sequence normaliser, a
  constant normaliser instead. Loss and gradient equal TRL's GRPOTrainer with
  loss_type "dr_grpo" and scale_rewards "none" (tests/test_objectives_trl_parity.py).
- Reconstructed: the constant is B x L_max with L_max = ``batch.extras["max_new_tokens"]``,
  as TRL's max_completion_length (the paper's code divides by the generation budget);
  without that key we fall back to the padded width T of the batch, which varies
  between batches, so the trainer should set it (and must, for micro-batches: a
  micro-batch, ``batch.num_sequences`` set, without it raises, since its width need not
  be the full minibatch's).
- Defaults: eps 0.2 (PPO / the paper's Oat setup), beta 0 (the paper drops the KL term).
"""
from __future__ import annotations

import torch

from harness.objectives import Objective, Provenance, RolloutBatch, register
from harness.objectives import parts


@register("dr_grpo")
class DrGRPO(Objective):
    provenance = Provenance(
        paper="arXiv 2503.20783 (Dr. GRPO)",
        equation="-1/(B*L_max) sum_i sum_t min(r A_i, clip(r,1±eps) A_i), A_i = R_i - mean(R)",
        exact="no std division, no 1/|o_i|, constant normaliser; equals TRL loss_type='dr_grpo'",
        reconstructed="L_max = extras['max_new_tokens'] (falls back to the batch width T)",
        defaults_source="eps 0.2 and beta 0 from the paper",
    )

    def __init__(self, eps: float = 0.2) -> None:
        super().__init__(eps=eps)
        self.eps = eps

    def loss(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        rewards = self.shape_rewards(batch)
        adv = parts.group_normalised_advantage(rewards, batch.group_size, scale_by_std=False)[:, None]
        ratio = torch.exp(parts.token_log_ratio(batch.logprobs, batch.old_logprobs))
        per_token = parts.clipped_surrogate(ratio, adv, self.eps, self.eps)
        if "max_new_tokens" not in batch.extras and batch.num_sequences is not None:
            raise ValueError(
                "dr_grpo on a micro-batch (batch.num_sequences set) needs batch.extras['max_new_tokens']: "
                "the fallback L_max, the padded width T, can differ between micro-batches, so their losses "
                "would not sum to the full-batch loss"
            )
        max_tokens = int(batch.extras.get("max_new_tokens", batch.mask.shape[-1]))
        loss = parts.constant_normaliser(per_token, batch.mask, max_tokens, batch.num_sequences)
        return loss, {"clip_frac": parts.clip_fraction(ratio, adv, batch.mask, self.eps, self.eps)}
