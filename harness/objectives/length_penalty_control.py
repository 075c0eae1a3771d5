"""Positive control for the arena's calibration: GRPO plus an explicit length penalty.

Provenance
- Not from a paper: a control with a built-in, known effect, so every run can check that
  the instrument detects an effect of the kind the papers claim (compression). If the
  report cannot see this objective's compression against GRPO, it cannot see HMPO's or
  IAPO's either, and says so (results/calibration.json, the leaderboard's banner).
- Equation: R_i = c_i * (1 - coef * L_i / L_max), then GRPO on R (group-normalised
  advantage, token ratio clip, seq-mean-token-mean). c_i = 1 if the verifier score > 0.5;
  L_i the completion length, L_max = ``batch.extras["max_new_tokens"]``.
- Exact: nothing: the arena's own control, not from a paper (GRPO's parts are unchanged;
  only the reward is shaped).
- Why multiplicative (only correct answers pay for length): a wrong answer earns 0 whatever
  its length, so the penalty never makes a short wrong answer beat a long right one
  (with coef < 1 a correct answer always earns more than any wrong one).
- Defaults: coef 0.5 (a correct answer at the cap earns half of a correct empty one: strong
  enough to be detected in 60 steps on the embedded world; measured, see README).
"""
from __future__ import annotations

import torch

from harness.objectives import Provenance, RolloutBatch, register
from harness.objectives import parts
from harness.objectives.grpo import GRPO


@register("length_penalty_control")
class LengthPenaltyControl(GRPO):
    #: meant to shorten responses: the integrity report lists its length collapse as expected
    compresses = True
    #: none: a calibration control whose penalty acts on every correct rollout of every batch
    mechanism = ()
    provenance = Provenance(
        paper="none (calibration control: GRPO + explicit length penalty)",
        equation="R = c * (1 - coef * L / L_max); GRPO on R",
        exact="nothing (no paper): GRPO's parts unchanged; only the reward is shaped",
        reconstructed="nothing: the arena's own control with a known effect (compression)",
        defaults_source="coef 0.5 chosen so the effect is detectable at the default scale",
    )

    def __init__(self, coef: float = 0.5, eps: float = 0.2, beta: float = 0.0,
                 adv_eps: float = 1e-4) -> None:
        if not 0.0 < coef < 1.0:
            raise ValueError(f"coef must be in (0, 1) so a correct answer always beats a wrong one; got {coef}")
        super().__init__(eps=eps, beta=beta, adv_eps=adv_eps)
        self._hyperparams["coef"] = coef
        self.coef = coef

    def shape_rewards(self, batch: RolloutBatch) -> torch.Tensor:
        """rewards [B] -> c * (1 - coef * L / L_max), [B]."""
        if "max_new_tokens" not in batch.extras:
            raise ValueError("length_penalty_control needs batch.extras['max_new_tokens'] (L_max); set it in the trainer")
        correct = parts.correct_mask(batch.rewards).float()
        frac = batch.lengths.float() / float(batch.extras["max_new_tokens"])
        return correct * (1.0 - self.coef * frac.clamp(max=1.0))
