"""DAPO: Decoupled Clip and Dynamic sAmpling Policy Optimization.

Provenance
- Paper: Yu et al., DAPO, arXiv 2503.14476: eq. 7 (rule-based reward +-1), eq. 8-9 (objective,
  ratio and advantage), eq. 10 (clip-higher), eq. 11 (dynamic sampling), eq. 12 (token-level
  loss), eq. 13 (soft overlong punishment), sec. 4.1 (hyperparameters). The paper has no seed
  article; verl is the authors' reference code (commit b178a3cd of volcengine/verl).
- Equation: L = -1/sum_i |o_i| sum_i sum_t min(r_it A_i, clip(r_it, 1-eps_low, 1+eps_high) A_i),
  A_i = (R_i - mean(R)) / (std(R) + 1e-4), R_i = (+1 if correct else -1) + R_length(|o_i|).
- Exact:
  * reward scale: the verifier score becomes +1 right / -1 wrong (eq. 7; verl
    verl/utils/reward_score/math_dapo.py:265 ``reward = 1.0 if correct else -1.0``), and the
    overlong penalty is added to that correctness reward (sec. 3.4; verl
    verl/workers/reward_manager/dapo.py:114-122 ``reward = score`` ... ``reward += overlong_reward``).
    So a correct answer at or past the cap scores 1 - 1 = 0, a wrong one there -2, a wrong short
    one -1.
  * soft overlong punishment R_length = 0 if L <= L_max - L_cache; (L_max - L_cache - L) / L_cache
    inside the buffer; -1 past L_max (eq. 13); the factor ``overlong_penalty`` multiplying it is
    verl's ``penalty_factor`` (verl/workers/reward_manager/dapo.py:120-121), 1.0 = eq. 13.
  * L_max is the generation cap ``batch.extras['max_new_tokens']`` (sec. 4.1: 16,384 expected
    tokens + 4,096 cache = the 20,480 generation limit, so eq. 13's L_max is the cap).
  * decoupled clip eps_low 0.2, eps_high 0.28 (eq. 10, sec. 4.1); no KL term (sec. 2.3).
  * token-mean: 1/sum|o_i| over every completion token of the minibatch. Eq. 12 writes the
    normaliser inside the expectation over prompts; the authors' verl applies it to the whole
    minibatch (verl/trainer/ppo/core_algos.py:1055-1058 ``token-mean``), as TRL does
    (trl/trainer/grpo_trainer.py:3168-3173), and so do we.
  * dynamic sampling as ``keep_groups``: drop groups whose scores are all equal, i.e. all right or
    all wrong (eq. 11's 0 < |{o_i correct}| < G).
  Loss and gradient equal TRL's GRPOTrainer with loss_type 'dapo' fed the +-1 rewards, with the
  penalty off and on (TRL's ``get_soft_overlong_punishment`` as a second reward function), and on
  the groups ``keep_groups`` keeps (tests/test_objectives_trl_parity.py).
- Reconstructed:
  * which score counts as correct: eq. 7 is binary (is_equivalent), the arena's scores are 1/0;
    a score s counts as correct when s > 0.5 (``parts.correct_mask``), so scores already on the
    +-1 scale (verl's math_dapo) map to themselves, and a partial score is rounded to right/wrong
    rather than stretched by 2s - 1. Without the penalty the scale only changes the advantage
    through the std epsilon (1e-4 / std relative).
  * the default buffer is 20% of L_max, the paper's 4,096 of 20,480 tokens (sec. 4.1) as a share.
  * the std epsilon 1e-4 follows TRL (trl/trainer/grpo_trainer.py:2787); eq. 9 states none.
  * dynamic sampling's sampling until the batch is full (sec. 3.2, Algorithm 1) is the
    trainer's job: the arena's loop (``harness.train.loop.sample_groups``) samples more prompts
    up to ``train.max_sampling_rounds`` rounds per step (default 3; verl caps it with
    ``max_num_gen_batches``), then takes the first prompts_per_step surviving groups. The TRL and
    verl adapters only mask the dropped groups out.
- Mechanism: ``overlong_frac`` (share of sequences the overlong punishment hit, i.e. with a
  non-zero R_length) and the trainer's ``groups_dropped`` (groups dynamic sampling refused);
  ``overlong_penalty_mean`` is the mean R_length * factor over the batch's sequences.
- Defaults: eps_low 0.2, eps_high 0.28, penalty factor 1.0 (eq. 13; verl recipe), buffer ratio
  4096/20480 (sec. 4.1).
"""
from __future__ import annotations

from typing import ClassVar

import torch

from harness.objectives import Objective, Provenance, RolloutBatch, register
from harness.objectives import parts


def _paper_scale(scores: torch.Tensor) -> torch.Tensor:
    """DAPO's rule-based reward (eq. 7): +1.0 where the verifier called the rollout right, else -1.0.

    scores: [B] verifier scores (1.0 right, 0.0 wrong; scores already in {-1, 1} map to themselves).
    returns [B] float.
    """
    return torch.where(parts.correct_mask(scores.float()), 1.0, -1.0).to(torch.float32)


@register("dapo")
class DAPO(Objective):
    provenance = Provenance(
        paper="arXiv 2503.14476 (DAPO)",
        equation="-1/sum|o_i| sum_i sum_t min(r A_i, clip(r,1-eps_low,1+eps_high) A_i); R = ±1 + R_length",
        exact=(
            "±1 reward (eq. 7; verl/utils/reward_score/math_dapo.py:265) + R_length (eq. 13; "
            "verl/workers/reward_manager/dapo.py:114-122); L_max = generation cap (sec. 4.1); clip 0.2/0.28 "
            "(eq. 10, sec. 4.1); no KL (sec. 2.3); batch token-mean (eq. 12; verl/trainer/ppo/core_algos.py:1055); "
            "dynamic sampling (eq. 11)"
        ),
        reconstructed=(
            "correct = score > 0.5; buffer 20% of L_max (paper 4096/20480); std eps 1e-4 as "
            "trl/trainer/grpo_trainer.py:2787; sampling rounds capped by the trainer"
        ),
        defaults_source="paper sec. 4.1 and eq. 13; penalty factor 1.0 as verl's recipe",
    )
    #: overlong_frac: share of sequences with a non-zero overlong penalty (the soft punishment);
    #: groups_dropped: groups dynamic sampling refused (logged by the trainer, not by ``loss``).
    mechanism: ClassVar[tuple[str, ...]] = ("overlong_frac", "groups_dropped")

    def __init__(
        self,
        eps_low: float = 0.2,
        eps_high: float = 0.28,
        overlong_buffer: int | None = None,
        overlong_penalty: float = 1.0,
        adv_eps: float = 1e-4,
    ) -> None:
        super().__init__(
            eps_low=eps_low, eps_high=eps_high, overlong_buffer=overlong_buffer,
            overlong_penalty=overlong_penalty, adv_eps=adv_eps,
        )
        self.eps_low, self.eps_high = eps_low, eps_high
        self.overlong_buffer, self.overlong_penalty, self.adv_eps = overlong_buffer, overlong_penalty, adv_eps

    def keep_groups(self, rewards: torch.Tensor, group_size: int) -> torch.Tensor:
        # eq. 11 counts correct rollouts; on 1/0 (or ±1) scores "not all equal" is 0 < #correct < G
        return parts.groups_with_reward_spread(rewards, group_size)

    def _overlong_penalty(self, batch: RolloutBatch) -> torch.Tensor:
        """[B] R_length(|o_i|) * penalty factor (eq. 13), in [-factor, 0]; zeros when the punishment is off."""
        if not self.overlong_penalty:
            return torch.zeros_like(batch.rewards, dtype=torch.float32)
        if "max_new_tokens" not in batch.extras:
            raise ValueError(
                "dapo's overlong punishment needs batch.extras['max_new_tokens'] (the generation cap); "
                "set it in the trainer, or pass overlong_penalty=0 to turn the punishment off"
            )
        max_len = int(batch.extras["max_new_tokens"])
        buffer = round(0.2 * max_len) if self.overlong_buffer is None else int(self.overlong_buffer)
        return parts.soft_overlong_penalty(batch.lengths, max_len, buffer, self.overlong_penalty)

    def shape_rewards(self, batch: RolloutBatch) -> torch.Tensor:
        """[B] R_i = ±1 (eq. 7) + R_length(|o_i|) (eq. 13): a correct answer past the cap scores 0."""
        return _paper_scale(batch.rewards) + self._overlong_penalty(batch)

    def loss(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        rewards = self.shape_rewards(batch)
        penalty = self._overlong_penalty(batch)
        adv = parts.group_normalised_advantage(rewards, batch.group_size, eps=self.adv_eps)[:, None]
        ratio = torch.exp(parts.token_log_ratio(batch.logprobs, batch.old_logprobs))
        per_token = parts.clipped_surrogate(ratio, adv, self.eps_low, self.eps_high)
        loss = parts.token_mean(per_token, batch.mask, batch.num_tokens)
        return loss, {
            "clip_frac": parts.clip_fraction(ratio, adv, batch.mask, self.eps_low, self.eps_high),
            "reward_shaped_mean": float(rewards.mean()),
            "overlong_frac": float((penalty < 0).float().mean()),
            "overlong_penalty_mean": float(penalty.mean()),
        }
