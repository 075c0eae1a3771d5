"""TGC: token gradient cancellation within a group.

Provenance
- Paper: Ding et al., "Design Conditions for Intra-Group Learning of Sequence-Level
  Rewards: Token Gradient Cancellation", arXiv 2604.13088. Seed article:
  shared/seeds/001_304d37bd54a22198.txt. No public code; we had the abstract only.
- The paper's condition (abstract): intra-group objectives must keep token updates
  exchangeable across the group so that gradients of weak-credit / shared tokens cancel;
  two common mechanisms break this: per-sequence 1/|o_i| normalisation and
  sign-dependent clipping.
- Equation (our reconstruction):
  L = 1/n_groups sum_g 1/N_g sum_{i in g} sum_t [ -min(r_it A_i, clip(r_it, 1±eps) A_i)
                                                  - sg[d_it] * (log pi_it - sg[log pi_it]) ],
  N_g = sum_{i in g} |o_i| (one normaliser shared by the group), c_it = A_i r_it 1[unclipped]
  the token's coefficient, d_it = (c_it - mean_{j in g} c_jt) - c_it on positions t inside
  the group's shared prefix (all G sequences have the same o_<=t), 0 elsewhere.
  The correction term is 0 in value; it re-centres the coefficients of shared-prefix
  tokens so their gradients sum to exactly zero over the group, whatever the clip did.
- Exact (from the abstract): the two mechanisms named, and the goal (cancellation on
  shared tokens).
- Reconstructed: group-shared normaliser = the group's token count; "shared token space"
  = the group's literal shared prefix (identical contexts give identical token
  gradients, so cancellation there is exact); re-centring by the group mean of the
  coefficients; A_i group-normalised with std as GRPO. Needs the sampled token ids in
  ``batch.extras["completion_ids"]``.
- Defaults: eps 0.2 (GRPO/PPO), no KL.
"""
from __future__ import annotations

import torch

from harness.objectives import Objective, Provenance, RolloutBatch, register
from harness.objectives import parts


@register("tgc")
class TGC(Objective):
    needs = frozenset({"completion_ids"})
    provenance = Provenance(
        paper="arXiv 2604.13088 (token gradient cancellation)",
        equation="1/n_g sum_g 1/N_g sum_i,t -min(r A_i, clip(r) A_i), shared-prefix coefficients re-centred per group",
        exact="the two exchangeability breakers it names (1/|o_i|, sign-dependent clip) are removed (abstract)",
        reconstructed="N_g = group token count; shared prefix from extras['completion_ids']; mean re-centring; all ours",
        defaults_source="eps 0.2 from GRPO (paper's values not public)",
        seed_article="shared/seeds/001_304d37bd54a22198.txt",
    )

    def __init__(self, eps: float = 0.2, adv_eps: float = 1e-4) -> None:
        super().__init__(eps=eps, adv_eps=adv_eps)
        self.eps, self.adv_eps = eps, adv_eps

    def loss(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        G = batch.group_size
        rewards = self.shape_rewards(batch)
        adv = parts.group_normalised_advantage(rewards, G, eps=self.adv_eps)[:, None]
        ratio = torch.exp(parts.token_log_ratio(batch.logprobs, batch.old_logprobs))
        per_token = parts.clipped_surrogate(ratio, adv, self.eps, self.eps)

        # d(-per_token)/d log pi = A r where the unclipped branch is the minimum, else 0
        r = ratio.detach()
        unclipped = torch.where(adv > 0, r <= 1 + self.eps, r >= 1 - self.eps)
        coef = adv * r * unclipped
        shared = parts.shared_prefix_mask(self.require(batch, "completion_ids"), batch.mask, G)
        group_mean = coef.view(-1, G, coef.shape[-1]).mean(dim=1).repeat_interleave(G, dim=0)
        correction = -group_mean * shared
        per_token = per_token - correction * (batch.logprobs - batch.logprobs.detach())

        loss = parts.group_token_normaliser(per_token, batch.mask, G, batch.num_sequences)
        return loss, {
            "clip_frac": parts.clip_fraction(r, adv, batch.mask, self.eps, self.eps),
            "shared_prefix_frac": parts.masked_mean(shared, batch.mask),
        }
