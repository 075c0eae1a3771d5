"""EAPO: Entropy-Aware Policy Optimization.

Provenance
- Paper: He et al., "Rethinking Token-Level Credit Assignment in RLVR: A Polarity-Entropy
  Analysis", arXiv 2604.11056 v1 (v2 retitles it 'Where Hindsight Credit Can Reside: A
  Signed-Capacity View of Token Updates in RLVR' and the method HAPO). Seed article:
  shared/seeds/002_956a3b770daa7361.txt. No public code. We searched for the paper's text
  (arXiv abstracts v1 and v2, summaries on emergentmind, arxivlens, pith): none gives the
  method's equation, what the distinct roles of the two polarities are, or the values of
  its two hyperparameters (arxivlens names them alpha and phi).
- What the public text says about each quadrant (reward polarity x token entropy):
  * high entropy, positive and negative: "Controlled experiments reveal that improvements
    in reasoning primarily occur in high-entropy quadrants." (seed; quadrants, plural;
    v2 abstract: 'Sustained reasoning gains concentrate in signed high-entropy quadrants').
    We give these tokens more than the uniform share of their sequence's advantage.
  * low entropy, positive and negative: "the credit a token can carry is limited by its
    entropy" (seed); v1 abstract: uniform broadcast is 'over-crediting deterministic
    tokens'; v2: 'low-entropy updates saturate quickly'. We give them less.
  * polarity: "with distinct roles for both positive and negative updates" (seed). No
    public text says what the roles are or that the weighting differs by polarity; the v2
    abstract calls the method 'a sign-preserving modification to GRPO that performs
    capacity-guided advantage reallocation' and says 'Entropy, however, indicates capacity
    rather than update direction'. So the direction (high up, low down) is the same in
    both polarities; the strength per polarity is a knob (alpha, alpha_neg), equal by
    default because no public number separates them.
- Equation (our reconstruction):
  L = -1/sum_i |o_i| sum_i sum_t min(r_it A_i w_it, clip(r_it, 1-eps_low, 1+eps_high) A_i w_it),
  w_it = (1 - a_i) + a_i * |o_i| * H_it^phi / sum_t H_it^phi  (H detached),
  a_i = alpha if A_i >= 0, alpha_neg if A_i < 0,
  A_i = (R_i - mean(R)) / (std(R) + 1e-4).
  w >= 0 (> 0 for a < 1) never flips the sign of A_i (sign-preserving); each sequence's
  mean weight is exactly 1, so credit moves from its low- to its high-entropy tokens
  without changing its total (a reallocation); a token whose H^phi is above its
  sequence's mean gets w > 1, one below gets w < 1.
- Exact: the four quadrants, "sorts token updates by reward polarity and token entropy";
  more credit to high-entropy tokens of both polarities, "improvements in reasoning
  primarily occur in high-entropy quadrants"; credit bounded by entropy, "the credit a token
  can carry is limited by its entropy"; a per-token modulation, "This approach modulates
  token-level learning signals" (all seed article). None of the paper's equations.
- Reconstructed: the weight formula above; a per-polarity strength (alpha_neg) standing for
  the unspecified "distinct roles", equal to alpha by default; the DAPO surrogate
  (clip-higher, token-mean) it is applied to.
- Mechanism metrics: ``eapo_weight_std``, the standard deviation of w over the completion
  tokens of sequences with A_i != 0 (their mean weight is 1, so this is the RMS of w - 1),
  and ``eapo_reweighted_frac``, the share of all completion tokens with A_i != 0 and
  |w - 1| > 0.05. Both 0: every token got its uniform share (no entropy spread, alpha 0,
  or no advantage anywhere).
- Defaults: alpha = alpha_neg = 0.5 and phi = 1.0 are ours: the paper has hyperparameters
  alpha and phi but no public text gives their values or a split by polarity;
  eps_low 0.2 / eps_high 0.28 from DAPO.
"""
from __future__ import annotations

import torch

from harness.objectives import Objective, Provenance, RolloutBatch, register
from harness.objectives import parts

#: a weight further than this from 1 counts as re-weighted in "eapo_reweighted_frac"
REWEIGHT_TOLERANCE = 0.05


@register("eapo")
class EAPO(Objective):
    needs = frozenset({"entropy"})
    mechanism = ("eapo_weight_std", "eapo_reweighted_frac")
    provenance = Provenance(
        paper="arXiv 2604.11056 (EAPO; v2 HAPO)",
        equation=(
            "token-mean -min(r A_i w_it, clip(r,1-0.2,1+0.28) A_i w_it), w = (1-a) + a|o| H^phi/sum H^phi, "
            "a = alpha (A>0) / alpha_neg (A<0)"
        ),
        exact=(
            "quadrants: \"sorts token updates by reward polarity and token entropy\"; high-entropy tokens of both polarities "
            "favoured: \"improvements in reasoning primarily occur in high-entropy quadrants\" (seed)"
        ),
        reconstructed=(
            "weight formula (sign- and mean-preserving); per-polarity strength for the unspecified \"distinct roles\" "
            "(equal by default); DAPO surrogate"
        ),
        defaults_source="alpha = alpha_neg = 0.5, phi 1: ours (paper names alpha, phi; no public values); eps 0.2/0.28 from DAPO",
        seed_article="shared/seeds/002_956a3b770daa7361.txt",
    )

    def __init__(
        self, alpha: float = 0.5, phi: float = 1.0, eps_low: float = 0.2, eps_high: float = 0.28, adv_eps: float = 1e-4,
        alpha_neg: float | None = None,
    ) -> None:
        alpha_neg = alpha if alpha_neg is None else alpha_neg
        for key, value in (("alpha", alpha), ("alpha_neg", alpha_neg)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"eapo {key} must lie in [0, 1] so no weight is negative (the sign of A_i is kept), got {value}")
        super().__init__(alpha=alpha, alpha_neg=alpha_neg, phi=phi, eps_low=eps_low, eps_high=eps_high, adv_eps=adv_eps)
        self.alpha, self.alpha_neg, self.phi = alpha, alpha_neg, phi
        self.eps_low, self.eps_high, self.adv_eps = eps_low, eps_high, adv_eps

    def token_weights(self, batch: RolloutBatch, advantage: torch.Tensor) -> torch.Tensor:
        """[B, T] w_it for advantage A_i ([B] or [B, 1]): non-negative, mean 1 over each sequence's tokens.

        The strength is ``alpha`` on sequences with A_i >= 0 and ``alpha_neg`` on those with A_i < 0.
        """
        entropy = self.require(batch, "entropy")
        w_pos = parts.entropy_credit_weights(entropy, batch.mask, self.alpha, self.phi)
        if self.alpha_neg == self.alpha:
            return w_pos
        w_neg = parts.entropy_credit_weights(entropy, batch.mask, self.alpha_neg, self.phi)
        negative = advantage.reshape(-1, 1) < 0
        return torch.where(negative, w_neg, w_pos)

    def loss(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        rewards = self.shape_rewards(batch)
        adv = parts.group_normalised_advantage(rewards, batch.group_size, eps=self.adv_eps)[:, None]
        weights = self.token_weights(batch, adv)
        token_adv = adv * weights
        ratio = torch.exp(parts.token_log_ratio(batch.logprobs, batch.old_logprobs))
        per_token = parts.clipped_surrogate(ratio, token_adv, self.eps_low, self.eps_high)
        metrics = {"clip_frac": parts.clip_fraction(ratio, token_adv, batch.mask, self.eps_low, self.eps_high)}
        metrics.update(_weight_spread(weights, adv, batch.mask))
        return parts.token_mean(per_token, batch.mask, batch.num_tokens), metrics


def _weight_spread(weights: torch.Tensor, advantage: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """How far the entropy weights moved credit on this batch.

    weights, mask: [B, T]; advantage: [B, 1]. "eapo_weight_std": RMS of w - 1 over the
    completion tokens of sequences with A_i != 0 (their mean weight is exactly 1, so this
    is their standard deviation); "eapo_reweighted_frac": share of all completion tokens
    with A_i != 0 and |w - 1| > REWEIGHT_TOLERANCE. Both 0.0 when no token carries advantage.
    """
    acting = (advantage != 0).float() * mask
    n_acting = float(acting.sum())
    if n_acting == 0:
        return {"eapo_weight_std": 0.0, "eapo_reweighted_frac": 0.0}
    deviation = (weights.detach() - 1.0) * acting
    std = float((deviation.pow(2).sum() / n_acting).sqrt())
    moved = ((deviation.abs() > REWEIGHT_TOLERANCE).float() * acting).sum()
    return {"eapo_weight_std": std, "eapo_reweighted_frac": float(moved / mask.sum().clamp(min=1))}
