"""IAPO's, EAPO's and HMPO's mechanisms and their metrics, against numbers worked out by hand.

Every expected value below is written out from the formula in the objective's provenance,
never taken from the code under test, on batches where the mechanism acts.
"""
from __future__ import annotations

import math

import pytest
import torch

from harness import objectives

from conftest import onpolicy_batch



_batch = onpolicy_batch


def _group_advantage(rewards: list[float], group_size: int) -> torch.Tensor:
    """[B, 1] (r - group mean) / (unbiased group std + 1e-4), written out."""
    out = []
    for g in range(0, len(rewards), group_size):
        r = rewards[g : g + group_size]
        mean = sum(r) / len(r)
        std = math.sqrt(sum((x - mean) ** 2 for x in r) / (len(r) - 1))
        out += [(x - mean) / (std + 1e-4) for x in r]
    return torch.tensor(out)[:, None]


# ---------------------------------------------------------------- HMPO

#: L_max = 10; three groups of four, where some correct rollouts exceed their group's budget.
#: group 0: correct lengths 2, 4, 8 -> budget 4; L=8: x = (8-4)/(10-4) = 2/3, f = (1 + cos(2pi/3))/2 = 0.25
#: group 1: correct lengths 1, 4, 6 -> budget 4; L=6: x = (6-4)/(10-4) = 1/3, f = (1 + cos(pi/3))/2 = 0.75
#: group 2: correct lengths 3, 9 (even count) -> budget (3+9)/2 = 6; L=9: x = 3/4, f = (1 - sqrt(2)/2)/2
HMPO_REWARDS = [1.0, 1, 1, 0, 1, 0, 1, 1, 1, 1, 0, 0]
HMPO_LENGTHS = [2, 4, 8, 5, 1, 6, 4, 6, 3, 9, 10, 2]
HMPO_SHAPED = [1.0, 1.0, 0.25, 0.0, 1.0, 0.0, 1.0, 0.75, 1.0, 0.14644660940672624, 0.0, 0.0]


def _hmpo_batch() -> objectives.RolloutBatch:
    return _batch(HMPO_REWARDS, HMPO_LENGTHS, 4, 10, extras={"max_new_tokens": 10})


def test_hmpo_shapes_rewards_by_the_cosine_decay_past_the_median_correct_length() -> None:
    assert abs(HMPO_SHAPED[9] - (1 + math.cos(3 * math.pi / 4)) / 2) < 1e-12  # the one irrational entry, re-derived
    torch.testing.assert_close(objectives.get("hmpo").shape_rewards(_hmpo_batch()), torch.tensor(HMPO_SHAPED))


def test_hmpo_on_policy_gradient_is_grpo_on_hand_shaped_rewards() -> None:
    batch = _hmpo_batch()
    loss, _ = objectives.get("hmpo").loss(batch)
    loss.backward()
    # GRPO, on-policy: d loss / d logprob_it = -A_i / (B |o_i|) on completion tokens
    lengths = torch.tensor(HMPO_LENGTHS, dtype=torch.float32)[:, None]
    expected = _group_advantage(HMPO_SHAPED, 4) / (len(HMPO_REWARDS) * lengths) * batch.mask
    torch.testing.assert_close(-batch.logprobs.grad, expected, atol=1e-6, rtol=1e-5)
    # the decayed rollouts (f < 1) do get less credit than their group's full-reward ones
    adv = _group_advantage(HMPO_SHAPED, 4).squeeze(1)
    assert adv[2] < adv[0] and adv[7] < adv[4] and adv[9] < adv[8]


def test_hmpo_mechanism_metrics_count_correct_rollouts_over_budget() -> None:
    _, metrics = objectives.get("hmpo").loss(_hmpo_batch())
    # 8 correct rollouts, 3 of them over budget (L = 8, 6, 9)
    assert metrics["hmpo_over_budget_frac"] == pytest.approx(3 / 8)
    # mean of 1 - f over the 8 correct: (0.75 + 0.25 + (1 + sqrt(2)/2)/2) / 8
    assert metrics["hmpo_decay_mean"] == pytest.approx((0.75 + 0.25 + (1 + math.sqrt(2) / 2) / 2) / 8)
    assert objectives.get("hmpo").mechanism == ("hmpo_over_budget_frac",)


def test_hmpo_mechanism_reads_zero_when_no_correct_rollout_exceeds_its_budget() -> None:
    # every correct rollout at or below its group's median, or no correct rollout at all
    batch = _batch([1.0, 1, 0, 0, 0, 0, 0, 0], [3, 3, 9, 2, 4, 5, 6, 7], 4, 10, extras={"max_new_tokens": 10})
    _, metrics = objectives.get("hmpo").loss(batch)
    assert metrics["hmpo_over_budget_frac"] == 0.0 and metrics["hmpo_decay_mean"] == 0.0


def test_length_penalty_control_declares_no_conditional_mechanism() -> None:
    assert objectives.get("length_penalty_control").mechanism == ()


# ---------------------------------------------------------------- IAPO

#: one group of two, three tokens each. Row 0 right: answer entropy 2, 1, 1 -> gain 0, 1, 0 ->
#: centred -1/3, 2/3, -1/3 -> unit norm (-1, 2, -1)/sqrt(6); token entropy flat -> c~ = 0.
#: Row 1 wrong: answer entropy flat -> s~ = 0; token entropy 0, 0, 3 -> c~ = (-1, -1, 2)/sqrt(6).
S6 = math.sqrt(6)


def _iapo_batch(rewards: list[float]) -> objectives.RolloutBatch:
    return _batch(
        rewards, [3, 3], 2, 3,
        entropy=torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 3.0]]),
        extras={"answer_entropy": torch.tensor([[2.0, 1.0, 1.0], [1.0, 1.0, 1.0]])},
    )


def test_iapo_token_advantage_matches_the_hand_computed_terms() -> None:
    batch = _iapo_batch([1.0, 0.0])
    a = 0.5 / (math.sqrt(0.5) + 1e-4)  # rewards 1, 0: mean 0.5, unbiased std sqrt(0.5)
    expected = torch.tensor([
        [a + 0.5 * -1 / S6, a + 0.5 * 2 / S6, a + 0.5 * -1 / S6],  # + lambda_s s~; c~ = 0
        [-a + 0.25 * -1 / S6, -a + 0.25 * -1 / S6, -a + 0.25 * 2 / S6],  # wrong: - (-1) lambda_c c~
    ])
    got = objectives.get("iapo", lambda_s=0.5, lambda_c=0.25, beta=0.0).token_advantage(batch, batch.rewards)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)


def test_iapo_mechanism_metrics_are_each_terms_share_of_the_token_advantage() -> None:
    _, metrics = objectives.get("iapo", lambda_s=0.5, lambda_c=0.25, beta=0.0).loss(_iapo_batch([1.0, 0.0]))
    a = 0.5 / (math.sqrt(0.5) + 1e-4)  # every one of the 6 tokens has |A_i| = a
    info = 0.5 * (4 / S6) / 6  # |s~| sums to 4/sqrt(6) over row 0's 3 tokens, mean over 6 tokens
    ent = 0.25 * (4 / S6) / 6
    assert metrics["iapo_info_share"] == pytest.approx(info / (a + info + ent))
    assert metrics["iapo_entropy_share"] == pytest.approx(ent / (a + info + ent))
    assert metrics["iapo_info_share"] == pytest.approx(0.1494, abs=1e-4)  # 0.13608 / (0.70700 + 0.13608 + 0.06804)


def test_iapo_token_terms_are_the_whole_signal_when_the_group_is_uniform() -> None:
    # both right: A_i = 0, but the information and entropy terms still move the policy
    _, metrics = objectives.get("iapo", lambda_s=0.5, lambda_c=0.25, beta=0.0).loss(_iapo_batch([1.0, 1.0]))
    assert metrics["iapo_info_share"] == pytest.approx(2 / 3)  # (1/(3 sqrt6)) / (1/(3 sqrt6) + 1/(6 sqrt6))
    assert metrics["iapo_entropy_share"] == pytest.approx(1 / 3)


def test_iapo_at_the_reference_cli_lambda_the_token_terms_vanish() -> None:
    # lambda 1e-6 (the reference CLI default): the terms are ~1e-7 of the token advantage,
    # so IAPO there is clipped token-mean; the default lambda 1 is not
    _, tiny = objectives.get("iapo", lambda_s=1e-6, lambda_c=1e-6, beta=0.0).loss(_iapo_batch([1.0, 0.0]))
    _, default = objectives.get("iapo", beta=0.0).loss(_iapo_batch([1.0, 0.0]))
    a = 0.5 / (math.sqrt(0.5) + 1e-4)
    assert tiny["iapo_info_share"] == pytest.approx(1e-6 * (4 / S6) / 6 / a, rel=1e-3)
    assert default["iapo_info_share"] == pytest.approx((4 / S6 / 6) / (a + 2 * 4 / S6 / 6), rel=1e-4)
    assert objectives.get("iapo").mechanism == ("iapo_info_share", "iapo_entropy_share")


# ---------------------------------------------------------------- EAPO

#: one group of two, four tokens each, phi = 1. Row 0 right (A > 0): entropy 0.5, 1.5, 0, 2
#: (sum 4, so |o| H / sum H = H). Row 1 wrong (A < 0): entropy 2, 2, 1, 3 (sum 8: share H / 2).
EAPO_ENTROPY = torch.tensor([[0.5, 1.5, 0.0, 2.0], [2.0, 2.0, 1.0, 3.0]])


def _eapo_batch(rewards: list[float]) -> objectives.RolloutBatch:
    return _batch(rewards, [4, 4], 2, 4, entropy=EAPO_ENTROPY.clone())


def test_eapo_weights_follow_each_quadrant_with_a_strength_per_polarity() -> None:
    batch = _eapo_batch([1.0, 0.0])
    loss, metrics = objectives.get("eapo", alpha=0.5, alpha_neg=0.2).loss(batch)
    loss.backward()
    # positive row, alpha 0.5: w = 0.5 + 0.5 * (0.5, 1.5, 0, 2); negative row, alpha_neg 0.2: w = 0.8 + 0.2 * (1, 1, 0.5, 1.5)
    w = torch.tensor([[0.75, 1.25, 0.5, 1.5], [1.0, 1.0, 0.9, 1.1]])
    a = 0.5 / (math.sqrt(0.5) + 1e-4)
    adv = torch.tensor([[a], [-a]])
    torch.testing.assert_close(-batch.logprobs.grad, adv * w / 8, atol=1e-6, rtol=1e-5)  # token-mean over 8 tokens
    # every quadrant: high-entropy tokens above their sequence's mean entropy get w > 1, low ones w < 1, sign kept
    assert w[0, 1] > 1 and w[0, 3] > 1 and w[0, 0] < 1 and w[0, 2] < 1  # positive x high / positive x low
    assert w[1, 3] > 1 and w[1, 2] < 1  # negative x high / negative x low
    # metrics: RMS of w - 1 over the 8 tokens = sqrt((0.0625 + 0.0625 + 0.25 + 0.25 + 0.01 + 0.01) / 8);
    # |w - 1| > 0.05 on 6 of 8 tokens (row 1's two tokens at the mean entropy keep w = 1)
    assert metrics["eapo_weight_std"] == pytest.approx(math.sqrt(0.645 / 8))
    assert metrics["eapo_reweighted_frac"] == pytest.approx(6 / 8)


def test_eapo_default_strength_is_the_same_for_both_polarities() -> None:
    batch = _eapo_batch([1.0, 0.0])
    loss, _ = objectives.get("eapo").loss(batch)
    loss.backward()
    # alpha = alpha_neg = 0.5: negative row w = 0.5 + 0.5 * (1, 1, 0.5, 1.5)
    w = torch.tensor([[0.75, 1.25, 0.5, 1.5], [1.0, 1.0, 0.75, 1.25]])
    a = 0.5 / (math.sqrt(0.5) + 1e-4)
    torch.testing.assert_close(-batch.logprobs.grad, torch.tensor([[a], [-a]]) * w / 8, atol=1e-6, rtol=1e-5)
    assert objectives.get("eapo").hyperparams()["alpha_neg"] == 0.5


@pytest.mark.parametrize("rewards, hp", [([1.0, 1.0], {}), ([1.0, 0.0], {"alpha": 0.0})])
def test_eapo_mechanism_reads_zero_when_no_token_is_reweighted(rewards: list[float], hp: dict[str, float]) -> None:
    # a uniform group (no advantage to reallocate) or alpha = 0 (uniform weights)
    _, metrics = objectives.get("eapo", **hp).loss(_eapo_batch(rewards))
    assert metrics["eapo_weight_std"] == 0.0 and metrics["eapo_reweighted_frac"] == 0.0


def test_eapo_rejects_a_strength_that_could_flip_the_sign() -> None:
    with pytest.raises(ValueError, match="alpha_neg"):
        objectives.get("eapo", alpha_neg=1.5)


# ---------------------------------------------------------------- provenance quotes
