"""IAPO: Information-Aware Policy Optimization.

Provenance
- Paper: He et al., "IAPO: Information-Aware Policy Optimization for Token-Efficient
  Reasoning", arXiv 2602.19049. Reference code by its authors: github.com/YinhanHe123/IAPO
  (commit c00f0c9; read for this file; the method is called G2RPO there). Seed article:
  shared/seeds/003_54a9700daefc8699.txt. The paper's own equations were not available to
  us; we built from the seed article, the abstract and the reference code. Line numbers
  below are of that commit; ``trainer/`` is ``package_code/trainer/``.
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
- Exact: token-wise advantages from the answer information, "By assigning token-wise
  advantages based on conditional mutual information (MI) with the final answer" (seed
  article); in the reference code: the composition A_i + lambda_s s~ - sign(r) lambda_c c~
  (package_code/trainer/g2rpo_trainer.py:2049, package_code/trainer/g2rpo_trainer.py:2050);
  each term divided by its L2 norm over the sequence (package_code/trainer/g2rpo_trainer.py:2042,
  package_code/trainer/g2rpo_trainer.py:2043); s from the early-exit answer entropy after
  appending the answer delimiter to every prefix (package_code/trainer/g2rpo_trainer.py:1145,
  KV-cache reuse as ours in harness.rollout.signals); c the policy's token entropy
  (package_code/trainer/g2rpo_trainer.py:1233); A_i with std + 1e-4
  (package_code/trainer/g2rpo_trainer.py:2023); clip eps_low 0.2
  (package_code/trainer/g2rpo_config.py:458) and eps_high 0.28 (main.py:151); token-mean
  over the batch, TRL's bnpo loss type (main.py:152, package_code/trainer/g2rpo_trainer.py:2256); k3
  KL (package_code/trainer/g2rpo_trainer.py:2211) with beta 0.001 (README.md:170, the run
  script; the CLI default at utils.py:208 is 0); G 8 (utils.py:196). The right/wrong sign:
  the code's sign(r) (package_code/trainer/g2rpo_trainer.py:2050) of rewards format +-0.5
  (compute_reward.py:37) plus correctness +-1 (compute_reward.py:47) is the sign of
  correctness, so +1 right / -1 wrong is the same rule.
- Reference-code slip we do not copy: it z-normalises as
  ``x - x.mean(1) / (x.std(1) + 1e-8)`` (package_code/trainer/g2rpo_trainer.py:2025,
  package_code/trainer/g2rpo_trainer.py:2039), which by operator precedence is
  x - (mean/std), not (x - mean)/std. We implement the intent, (x - mean)/std; the
  following division by the L2 norm makes this equal to centring then unit norm. The code
  also takes mean/std/norm over the padded width; we use completion tokens only.
- Reconstructed: (1) s is the plain drop of answer entropy caused by token t. The code's
  entropies e_i are taken before token i (prefix o_<i, g2rpo_trainer.py:1145) and it uses
  a 2-tap smoothed gain (e_i + e_{i-1})/2 - e_{i+1} with zero padding at both ends
  (package_code/trainer/g2rpo_trainer.py:1304), i.e. in our indexing
  (a_{t-1} + a_{t-2})/2 - a_t; we use a_{t-1} - a_t. Our signal is indexed by prefix o_<=t,
  so the first token (which needs the prompt-only entropy) gets s_0 = 0. (2) A_i is
  computed from the arena's 1/0 verifier score, not the code's format+correctness reward.
  (3) c is the current policy's entropy, detached; the code takes it from the sampling
  pass (equal on-policy).
- Mechanism metrics: ``iapo_info_share`` and ``iapo_entropy_share`` = mean_t |lambda_s s~|
  (resp. |lambda_c c~|) over completion tokens / (mean |A_i| + mean |lambda_s s~| +
  mean |lambda_c c~|): how much of the token advantage the information and entropy terms
  carry. 0 means IAPO is clipped token-mean on that step. A share, not a ratio to
  mean |A_i|: on a step where every group is all right or all wrong, A_i = 0 and the
  token terms are the whole gradient (a ratio would be infinite).
- Defaults: lambda_s = lambda_c = 1.0. The reference repository sets them in five places
  with two values: 1e-6 in the CLI (utils.py:114, utils.py:132), the run script
  (README.md:123, README.md:124) and the argument table (README.md:297); 1.0 in the config
  dataclass (package_code/trainer/g2rpo_config.py:583,
  package_code/trainer/g2rpo_config.py:601) and the quick start (README.md:87,
  README.md:88). For the paper's results the README says to sweep [1e-6, 1e-4, 1e-2, 1]
  (README.md:104); the weights of each reported run are listed in
  ckpts_postprocessing.ipynb:549 (``best_surp_conf``) and differ by model and data set.
  We take the GSM8K runs of the two smallest models, (1, 1) (ckpts_postprocessing.ipynb:550
  for 0.5B, ckpts_postprocessing.ipynb:555 for 1.5B; their checkpoints
  ckpts_postprocessing.ipynb:1532, ckpts_postprocessing.ipynb:1535): the closest to the
  arena's scale and task (the embedded math world is chained addition; GSM8K is grade-school
  arithmetic). At 1e-6 the token terms (unit norm, so each |s~_t|, |c~_t| <= 1) are at most
  1e-6 of |A_i| ~ 1, so IAPO would be clipped token-mean with a KL term and nothing else
  (the mechanism metrics above show it). eps 0.2/0.28, beta 0.001, G 8 as cited under
  Exact (G is the trainer's group_size).
"""
from __future__ import annotations

import torch

from harness.objectives import Objective, Provenance, RolloutBatch, register
from harness.objectives import parts


@register("iapo")
class IAPO(Objective):
    #: meant to shorten responses: the integrity report lists its length collapse as expected
    compresses = True
    mechanism = ("iapo_info_share", "iapo_entropy_share")
    provenance = Provenance(
        paper="arXiv 2602.19049 (IAPO; code github.com/YinhanHe123/IAPO)",
        equation="A_it = A_i + ls*s~ - sign_i*lc*c~, s = answer-entropy drop, c = token entropy; token-mean clip + beta*k3",
        exact=(
            "A_i + ls*s~ - sign*lc*c~ (trainer/g2rpo_trainer.py:2049), unit-norm terms (trainer/g2rpo_trainer.py:2042), "
            "clip 0.2 (trainer/g2rpo_config.py:458) / 0.28 (main.py:151), token-mean (main.py:152), beta 0.001 (README.md:170)"
        ),
        reconstructed=(
            "z-norm as intended (code slip g2rpo_trainer.py:2025); s = plain entropy drop, s_0 = 0 (code: 2-tap smoothed, "
            "g2rpo_trainer.py:1304); A_i from 1/0 scores; sign = right/wrong"
        ),
        defaults_source=(
            "lambda 1/1: paper's GSM8K 0.5B/1.5B runs (ckpts_postprocessing.ipynb:550, :555; repo also has 1e-6 in "
            "utils.py:114); eps, beta, G from the reference run (see Exact)"
        ),
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

    def advantage_terms(
        self, batch: RolloutBatch, rewards: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The three terms of A_it, each 0 on padding: (A_i [B, 1], lambda_s s~ [B, T], -sign_i lambda_c c~ [B, T])."""
        adv = parts.group_normalised_advantage(rewards, batch.group_size, eps=self.adv_eps)[:, None]
        gain = parts.information_gain(self.require(batch, "answer_entropy"), batch.mask)
        s = parts.centred_unit_norm(gain, batch.mask)
        c = parts.centred_unit_norm(self.require(batch, "entropy"), batch.mask)
        sign = torch.where(parts.correct_mask(batch.rewards), 1.0, -1.0)[:, None]
        return adv, self.lambda_s * s * batch.mask, -sign * self.lambda_c * c * batch.mask

    def token_advantage(self, batch: RolloutBatch, rewards: torch.Tensor) -> torch.Tensor:
        """[B, T] A_it."""
        adv, info, entropy_term = self.advantage_terms(batch, rewards)
        return (adv + info + entropy_term) * batch.mask

    def loss(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        rewards = self.shape_rewards(batch)
        adv_i, info, entropy_term = self.advantage_terms(batch, rewards)
        adv = (adv_i + info + entropy_term) * batch.mask
        ratio = torch.exp(parts.token_log_ratio(batch.logprobs, batch.old_logprobs))
        per_token = parts.clipped_surrogate(ratio, adv, self.eps_low, self.eps_high)
        metrics = {"clip_frac": parts.clip_fraction(ratio, adv, batch.mask, self.eps_low, self.eps_high)}
        metrics.update(_term_shares(adv_i, info, entropy_term, batch.mask))
        if self.beta > 0:
            kl = parts.k3_kl(batch.logprobs, self.require(batch, "ref_logprobs"))
            per_token = per_token + self.beta * kl
            metrics["kl"] = parts.masked_mean(kl.detach(), batch.mask)
        return parts.token_mean(per_token, batch.mask, batch.num_tokens), metrics


def _term_shares(
    adv: torch.Tensor, info: torch.Tensor, entropy_term: torch.Tensor, mask: torch.Tensor
) -> dict[str, float]:
    """How much of the token advantage the information and entropy terms carry.

    adv: [B, 1] outcome advantage; info, entropy_term: [B, T]; mask: [B, T].
    Each term's mean absolute value over completion tokens, divided by the sum of the
    three means; 0.0 for both when every term is 0 (or there are no tokens).
    """
    a = parts.masked_mean(adv.abs().expand_as(mask), mask)
    i = parts.masked_mean(info.abs(), mask)
    c = parts.masked_mean(entropy_term.abs(), mask)
    total = a + i + c
    if total <= 0:
        return {"iapo_info_share": 0.0, "iapo_entropy_share": 0.0}
    return {"iapo_info_share": i / total, "iapo_entropy_share": c / total}
