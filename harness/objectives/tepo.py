"""TEPO: Token-level Policy Optimization (sequence-likelihood link + masked KL).

Provenance
- Paper: Lin et al., "Token-Level Policy Optimization: Linking Group-Level Rewards to
  Token-Level Aggregation via Sequence-Level Likelihood", arXiv 2604.12736 (earlier
  version "... via Markov Likelihood", arXiv 2510.09369). Seed article:
  shared/seeds/000_acd63d52e6ef9aed.txt. No public code; only the abstract's two
  mechanisms were available to us, not the paper's equations.
- Equation (our reconstruction):
  L = 1/sum_i |o_i| sum_i sum_t [ -min(s_it A_i, clip(s_it, 1-eps_low, 1+eps_high) A_i)
                                  + beta * M_it * KL_k3(pi_theta || pi_ref)_it ],
  s_it = sg[s_i] * pi_theta(o_t)/sg[pi_theta(o_t)], s_i = exp(1/|o_i| sum_t log r_it),
  M_it = 1[A_i > 0] * 1[H_theta,it < H_old,it - margin],
  A_i = (R_i - mean(R)) / (std(R) + 1e-4).
- Exact (from the abstract): (1) the group reward reaches tokens through the
  sequence-level likelihood, aggregated at token level; (2) a token-level KL mask that
  targets tokens with positive advantage and decreasing entropy.
- Reconstructed: "sequence-level likelihood" = GSPO's length-normalised sequence ratio in
  its token form; "token-level aggregation" = DAPO's token-mean over the batch (GSPO
  itself averages per sequence); the clip range is GSPO's 3e-4 / 4e-4 because the
  clipped quantity is the same sequence ratio; the KL is the k3 estimator against the
  reference model, "entropy decreased" compares the current policy's token entropy with
  the sampling policy's (batch.entropy vs batch.old_entropy), with a 1e-6 nat margin so
  float noise cannot flip the mask; the KL shares the token-mean normaliser.
  Consequence: with a single update per rollout batch H_theta == H_old, the mask is empty
  and TEPO reduces to token-mean GSPO; the KL acts on the 2nd and later updates
  (trainer's updates_per_batch > 1).
- Defaults: eps_low 3e-4, eps_high 4e-4 (GSPO paper); beta 0.04 (GRPO paper's KL
  coefficient; TEPO's value is not public); margin 1e-6 (ours, numerical guard).
"""
from __future__ import annotations

import torch

from harness.objectives import Objective, Provenance, RolloutBatch, register
from harness.objectives import parts


@register("tepo")
class TEPO(Objective):
    provenance = Provenance(
        paper="arXiv 2604.12736 (TEPO; v1 2510.09369)",
        equation="token-mean[-min(s_it A, clip(s_it) A) + beta*1[A>0, H<H_old]*k3], s_it = GSPO-token ratio",
        exact="sequence-likelihood link + token aggregation; KL masked to A>0 & falling entropy (abstract)",
        reconstructed="GSPO-token ratio, token-mean, GSPO clip 3e-4/4e-4, k3 KL vs ref, H_theta vs H_old, all ours",
        defaults_source="eps from GSPO paper, beta 0.04 from GRPO paper (TEPO's not public)",
        seed_article="shared/seeds/000_acd63d52e6ef9aed.txt",
    )

    def __init__(
        self, eps_low: float = 3e-4, eps_high: float = 4e-4, beta: float = 0.04,
        entropy_margin: float = 1e-6, adv_eps: float = 1e-4,
    ) -> None:
        super().__init__(eps_low=eps_low, eps_high=eps_high, beta=beta, entropy_margin=entropy_margin, adv_eps=adv_eps)
        self.eps_low, self.eps_high, self.beta = eps_low, eps_high, beta
        self.entropy_margin, self.adv_eps = entropy_margin, adv_eps

    def required_signals(self) -> frozenset[str]:
        return frozenset({"entropy", "old_entropy", "ref_logprobs"}) if self.beta > 0 else frozenset()

    def kl_mask(self, batch: RolloutBatch, advantage: torch.Tensor) -> torch.Tensor:
        """[B, T] 1.0 on the tokens the KL term acts on; advantage [B, 1]."""
        entropy, old_entropy = self.require(batch, "entropy"), self.require(batch, "old_entropy")
        return parts.positive_falling_entropy_mask(advantage, entropy, old_entropy, batch.mask, self.entropy_margin)

    def loss(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        rewards = self.shape_rewards(batch)
        adv = parts.group_normalised_advantage(rewards, batch.group_size, eps=self.adv_eps)[:, None]
        ratio = parts.sequence_ratio_token_grad(batch.logprobs, batch.old_logprobs, batch.mask)
        per_token = parts.clipped_surrogate(ratio, adv, self.eps_low, self.eps_high)
        metrics = {"clip_frac": parts.clip_fraction(ratio.detach(), adv, batch.mask, self.eps_low, self.eps_high)}
        if self.beta > 0:
            mask = self.kl_mask(batch, adv)
            kl = parts.k3_kl(batch.logprobs, self.require(batch, "ref_logprobs"))
            per_token = per_token + self.beta * mask * kl
            metrics["kl_mask_frac"] = parts.masked_mean(mask, batch.mask)
            metrics["kl"] = parts.masked_mean(kl.detach(), batch.mask)
        return parts.token_mean(per_token, batch.mask, batch.num_tokens), metrics
