"""Dr. GRPO: GRPO Done Right.

Provenance
- Paper: Liu et al., "Understanding R1-Zero-Like Training: A Critical Perspective",
  arXiv 2503.20783: sec. 3.1 (GRPO's objective, eq. 3, and its two biases), sec. 3.2 and
  Listing 1 (Dr. GRPO: both normalisers removed, a constant one instead), appendix A (the
  unbiased gradient), appendix G Table 6 (hyperparameters). No seed article.
- Equation: L = -1/(B * L_max) sum_i sum_t min(r_it A_i, clip(r_it, 1-eps, 1+eps) A_i),
  A_i = R_i - mean(R) (no division by std).
- Exact:
  * no std division of the advantage and no 1/|o_i| per-sequence normaliser (sec. 3.2).
  * the constant normaliser: each sequence's token sum divided by MAX_TOKENS, the maximum number
    of generation tokens, then the mean over sequences (Listing 1, sec. 3.2): 1/(B * L_max) with
    L_max = ``batch.extras['max_new_tokens']``.
  * eps 0.2 and no KL term (Table 6: policy clipping parameter 0.2, KL coefficients 0.0).
  Loss and gradient equal TRL's GRPOTrainer with loss_type 'dr_grpo' and scale_rewards 'none'
  (trl/trainer/grpo_trainer.py:3163-3164; tests/test_objectives_trl_parity.py).
- Reconstructed: without ``max_new_tokens`` we fall back to the padded width T of the batch,
  which varies between batches, so the trainer should set it (and must, for micro-batches: a
  micro-batch, ``batch.num_sequences`` set, without it raises, since its width need not be the
  full minibatch's).
- Mechanism: none (``mechanism = ()``). Dr. GRPO is a baseline whose changes to GRPO (no std, a
  constant normaliser) act the same way on every batch; nothing in it switches on or off.
- Defaults: eps 0.2, no KL (Table 6).
"""
from __future__ import annotations

from typing import ClassVar

import torch

from harness.objectives import Objective, Provenance, RolloutBatch, register
from harness.objectives import parts


@register("dr_grpo")
class DrGRPO(Objective):
    provenance = Provenance(
        paper="arXiv 2503.20783 (Dr. GRPO)",
        equation="-1/(B*L_max) sum_i sum_t min(r A_i, clip(r,1±eps) A_i), A_i = R_i - mean(R)",
        exact=(
            "no std division, no 1/|o_i| (sec. 3.2); 1/(B*MAX_TOKENS), MAX_TOKENS = generation cap (Listing 1); "
            "eps 0.2, no KL (Table 6); = trl/trainer/grpo_trainer.py:3164"
        ),
        reconstructed="without extras['max_new_tokens'], L_max falls back to the batch width T",
        defaults_source="eps 0.2 and KL 0 from the paper's Table 6",
    )
    # a baseline: no std and a constant normaliser act on every batch alike; nothing conditional
    mechanism: ClassVar[tuple[str, ...]] = ()

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
