"""DAPO's reward scale and overlong punishment, GSPO's sequence clip, and the baselines' mechanisms, by hand.

Every expected value is written out from the papers' formulas, not taken from the code:
DAPO (arXiv 2503.14476) eq. 7 (+1 right / -1 wrong), eq. 13 (soft overlong punishment),
eq. 12 (token-mean); GSPO (arXiv 2507.18071) eq. 5-7 and the GSPO-token gradient eq. 17.
"""
from __future__ import annotations

import math

import pytest
import torch

from harness import objectives

# ---------------------------------------------------------------- helpers


def _batch(
    rewards: list[float], lengths: list[int], group_size: int, T: int, max_new: int,
    log_ratio: list[float] | None = None,
) -> objectives.RolloutBatch:
    """Sequences of the given lengths padded to T; logprobs 0 (with grad).

    ``log_ratio``: per sequence, the constant log pi_theta - log pi_old on its tokens (None: on-policy).
    """
    mask = (torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]).float()
    lp = torch.zeros(len(rewards), T, requires_grad=True)
    old = torch.zeros(len(rewards), T)
    if log_ratio is not None:
        old = old - torch.tensor(log_ratio)[:, None] * mask
    return objectives.RolloutBatch(
        logprobs=lp, old_logprobs=old, mask=mask, rewards=torch.tensor(rewards), group_size=group_size,
        extras={"max_new_tokens": max_new},
    )


# ---------------------------------------------------------------- DAPO: reward scale and eq. 13

# L_max = 10 (the generation cap), L_cache = 4: no penalty up to 6 tokens, (6 - L) / 4 from 7 to 10,
# -1 past 10. The lengths sit inside the buffer, at the cap and past it (12 > 10, padded width 12).
MAX_NEW, BUFFER, T = 10, 4, 12
SCORES = [1.0, 0.0, 1.0, 0.0,  1.0, 1.0, 0.0, 0.0]
LENGTHS = [3, 8, 12, 5,  10, 7, 2, 9]
# R = (+1 if right else -1) + R_length:
#   group 0: right 3 -> 1 + 0 = 1;  wrong 8 -> -1 + (6-8)/4 = -1.5;  right 12 -> 1 - 1 = 0;  wrong 5 -> -1
#   group 1: right 10 -> 1 + (6-10)/4 = 0;  right 7 -> 1 - 0.25 = 0.75;  wrong 2 -> -1;  wrong 9 -> -1 - 0.75 = -1.75
EXPECTED_REWARDS = [1.0, -1.5, 0.0, -1.0,  0.0, 0.75, -1.0, -1.75]
EXPECTED_PENALTIES = [0.0, -0.5, -1.0, 0.0,  -1.0, -0.25, 0.0, -0.75]


def _dapo() -> objectives.Objective:
    return objectives.get("dapo", overlong_buffer=BUFFER)


def test_dapo_rewards_are_plus_minus_one_plus_the_soft_overlong_punishment() -> None:
    batch = _batch(SCORES, LENGTHS, 4, T, MAX_NEW)
    torch.testing.assert_close(_dapo().shape_rewards(batch), torch.tensor(EXPECTED_REWARDS))


def test_dapo_correct_answer_past_the_cap_scores_zero_and_a_wrong_short_one_minus_one() -> None:
    # what eq. 7 + eq. 13 imply: right past L_max scores 1 - 1 = 0, wrong and short -1, wrong past L_max -2
    batch = _batch([1.0, 0.0, 0.0, 1.0], [12, 3, 12, 3], 4, T, MAX_NEW)
    assert _dapo().shape_rewards(batch).tolist() == [0.0, -1.0, -2.0, 1.0]


def test_dapo_maps_scores_by_correctness_threshold() -> None:
    # scores already on the +-1 scale (verl's math_dapo) map to themselves; a partial score is rounded
    # to right/wrong at 0.5, not stretched to 2s - 1
    batch = _batch([1.0, -1.0, 0.7, 0.3], [2, 2, 2, 2], 4, T, MAX_NEW)
    assert objectives.get("dapo", overlong_penalty=0.0).shape_rewards(batch).tolist() == [1.0, -1.0, 1.0, -1.0]


def test_dapo_on_policy_gradient_is_advantage_over_batch_token_count_with_the_penalty_acting() -> None:
    # replaces tests/test_objectives.py::test_dapo_on_policy_gradient_is_advantage_over_batch_token_count,
    # whose lengths never reached DAPO's buffer and whose expectation came from the code's shape_rewards
    batch = _batch(SCORES, LENGTHS, 4, T, MAX_NEW)
    loss, _ = _dapo().loss(batch)
    loss.backward()
    # group 0: R = [1, -1.5, 0, -1], mean -0.375, squared deviations sum 3.6875, unbiased std sqrt(3.6875/3)
    # group 1: R = [0, 0.75, -1, -1.75], mean -0.5, squared deviations sum 3.625, unbiased std sqrt(3.625/3)
    adv = [d / (math.sqrt(3.6875 / 3) + 1e-4) for d in (1.375, -1.125, 0.375, -0.625)]
    adv += [d / (math.sqrt(3.625 / 3) + 1e-4) for d in (0.5, 1.25, -0.5, -1.25)]
    assert adv[0] == pytest.approx(1.2401041, abs=1e-6) and adv[5] == pytest.approx(1.1370436, abs=1e-6)
    tokens = 3 + 8 + 12 + 5 + 10 + 7 + 2 + 9  # 56: eq. 12 divides by every completion token of the batch
    # on-policy r = 1 inside the clip: d loss / d log pi_{i,t} = -A_i / 56 on completion tokens
    expected = -torch.tensor(adv)[:, None] / tokens * batch.mask
    torch.testing.assert_close(batch.logprobs.grad, expected, atol=1e-7, rtol=1e-6)


def test_dapo_mechanism_metrics_count_the_sequences_the_penalty_hit() -> None:
    _, metrics = _dapo().loss(_batch(SCORES, LENGTHS, 4, T, MAX_NEW))
    assert metrics["overlong_frac"] == 5 / 8  # lengths 8, 12, 10, 7, 9
    assert metrics["overlong_penalty_mean"] == pytest.approx(sum(EXPECTED_PENALTIES) / 8)  # -3.5 / 8
    assert metrics["reward_shaped_mean"] == pytest.approx(sum(EXPECTED_REWARDS) / 8)
    _, short = _dapo().loss(_batch(SCORES, [2, 3, 6, 1, 4, 5, 6, 2], 4, T, MAX_NEW))
    assert short["overlong_frac"] == 0.0 and short["overlong_penalty_mean"] == 0.0
    _, off = objectives.get("dapo", overlong_penalty=0.0).loss(_batch(SCORES, LENGTHS, 4, T, MAX_NEW))
    assert off["overlong_frac"] == 0.0 and off["overlong_penalty_mean"] == 0.0


def test_dapo_scale_without_the_penalty_moves_the_advantage_only_through_the_std_epsilon() -> None:
    # 0/1 and +-1 scores differ by an affine map: (2r-1 - mean) / (2 std + eps) = (r - mean) / (std + eps/2)
    scores = [1.0, 0.0, 1.0, 1.0]
    batch = _batch(scores, [3, 4, 5, 6], 4, 6, MAX_NEW)
    loss_pm = float(objectives.get("dapo", overlong_penalty=0.0).loss(batch)[0].detach())
    std01 = math.sqrt(0.75 / 3)  # scores 1/0, mean 0.75, squared deviations sum 0.75
    adv01 = [(r - 0.75) / (std01 + 1e-4) for r in scores]
    loss01 = -sum(a * n for a, n in zip(adv01, [3, 4, 5, 6])) / 18
    assert loss_pm == pytest.approx(loss01, rel=1e-3)
    assert loss_pm != pytest.approx(loss01, rel=1e-6)  # not identical: the epsilon sees the scale


# ---------------------------------------------------------------- GSPO: the sequence clip


def test_gspo_seq_clip_frac_counts_sequences_not_tokens() -> None:
    # one group, A = [+, -, +, -]; constant log-ratio c_i per sequence, so s_i = exp(c_i) (eq. 7)
    #   seq 0, 6 tokens, A > 0, s = e^1e-3 > 1 + 4e-4   -> clipped
    #   seq 1, 1 token,  A < 0, s = e^-1e-3 < 1 - 3e-4  -> clipped
    #   seq 2, 1 token,  A > 0, s = e^-1e-3 below the band, but min() keeps s A: not clipped
    #   seq 3, 2 tokens, A < 0, s = e^1e-4 inside the band: not clipped
    batch = _batch([1.0, 0.0, 1.0, 0.0], [6, 1, 1, 2], 4, 6, MAX_NEW, log_ratio=[1e-3, -1e-3, -1e-3, 1e-4])
    loss, metrics = objectives.get("gspo").loss(batch)
    assert metrics["seq_clip_frac"] == 2 / 4
    assert metrics["clip_frac"] == pytest.approx(7 / 10)  # the per-token share weighs seq 0 by its 6 tokens
    loss.backward()
    # eq. 17 (GSPO-token): d loss / d log pi_{i,t} = -(1/G) s_i A_i / |o_i| unless clipped (then 0)
    a = 0.5 / (math.sqrt(1 / 3) + 1e-4)  # scores 1,0,1,0: deviations +-0.5, unbiased std sqrt(1/3)
    expected = torch.zeros(4, 6)
    expected[2, :1] = -(1 / 4) * math.exp(-1e-3) * a / 1
    expected[3, :2] = -(1 / 4) * math.exp(1e-4) * (-a) / 2
    torch.testing.assert_close(batch.logprobs.grad, expected, atol=1e-7, rtol=1e-5)


def test_gspo_group_with_equal_rewards_is_never_counted_as_clipped() -> None:
    # A = 0 in an all-right group: the clip changes nothing, however far the ratios are
    batch = _batch([1.0, 1.0, 1.0, 1.0], [3, 2, 4, 1], 4, 4, MAX_NEW, log_ratio=[0.5, -0.5, 0.5, -0.5])
    _, metrics = objectives.get("gspo").loss(batch)
    assert metrics["seq_clip_frac"] == 0.0


# ---------------------------------------------------------------- declared mechanisms


@pytest.mark.parametrize(
    ("name", "mechanism"),
    [("dapo", ("overlong_frac", "groups_dropped")), ("gspo", ("seq_clip_frac",)), ("grpo", ()), ("dr_grpo", ())],
)
def test_mechanism_keys_are_declared_and_reported_by_loss(name: str, mechanism: tuple[str, ...]) -> None:
    obj = objectives.get(name)
    assert obj.mechanism == mechanism
    _, metrics = obj.loss(_batch(SCORES, LENGTHS, 4, T, MAX_NEW, log_ratio=[1e-3] * 8))
    # groups_dropped is the trainer's own per-step count (harness/train/loop.py), not a loss metric
    assert set(mechanism) - {"groups_dropped"} <= set(metrics)
