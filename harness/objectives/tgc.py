"""TGC: token gradient cancellation within a group.

Provenance
- Paper: Ding et al., "Design Conditions for Intra-Group Learning of Sequence-Level
  Rewards: Token Gradient Cancellation", arXiv 2604.13088. Seed article:
  shared/seeds/001_304d37bd54a22198.txt. No public code. Beyond the seed article we found
  the arXiv abstract and the first page of the paper (an HTML mirror of v1): the abstract
  asks objectives to 'maintain gradient exchangeability across token updates, enabling
  gradient cancellation on weak-credit/high-frequency tokens', says 'two common
  mechanisms' break it without naming them in the abstract, and proposes 'minimal
  intra-group transformations to restore or approximate the cancellation structure in the
  shared token space'; Figure 1's caption speaks of cancelling 'the gradients of shared
  within-group steps'. A third-party summary names the two mechanisms as sequence-coupled
  aggregation and asymmetric pruning; none of these texts gives an equation.
- Equation (our reconstruction):
  L = 1/n_groups sum_g 1/N_g sum_{i in g} sum_t [ -min(r_it A_i, clip(r_it, 1±eps) A_i)
                                                  - sg[d_it] * (log pi_it - sg[log pi_it]) ],
  N_g = sum_{i in g} |o_i| (one normaliser shared by the group), c_it = A_i r_it 1[unclipped]
  the token's coefficient (d loss / d log pi = -c_it / N_g), and d_it = -mean_{j in g} c_jt
  at positions t of the group's shared prefix (all G sequences have the same o_<=t) where
  the clip removed at least one of the G occurrences, 0 elsewhere. The correction term is
  0 in value; it re-centres those coefficients so they sum to exactly zero over the group.
- Exact (seed article): "focus on intra-group transformations at the token level"; "By
  ensuring gradient exchangeability, where updates across tokens don't interfere but rather
  support each other, training can be stabilized."; "This approach directly addresses the
  disruptive forces that lead to non-cancellation". Nothing else here is in the seed article.
- Reconstructed: which two mechanisms break exchangeability, and the transformations. We
  read them as (1) per-sequence 1/|o_i| aggregation, replaced by one token normaliser per
  group, N_g, so identical token updates (same token, same context) get coefficients A_i/N_g
  that sum to zero over the group when sum_i A_i = 0; (2) the sign-dependent PPO clip,
  which we keep, correcting it only where it breaks the cancellation. 'Shared token space'
  = the group's literal shared prefix: there all G sequences condition on the same context
  and emit the same token, so their gradients are identical and cancellation is exact; the
  ratio is also the same for all G, so when it leaves [1-eps, 1+eps] the clip removes the
  occurrences of one advantage sign only and the rest push the shared token one way
  (reward-irrelevant drift); re-centring puts the group's net coefficient back to 0 (the
  same parameter gradient as clipping all G occurrences). We did not extend it to steps
  shared by part of the group (there the summed coefficient sum_{i in S} A_i is real
  credit, not drift) or to the same token in different contexts (gradients differ, and
  zeroing their sum would erase count-based credit). A_i group-normalised with std as GRPO.
  Needs the sampled token ids in ``batch.extras["completion_ids"]``.
- Where it acts: on-policy (r = 1, no clip) the correction is exactly 0 and TGC is GRPO's
  surrogate with the group token normaliser (which alone cancels shared-prefix gradients
  then). The correction needs a group-wide shared prefix AND the clip acting on it. In
  the default comparison neither happens: on 4 training steps of the default config
  (warm-started model, 8 prompts x G=8, updates_per_batch 2) shared_prefix_frac was 0.0
  (the 8 samples of a group never share even their first token: a solution opens with
  the restated problem or goes straight to the first sum) and the clip acted on <= 0.4% of
  tokens; so there the correction is inert and TGC = clipped GRPO with N_g. The metrics
  below say so per step.
- Mechanism metrics: ``tgc_recentred_frac``, the share of completion tokens whose
  coefficient the correction changed (shared-prefix positions where the clip removed an
  occurrence), and ``tgc_correction_abs_mean``, the mean of |d_it| over completion tokens.
  Both 0: nothing to correct. ``shared_prefix_frac`` (not a mechanism metric) is the share
  of completion tokens in a group-wide shared prefix.
- Defaults: eps 0.2 (GRPO/PPO), no KL; the paper's values are not public.
"""
from __future__ import annotations

from typing import ClassVar

import torch

from harness.objectives import Objective, Provenance, RolloutBatch, register
from harness.objectives import parts


def _clip_removed(ratio: torch.Tensor, advantage: torch.Tensor, eps: float) -> torch.Tensor:
    """[B, T] bool: the PPO clip took the clipped branch, so the token gets no gradient.

    ratio: [B, T]; advantage: [B, 1]. That is r > 1 + eps with A > 0, or r < 1 - eps with A < 0.
    """
    return ((ratio > 1 + eps) & (advantage > 0)) | ((ratio < 1 - eps) & (advantage < 0))


def _shared_prefix_correction(
    coef: torch.Tensor, removed: torch.Tensor, shared: torch.Tensor, mask: torch.Tensor, group_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(d, recentred), both [B, T]: TGC's coefficient correction and where it acts.

    coef: [B, T] the tokens' coefficients A_i r_it 1[not removed]; removed: [B, T] bool, the
    clip removed the token; shared: [B, T] 1.0 on the group's shared prefix; mask: [B, T].
    At shared positions where the clip removed any of the G occurrences, d = -(group mean of
    coef), so coef + d sums to zero over the group; 0 elsewhere.
    """
    G, T = group_size, coef.shape[-1]
    removed_any = (removed & (mask > 0)).view(-1, G, T).any(dim=1).repeat_interleave(G, dim=0)
    recentred = shared * removed_any.float()
    group_mean = coef.view(-1, G, T).mean(dim=1).repeat_interleave(G, dim=0)
    return -group_mean * recentred, recentred


@register("tgc")
class TGC(Objective):
    needs = frozenset({"completion_ids"})
    provenance = Provenance(
        paper="arXiv 2604.13088 (token gradient cancellation)",
        equation="1/n_g sum_g 1/N_g sum_i,t -min(r A_i, clip(r) A_i); clipped shared-prefix coefficients re-centred per group",
        exact=(
            '"focus on intra-group transformations at the token level"; "ensuring gradient exchangeability"; '
            '"addresses the disruptive forces that lead to non-cancellation" (seed article); no equation'
        ),
        reconstructed=(
            "1/|o_i| and the sign-dependent clip as the breakers; N_g = group token count; clip kept, re-centred on "
            "the literal shared prefix; inert on-policy and in the default run (shared_prefix_frac 0): all ours"
        ),
        defaults_source="eps 0.2 from GRPO (paper's values not public)",
        seed_article="shared/seeds/001_304d37bd54a22198.txt",
    )
    #: tgc_recentred_frac: share of tokens whose coefficient was re-centred; tgc_correction_abs_mean: mean |d_it|
    mechanism: ClassVar[tuple[str, ...]] = ("tgc_recentred_frac", "tgc_correction_abs_mean")

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
        removed = _clip_removed(r, adv, self.eps)
        coef = adv * r * (~removed)
        shared = parts.shared_prefix_mask(self.require(batch, "completion_ids"), batch.mask, G)
        correction, recentred = _shared_prefix_correction(coef, removed, shared, batch.mask, G)
        per_token = per_token - correction * (batch.logprobs - batch.logprobs.detach())

        loss = parts.group_token_normaliser(per_token, batch.mask, G, batch.num_sequences)
        return loss, {
            "clip_frac": parts.clip_fraction(r, adv, batch.mask, self.eps, self.eps),
            "shared_prefix_frac": parts.masked_mean(shared, batch.mask),
            "tgc_recentred_frac": parts.masked_mean(recentred, batch.mask),
            "tgc_correction_abs_mean": parts.masked_mean(correction.abs(), batch.mask),
        }
