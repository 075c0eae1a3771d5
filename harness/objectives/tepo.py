"""TEPO: Token-level Policy Optimization (sequence-likelihood link + masked KL).

Provenance
- Paper: Lin et al., "Token-Level Policy Optimization: Linking Group-Level Rewards to
  Token-Level Aggregation via Sequence-Level Likelihood", arXiv 2604.12736 (earlier
  version '... via Markov Likelihood', arXiv 2510.09369, whose abstract has no KL mask).
  Seed article: shared/seeds/000_acd63d52e6ef9aed.txt. No public code; neither the seed
  article nor the abstracts give an equation, what entropy the mask compares, or beta.
- Equation (our reconstruction):
  L = 1/sum_i |o_i| sum_i sum_t [ -min(s_it A_i, clip(s_it, 1-eps_low, 1+eps_high) A_i)
                                  + beta * M_it * KL_k3(pi_theta || pi_ref)_it ],
  s_it = sg[s_i] * pi_theta(o_t)/sg[pi_theta(o_t)], s_i = exp(1/|o_i| sum_t log r_it),
  M_it = 1[A_i > 0] * 1[H_old,it - H_theta,it > entropy_atol + entropy_rtol * H_old,it],
  A_i = (R_i - mean(R)) / (std(R) + 1e-4).
- Exact (seed article, its only sentences on the method): "It leverages sequence-level
  likelihood to connect group-level rewards with individual tokens through token-level
  aggregation." "Additionally, it implements a token-level KL-Divergence mask constraint."
  "This constraint specifically targets tokens that display positive advantages with
  decreasing entropy, thereby mitigating abrupt and often harmful policy updates."
- Reconstructed: 'sequence-level likelihood' = GSPO's length-normalised sequence ratio in
  its token form; 'token-level aggregation' = DAPO's token-mean over the batch (GSPO
  averages per sequence); the clip range is GSPO's 3e-4 / 4e-4 because the clipped
  quantity is the same sequence ratio; the KL is the k3 estimator against the reference
  model and shares the token-mean normaliser; 'positive advantages' = A_i > 0.
  'Decreasing entropy': the seed article does not say what is compared. We compare the
  token's entropy under the policy being updated with its entropy under the policy that
  sampled it (batch.entropy vs batch.old_entropy): the entropy the update itself is
  lowering, which is what 'abrupt policy updates' points at. Consequence: on the first
  update of a rollout batch the two policies are the same, so the mask is empty and TEPO
  is token-mean GSPO there; the KL acts from the second minibatch on (the default config
  has train.updates_per_batch 2). Other readings we did not take: entropy falling along
  the sequence (H_t < H_t-1), which says nothing about an update; entropy below the
  reference model's, which would need the reference model's entropy (no such signal).
- Margin (measured with benchmarks/tepo_entropy_noise.py): the trainer computes old_entropy
  in one no-grad pass over the whole rollout batch and the training entropy one minibatch
  (or micro-batch) at a time, so rows meet different padding and bucket shapes and the two
  differ by float noise even with the same parameters. Model: the default config's tiny
  Llama (hidden 128, 4 layers) warm-started 450 steps as config/config.yaml; rollouts
  sampled at temperature 1 (median H_old 0.0074 nats, 90th percentile 0.36-0.44); CPU;
  three batches (seed 0 with 8 prompts x G=8, the default step, 3815 tokens; seeds 1 and 2
  with 16 prompts, 7655 and 7562 tokens). Same parameters in both passes: the same rows
  in one pass with grad differ by exactly 0; minibatches of half the groups
  (updates_per_batch 2) or single groups differ on about 3-13% of tokens, in float32 by
  at most 2.3e-6 nats and 2.3e-5 of H_old (the noise scales with H: ~2e-8 nats at
  H < 0.01), in bfloat16 (seed 0) by up to 4.8e-3 nats and 11% of H_old. One real update (TEPO's loss
  on the first minibatch, AdamW lr 3e-5, grad clip 1, as the default config) changes the
  second minibatch's entropies by a median 0.25-0.30% of H_old (90th percentile 2%) in
  float32. Our margin, entropy_rtol 3e-4 (13x the largest float32 noise) plus
  entropy_atol 1e-7 nats (a floor for H_old near 0): no float32 noise token crosses it in
  the three batches, while 43%, 43% and 56% of the second minibatch's tokens count as
  falling after the update (46%, 47%, 60% with no margin at all). The old margin, 1e-6
  nats absolute, was crossed by float32 noise (0.03% of tokens in two batches). bfloat16
  noise crosses both (the mask fires on 1.1% of an un-updated minibatch's tokens); a
  bfloat16 run needs entropy_rtol >= 0.25 (2x the CPU noise; GPU kernels not measured),
  under which no one-update change shows (0.00% falling). The arena's trainer therefore
  computes old_entropy over the same row sets as the training passes
  (``harness.train.loop.rollout_signals``), where the noise is exactly 0 in both dtypes
  (tests/test_train_loop.py: with lr 0 and no margin the mask never fires); the margin
  guards other trainers (the TRL and verl adapters) and float32 CPU remains the measured case.
- Mechanism metrics (logged on every step, 0.0 when the mask is empty or beta = 0: with
  beta = 0 there is no KL term and no mask): ``kl_mask_frac``, the share of completion
  tokens the KL acts on; ``kl_mask_frac_pos_adv``, the same among tokens with A_i > 0 (the
  share of eligible tokens whose entropy fell).
- Defaults: eps_low 3e-4, eps_high 4e-4 (GSPO paper sec. 5.1); beta 0.04 (GRPO paper's KL
  coefficient; TEPO's value is not public); entropy_rtol 3e-4 and entropy_atol 1e-7
  (ours, measured above).
"""
from __future__ import annotations

from typing import ClassVar

import torch

from harness.objectives import Objective, Provenance, RolloutBatch, register
from harness.objectives import parts


def _falling_entropy_mask(
    advantage: torch.Tensor, entropy: torch.Tensor, old_entropy: torch.Tensor, mask: torch.Tensor,
    atol: float, rtol: float,
) -> torch.Tensor:
    """TEPO's KL mask, [B, T] in {0, 1}: A > 0 and H_old - H_theta > atol + rtol * H_old, on completion tokens.

    advantage: [B, 1] (or [B, T]); entropy, old_entropy, mask: [B, T]. ``entropy`` is
    detached: the mask selects tokens, it is not differentiated.
    """
    drop = old_entropy - entropy.detach()
    falling = drop > atol + rtol * old_entropy
    return ((advantage > 0) & falling).float() * mask


@register("tepo")
class TEPO(Objective):
    provenance = Provenance(
        paper="arXiv 2604.12736 (TEPO; v1 2510.09369)",
        equation="token-mean[-min(s_it A, clip(s_it) A) + beta*1[A>0, H<H_old(1-rtol)-atol]*k3], s_it = GSPO-token ratio",
        exact=(
            '"leverages sequence-level likelihood to connect group-level rewards with individual tokens through '
            'token-level aggregation"; "implements a token-level KL-Divergence mask constraint" that "targets tokens '
            'that display positive advantages with decreasing entropy" (seed article)'
        ),
        reconstructed=(
            "GSPO-token ratio, token-mean, GSPO clip 3e-4/4e-4, k3 KL vs ref; 'decreasing' = H_theta below H_old "
            "by > 1e-7 + 3e-4*H_old (fp32 noise measured <= 2.3e-5*H_old), so the mask is empty on the 1st update"
        ),
        defaults_source="eps from GSPO paper, beta 0.04 from GRPO paper (TEPO's not public), entropy margin measured",
        seed_article="shared/seeds/000_acd63d52e6ef9aed.txt",
    )
    #: kl_mask_frac: share of completion tokens under the KL mask (0.0 when empty or beta = 0)
    mechanism: ClassVar[tuple[str, ...]] = ("kl_mask_frac",)

    def __init__(
        self, eps_low: float = 3e-4, eps_high: float = 4e-4, beta: float = 0.04,
        entropy_rtol: float = 3e-4, entropy_atol: float = 1e-7, adv_eps: float = 1e-4,
    ) -> None:
        super().__init__(
            eps_low=eps_low, eps_high=eps_high, beta=beta, entropy_rtol=entropy_rtol, entropy_atol=entropy_atol,
            adv_eps=adv_eps,
        )
        if not 0.0 <= entropy_rtol < 1.0:
            raise ValueError(f"tepo: entropy_rtol={entropy_rtol} must be in [0, 1) (a share of the old entropy)")
        if entropy_atol < 0.0:
            raise ValueError(f"tepo: entropy_atol={entropy_atol} must be >= 0 (nats)")
        self.eps_low, self.eps_high, self.beta = eps_low, eps_high, beta
        self.entropy_rtol, self.entropy_atol, self.adv_eps = entropy_rtol, entropy_atol, adv_eps

    def required_signals(self) -> frozenset[str]:
        return frozenset({"entropy", "old_entropy", "ref_logprobs"}) if self.beta > 0 else frozenset()

    def kl_mask(self, batch: RolloutBatch, advantage: torch.Tensor) -> torch.Tensor:
        """[B, T] 1.0 on the tokens the KL term acts on; advantage [B, 1]."""
        entropy, old_entropy = self.require(batch, "entropy"), self.require(batch, "old_entropy")
        return _falling_entropy_mask(advantage, entropy, old_entropy, batch.mask, self.entropy_atol, self.entropy_rtol)

    def loss(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        rewards = self.shape_rewards(batch)
        adv = parts.group_normalised_advantage(rewards, batch.group_size, eps=self.adv_eps)[:, None]
        ratio = parts.sequence_ratio_token_grad(batch.logprobs, batch.old_logprobs, batch.mask)
        per_token = parts.clipped_surrogate(ratio, adv, self.eps_low, self.eps_high)
        metrics = {"clip_frac": parts.clip_fraction(ratio.detach(), adv, batch.mask, self.eps_low, self.eps_high)}
        positive = (adv > 0).float() * batch.mask
        if self.beta > 0:
            mask = self.kl_mask(batch, adv)
            kl = parts.k3_kl(batch.logprobs, self.require(batch, "ref_logprobs"))
            per_token = per_token + self.beta * mask * kl
            metrics["kl"] = parts.masked_mean(kl.detach(), batch.mask)
        else:
            mask = torch.zeros_like(batch.mask)  # no KL term, so no token is under it
        metrics["kl_mask_frac"] = parts.masked_mean(mask, batch.mask)
        metrics["kl_mask_frac_pos_adv"] = parts.masked_mean(mask, positive)
        return parts.token_mean(per_token, batch.mask, batch.num_tokens), metrics
