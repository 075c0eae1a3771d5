"""HMPO: Hybrid Median-length Policy Optimization.

Provenance
- Paper: Zheng et al., "HMPO: Hybrid Median-length Policy Optimization for
  Chain-of-Thought Compression", arXiv 2606.01934. Seed article:
  shared/seeds/004_7003dd4e4183a316.txt. No public code. The method section (its
  equations) was not available to us: the seed article and the arXiv abstract name the
  three components but give no formula.
- Equation (our reading): R_i = c_i * f(L_i),
  f(L) = 1 if L <= B_g else (1 + cos(pi * min(1, (L - B_g) / (L_max - B_g)))) / 2,
  B_g = median length of the group's correct rollouts, then GRPO on R
  (A_i = (R_i - mean(R)) / (std(R) + 1e-4), token ratio clip, seq-mean-token-mean).
- Exact (seed article): the three components, "It employs an adaptive, median-based
  budget, a cosine-decay token reward system, and a clever multiplicative reward
  formulation." and their purpose, "Together, these components work to prioritize accuracy
  over mere reward hacking." Nothing else below is stated there.
- Reconstructed, each in turn:
  (1) the budget is the median over the group's correct rollouts (the seed says only
  median-based; the arXiv abstract adds 'derived from successful rollouts'); the median
  of an even count is the mean of the two middle lengths; lengths come from the mask;
  c_i = 1 if the verifier score > 0.5.
  (2) the cosine form (1 + cos(pi x)) / 2 on x = (L - B_g) / (L_max - B_g): the seed says
  cosine decay, not which cosine, nor over what span.
  (3) f = 1 at or below the budget: not stated; our reading of a budget.
  (4) L_max = ``batch.extras["max_new_tokens"]``, the generation cap (a rollout truncated
  at the cap gets f = 0); if B_g = L_max, f = 1.
  (5) multiplicative as R = c * f, so a wrong answer earns 0 whatever its length; a group
  with no correct rollout has no budget and all rewards 0, so its advantage is 0.
  (6) GRPO as the policy-gradient base (the seed says a single-stage reinforcement learning
  framework, not which one).
- Mechanism metrics: ``hmpo_over_budget_frac``, the share of correct rollouts longer than
  their group's budget (the only ones whose reward the length decay lowers), and
  ``hmpo_decay_mean``, the mean of 1 - f over correct rollouts. Both 0 (or no correct
  rollout) means the step was plain GRPO.
- Defaults: eps 0.2 and beta 0 as the arena's GRPO (HMPO's are not public).
"""
from __future__ import annotations

import torch

from harness.objectives import Provenance, RolloutBatch, register
from harness.objectives import parts
from harness.objectives.grpo import GRPO


@register("hmpo")
class HMPO(GRPO):
    #: meant to shorten responses: the integrity report lists its length collapse as expected
    compresses = True
    mechanism = ("hmpo_over_budget_frac",)
    provenance = Provenance(
        paper="arXiv 2606.01934 (HMPO)",
        equation="R = c * f(L), f = 1 if L<=B else (1+cos(pi*min(1,(L-B)/(Lmax-B))))/2, B = median correct length; GRPO",
        exact=(
            "\"an adaptive, median-based budget, a cosine-decay token reward system, and a clever multiplicative reward "
            "formulation\" (seed); nothing more"
        ),
        reconstructed=(
            "median over correct rollouts; cosine form; f = 1 at/below budget; L_max = extras['max_new_tokens']; "
            "R = c*f; GRPO base; even-count median = mean of middle two"
        ),
        defaults_source="eps 0.2, beta 0 as the arena's GRPO (paper's not public)",
        seed_article="shared/seeds/004_7003dd4e4183a316.txt",
    )

    def length_factor(self, batch: RolloutBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(correct [B] bool, budget B_g [B], f(L) [B]) of each rollout."""
        if "max_new_tokens" not in batch.extras:
            raise ValueError("hmpo needs batch.extras['max_new_tokens'] (L_max of the cosine decay); set it in the trainer")
        correct = parts.correct_mask(batch.rewards)
        lengths = batch.lengths
        budget, _ = parts.group_median_correct_length(lengths, correct, batch.group_size)
        f = parts.cosine_length_factor(lengths, budget, int(batch.extras["max_new_tokens"]))
        return correct, budget, f

    def shape_rewards(self, batch: RolloutBatch) -> torch.Tensor:
        """rewards [B] -> c * f(L), [B]."""
        correct, _, f = self.length_factor(batch)
        return correct.float() * f

    def loss(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        loss, metrics = super().loss(batch)
        correct, budget, f = self.length_factor(batch)
        n_correct = int(correct.sum())
        if n_correct == 0:
            metrics.update({"hmpo_over_budget_frac": 0.0, "hmpo_decay_mean": 0.0})
        else:
            over = (batch.lengths > budget) & correct
            metrics["hmpo_over_budget_frac"] = float(over.sum()) / n_correct
            metrics["hmpo_decay_mean"] = float((1.0 - f)[correct].mean())
        return loss, metrics
