"""IAPO: Information-Aware Policy Optimization.

Provenance
- Paper: He et al., "IAPO: Information-Aware Policy Optimization for Token-Efficient
  Reasoning", arXiv 2602.19049. Reference code by its authors:
  github.com/YinhanHe123/IAPO, package_code/trainer/g2rpo_trainer.py (read for this
  file). Seed article: shared/seeds/003_54a9700daefc8699.txt. The paper's own equations
  were not available to us; we built from the issue text, the abstract and the code.
- Equation:
  A_it = A_i + lambda_s * s~_it - sign_i * lambda_c * c~_it,
  s_it = H(Y | q, o_<t) - H(Y | q, o_<=t)  (information gain of token t about the answer,
         the early-exit conditional-MI estimate: a = batch.extras["answer_entropy"],
         s_t = a_{t-1} - a_t, s_0 = 0),
  c_it = H_theta,it (token entropy, detached),
  x~ = (x - mean_t x) / ||x - mean_t x||_2 per sequence over its completion tokens,
  sign_i = +1 for a right answer, -1 for a wrong one,
  L = 1/sum|o_i| sum_i,t [-min(r A_it, clip(r, 1-eps_low, 1+eps_high) A_it) + beta * KL_k3],
  A_i = (R_i - mean(R)) / (std(R) + 1e-4).
- Exact (reference code): the advantage composition A_i + lambda_s s~/||s~|| -
  sign(r) lambda_c c~/||c~||; s from the early-exit answer entropy after appending the
  answer delimiter at every prefix (KV-cache reuse: harness.rollout.signals); c the
  token entropy; clip 0.2/0.28, token-mean over the batch (TRL "bnpo"), beta 0.001, G 8.
- Reference-code slip we do not copy: it z-normalises as
  ``x - x.mean(1) / (x.std(1) + 1e-8)``, which by operator precedence is x - (mean/std),
  not (x - mean)/std. We implement the paper's intent, (x - mean)/std; the following
  division by the L2 norm makes this equal to centring then unit norm. The code also
  takes mean/std/norm over the padded width; we use completion tokens only.
- Reconstructed: (1) s is the drop of answer entropy caused by token t (the MI the paper
  names); the code uses a 2-tap smoothed version, (e_t + e_{t-1})/2 - e_{t+1} with zero
  padding at both ends, we use the plain difference; our signal is indexed by prefix
  o_<=t, so the first token (which needs the prompt-only entropy) gets s_0 = 0.
  (2) sign: the code multiplies by sign(r) with rewards in {-1.5, -0.5, 0.5, 1.5}
  (correctness +-1 plus format +-0.5) so it is never 0; the arena's rewards are 1/0, so
  we use +1 right / -1 wrong, which keeps the intent.
- Defaults: lambda_s = lambda_c = 1.0 (reference code defaults and run script; README
  sweeps 1e-6..1), eps 0.2/0.28, beta 0.001 (reference run script); G 8 is the trainer's
  group_size (reference default num_generations).
"""
from __future__ import annotations

import torch

from harness.objectives import Objective, Provenance, RolloutBatch, register
from harness.objectives import parts


@register("iapo")
class IAPO(Objective):
    provenance = Provenance(
        paper="arXiv 2602.19049 (IAPO; code github.com/YinhanHe123/IAPO)",
        equation="A_it = A_i + ls*s~ - sign_i*lc*c~, s = answer-entropy drop, c = token entropy; token-mean clip + beta*k3",
        exact="advantage composition, unit-norm terms, clip 0.2/0.28, token-mean, beta 0.001 (reference code)",
        reconstructed="z-norm as intended (code: x - mean/std slip); s = plain entropy drop, s_0 = 0; sign = right/wrong",
        defaults_source="reference code g2rpo_config.py and main.py",
        seed_article="shared/seeds/003_54a9700daefc8699.txt",
    )

    def __init__(
        self, lambda_s: float = 1.0, lambda_c: float = 1.0, eps_low: float = 0.2, eps_high: float = 0.28,
        beta: float = 0.001, adv_eps: float = 1e-4,
    ) -> None:
        super().__init__(lambda_s=lambda_s, lambda_c=lambda_c, eps_low=eps_low, eps_high=eps_high, beta=beta, adv_eps=adv_eps)
        self.lambda_s, self.lambda_c, self.eps_low, self.eps_high = lambda_s, lambda_c, eps_low, eps_high
        self.beta, self.adv_eps = beta, adv_eps

    def required_signals(self) -> frozenset[str]:
        needs = {"entropy", "answer_entropy"}
        return frozenset(needs | {"ref_logprobs"} if self.beta > 0 else needs)

    def token_advantage(self, batch: RolloutBatch, rewards: torch.Tensor) -> torch.Tensor:
        """[B, T] A_it."""
        adv = parts.group_normalised_advantage(rewards, batch.group_size, eps=self.adv_eps)[:, None]
        gain = parts.information_gain(self.require(batch, "answer_entropy"), batch.mask)
        s = parts.centred_unit_norm(gain, batch.mask)
        c = parts.centred_unit_norm(self.require(batch, "entropy"), batch.mask)
        sign = torch.where(parts.correct_mask(batch.rewards), 1.0, -1.0)[:, None]
        return (adv + self.lambda_s * s - sign * self.lambda_c * c) * batch.mask

    def loss(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        rewards = self.shape_rewards(batch)
        adv = self.token_advantage(batch, rewards)
        ratio = torch.exp(parts.token_log_ratio(batch.logprobs, batch.old_logprobs))
        per_token = parts.clipped_surrogate(ratio, adv, self.eps_low, self.eps_high)
        metrics = {"clip_frac": parts.clip_fraction(ratio, adv, batch.mask, self.eps_low, self.eps_high)}
        if self.beta > 0:
            kl = parts.k3_kl(batch.logprobs, self.require(batch, "ref_logprobs"))
            per_token = per_token + self.beta * kl
            metrics["kl"] = parts.masked_mean(kl.detach(), batch.mask)
        return parts.token_mean(per_token, batch.mask, batch.num_tokens), metrics
