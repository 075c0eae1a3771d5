"""HMPO: Hybrid Median-length Policy Optimization.

Provenance
- Paper: Zheng et al., "HMPO: Hybrid Median-length Policy Optimization for
  Chain-of-Thought Compression", arXiv 2606.01934. Seed article:
  shared/seeds/004_7003dd4e4183a316.txt. No public code.
- Equation: R_i = c_i * f(L_i),
  f(L) = 1 if L <= B_g else (1 + cos(pi * min(1, (L - B_g) / (L_max - B_g)))) / 2,
  B_g = median length of the group's correct rollouts, then GRPO on R
  (A_i = (R_i - mean(R)) / (std(R) + 1e-4), token ratio clip, seq-mean-token-mean).
- Exact (abstract + issue): median budget from the group's successful rollouts, cosine
  decay beyond it, multiplicative reward (a wrong answer earns 0 whatever its length),
  group normalisation as GRPO.
- Reconstructed / our reading: L_max = ``batch.extras["max_new_tokens"]`` (the generation
  cap, so a truncated rollout at the cap gets f = 0); c_i = 1 if the verifier score
  > 0.5; the median of an even count is the mean of the two middle lengths; lengths come
  from the mask. A group with no correct rollout has no budget; every reward in it is
  c * f = 0, so its advantage is 0 (no signal), as in GRPO. If B_g = L_max, f = 1.
- Defaults: eps 0.2 and beta 0 as the arena's GRPO (HMPO's are not public).
"""
from __future__ import annotations

import torch

from harness.objectives import Provenance, RolloutBatch, register
from harness.objectives import parts
from harness.objectives.grpo import GRPO


@register("hmpo")
class HMPO(GRPO):
    provenance = Provenance(
        paper="arXiv 2606.01934 (HMPO)",
        equation="R = c * f(L), f = 1 if L<=B else (1+cos(pi*min(1,(L-B)/(Lmax-B))))/2, B = median correct length; GRPO",
        exact="median budget of correct rollouts, cosine decay, multiplicative reward, GRPO normalisation",
        reconstructed="L_max = extras['max_new_tokens']; even-count median = mean of middle two; no-correct group -> 0",
        defaults_source="eps 0.2, beta 0 as the arena's GRPO (paper's not public)",
        seed_article="shared/seeds/004_7003dd4e4183a316.txt",
    )

    def shape_rewards(self, batch: RolloutBatch) -> torch.Tensor:
        if "max_new_tokens" not in batch.extras:
            raise ValueError("hmpo needs batch.extras['max_new_tokens'] (L_max of the cosine decay); set it in the trainer")
        correct = parts.correct_mask(batch.rewards)
        lengths = batch.lengths
        budget, _ = parts.group_median_correct_length(lengths, correct, batch.group_size)
        f = parts.cosine_length_factor(lengths, budget, int(batch.extras["max_new_tokens"]))
        return correct.float() * f
