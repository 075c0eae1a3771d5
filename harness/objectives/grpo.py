"""GRPO: Group Relative Policy Optimization.

Provenance
- Paper: Shao et al., DeepSeekMath, arXiv 2402.03300, sec. 4.1 (eq. 3 with the outcome
  supervision advantage of sec. 4.1.2).
- Equation: L = -1/G sum_i 1/|o_i| sum_t [min(r_it A_i, clip(r_it, 1-eps, 1+eps) A_i)
  - beta * KL_k3(pi_theta || pi_ref)_it],  A_i = (R_i - mean(R)) / (std(R) + 1e-4).
- Exact: token ratio clip and seq-mean-token-mean 1/G sum_i 1/|o_i| sum_t (eq. 3), the
  group-normalised outcome advantage (R_i - mean(R)) / std(R) (sec. 4.1.2), the k3 KL estimator
  added to the loss (eq. 4). Loss and gradient equal TRL's GRPOTrainer with loss_type 'grpo'
  (trl/trainer/grpo_trainer.py:3153-3154; tests/test_objectives_trl_parity.py).
- Reconstructed: the 1e-4 in the std denominator and the unbiased std follow TRL's
  GRPOTrainer (trl/trainer/grpo_trainer.py:2787; the paper states no epsilon); eps 0.2: the
  paper writes eps in eq. 3 but states no value, 0.2 is PPO's and TRL's default
  (trl/trainer/grpo_config.py:693-694).
- Mechanism: none (``mechanism = ()``): GRPO is the baseline, it acts the same way on every batch.
- Defaults: eps 0.2 (TRL's default, see above), beta 0.0 (the arena's toy default: no reference
  model needed; the paper used 0.04, sec. 4.2 — set `beta` in config to reproduce).
"""
from __future__ import annotations

from typing import ClassVar

import torch

from harness.objectives import Objective, Provenance, RolloutBatch, register
from harness.objectives import parts


@register("grpo")
class GRPO(Objective):
    provenance = Provenance(
        paper="arXiv 2402.03300 (DeepSeekMath, GRPO)",
        equation="-1/G sum_i 1/|o_i| sum_t min(r A_i, clip(r,1±eps) A_i) + beta*k3",
        exact="token ratio clip, seq-mean-token-mean (eq. 3); (R-mean)/std advantage (sec. 4.1.2); k3 KL (eq. 4)",
        reconstructed="std eps 1e-4, unbiased std (trl/trainer/grpo_trainer.py:2787); eps 0.2 (paper states none)",
        defaults_source=(
            "eps 0.2 TRL's default (trl/trainer/grpo_config.py:694); beta 0 arena default (paper 0.04, sec. 4.2)"
        ),
    )
    # the baseline: every part acts the same way on every batch, nothing conditional to measure
    mechanism: ClassVar[tuple[str, ...]] = ()

    def __init__(self, eps: float = 0.2, beta: float = 0.0, adv_eps: float = 1e-4) -> None:
        super().__init__(eps=eps, beta=beta, adv_eps=adv_eps)
        self.eps, self.beta, self.adv_eps = eps, beta, adv_eps

    def required_signals(self) -> frozenset[str]:
        return frozenset({"ref_logprobs"}) if self.beta > 0 else frozenset()

    def loss(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        rewards = self.shape_rewards(batch)
        adv = parts.group_normalised_advantage(rewards, batch.group_size, eps=self.adv_eps)
        ratio = torch.exp(parts.token_log_ratio(batch.logprobs, batch.old_logprobs))
        per_token = parts.clipped_surrogate(ratio, adv[:, None], self.eps, self.eps)
        metrics: dict[str, float] = {
            "clip_frac": parts.clip_fraction(ratio, adv[:, None], batch.mask, self.eps, self.eps)
        }
        if self.beta > 0:
            if batch.ref_logprobs is None:
                raise ValueError("grpo with beta > 0 needs batch.ref_logprobs")
            kl = parts.k3_kl(batch.logprobs, batch.ref_logprobs)
            per_token = per_token + self.beta * kl
            metrics["kl"] = parts.masked_mean(kl.detach(), batch.mask)
        loss = parts.seq_mean_token_mean(per_token, batch.mask, batch.num_sequences)
        return loss, metrics
