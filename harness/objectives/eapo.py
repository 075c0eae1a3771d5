"""EAPO: Entropy-Aware Policy Optimization.

Provenance
- Paper: "Rethinking Token-Level Credit Assignment in RLVR: A Polarity-Entropy
  Analysis", arXiv 2604.11056 (v2 retitled HAPO). Seed article:
  shared/seeds/002_956a3b770daa7361.txt. No public code; we had the abstract and
  summaries (four quadrants reward polarity x entropy; the credit a token can carry is
  bounded by its entropy; hyperparameters alpha and phi), not the equations.
- Equation (our reconstruction):
  L = -1/sum_i |o_i| sum_i sum_t min(r_it A_i w_it, clip(r_it, 1-eps_low, 1+eps_high) A_i w_it),
  w_it = (1 - alpha) + alpha * |o_i| * H_it^phi / sum_t H_it^phi  (H detached),
  A_i = (R_i - mean(R)) / (std(R) + 1e-4).
- Exact: nothing verified against the paper's equations; the two named
  hyperparameters (alpha, phi) and the principle (credit bounded by entropy, applied to
  both reward polarities) come from its abstract and summaries.
- Reconstructed: the weight formula above, which keeps the sign of A_i (w > 0) and
  each sequence's mean weight at exactly 1, so credit moves from low- to high-entropy
  tokens without changing the sequence's total; the DAPO surrogate (clip-higher,
  token-mean) it is applied to.
- Defaults: alpha 0.5, phi 1.0 (ours: the paper's values are not public);
  eps_low 0.2 / eps_high 0.28 from DAPO.
"""
from __future__ import annotations

import torch

from harness.objectives import Objective, Provenance, RolloutBatch, register
from harness.objectives import parts


@register("eapo")
class EAPO(Objective):
    needs = frozenset({"entropy"})
    provenance = Provenance(
        paper="arXiv 2604.11056 (EAPO; v2 HAPO)",
        equation="token-mean -min(r A_i w_it, clip(r,1-0.2,1+0.28) A_i w_it), w = (1-a) + a|o| H^phi/sum H^phi",
        exact="alpha, phi and entropy-bounded credit for both polarities (abstract)",
        reconstructed="the weight formula (sign- and mean-preserving), DAPO surrogate; all ours",
        defaults_source="alpha 0.5, phi 1 ours (paper's not public); eps 0.2/0.28 from DAPO",
        seed_article="shared/seeds/002_956a3b770daa7361.txt",
    )

    def __init__(
        self, alpha: float = 0.5, phi: float = 1.0, eps_low: float = 0.2, eps_high: float = 0.28, adv_eps: float = 1e-4
    ) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"eapo alpha must lie in [0, 1] so weights stay positive, got {alpha}")
        super().__init__(alpha=alpha, phi=phi, eps_low=eps_low, eps_high=eps_high, adv_eps=adv_eps)
        self.alpha, self.phi, self.eps_low, self.eps_high, self.adv_eps = alpha, phi, eps_low, eps_high, adv_eps

    def token_weights(self, batch: RolloutBatch) -> torch.Tensor:
        """[B, T] w_it; positive, mean 1 over each sequence's tokens."""
        return parts.entropy_credit_weights(self.require(batch, "entropy"), batch.mask, self.alpha, self.phi)

    def loss(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        rewards = self.shape_rewards(batch)
        adv = parts.group_normalised_advantage(rewards, batch.group_size, eps=self.adv_eps)[:, None]
        token_adv = adv * self.token_weights(batch)
        ratio = torch.exp(parts.token_log_ratio(batch.logprobs, batch.old_logprobs))
        per_token = parts.clipped_surrogate(ratio, token_adv, self.eps_low, self.eps_high)
        return parts.token_mean(per_token, batch.mask, batch.num_tokens), {
            "clip_frac": parts.clip_fraction(ratio, token_adv, batch.mask, self.eps_low, self.eps_high)
        }
