"""TEPO's entropy-masked KL and TGC's shared-prefix re-centring, on inputs where each acts.

Every expected gradient is written out from the objective's equation (module docstrings of
harness/objectives/tepo.py and tgc.py) with plain numbers, not with the code under test.
The entropy noise sizes come from benchmarks/tepo_entropy_noise.py (recorded in tepo.py).
"""
from __future__ import annotations

import math

import pytest
import torch

from harness import objectives

#: A of a group scored 1, 1, 0, 0 (or 1, 0, 1, 0): +-0.5 / (unbiased std sqrt(1/3) + 1e-4)
A = 0.5 / (math.sqrt(1.0 / 3.0) + 1e-4)
#: the largest float32 entropy noise between the trainer's two passes, as a share of H_old
FLOAT32_NOISE_REL = 2.3e-5
#: the median real entropy change after one update at the default config's lr, as a share of H_old
REAL_CHANGE_REL = 2.9e-3


# ---------------------------------------------------------------- TEPO


def _tepo_batch(entropy: torch.Tensor, old_entropy: torch.Tensor) -> objectives.RolloutBatch:
    """One group of 4 (rewards 1, 1, 0, 0), T = 3, row 1's last token padding; the second minibatch
    of a rollout batch: old log-probs 1e-4 below the current ones on every token, so each
    sequence ratio is s_i = exp(1e-4), inside GSPO's clip [1 - 3e-4, 1 + 4e-4]."""
    lp = torch.tensor([[-0.5, -1.0, -1.5], [-0.2, -2.0, 0.0], [-1.0, -1.0, -1.0], [-0.3, -0.6, -0.9]], requires_grad=True)
    return objectives.RolloutBatch(
        logprobs=lp,
        old_logprobs=lp.detach() - 1e-4,
        mask=torch.tensor([[1.0, 1, 1], [1, 1, 0], [1, 1, 1], [1, 1, 1]]),
        rewards=torch.tensor([1.0, 1, 0, 0]),
        group_size=4,
        ref_logprobs=torch.tensor([[-1.0, -1.5, -1.0], [-0.7, -2.2, 0.0], [-2.0, -1.0, -0.5], [-0.3, -0.1, -1.9]]),
        entropy=entropy,
        old_entropy=old_entropy,
    )


OLD_H = torch.tensor([[1.1, 0.44, 0.007], [0.002, 0.3, 0.0], [1.0, 1.0, 1.0], [0.5, 0.5, 0.5]])


def _tepo_expected_grad(batch: objectives.RolloutBatch, kl_mask: torch.Tensor, beta: float) -> torch.Tensor:
    """d L / d logprobs from TEPO's equation, token by token:
    L = 1/N sum_it [-s_i A_i + beta M_it (exp(ref - lp) - (ref - lp) - 1)] with s_i unclipped, so
    dL/dlp_it = (-s_i A_i + beta M_it (1 - exp(ref_it - lp_it))) / N."""
    s = math.exp(1e-4)
    adv = [A, A, -A, -A]
    n = float(batch.mask.sum())
    grad = torch.zeros(4, 3)
    for i in range(4):
        for t in range(3):
            if batch.mask[i, t] == 0:
                continue
            lp, ref = float(batch.logprobs.detach()[i, t]), float(batch.ref_logprobs[i, t])
            grad[i, t] = (-s * adv[i] + beta * float(kl_mask[i, t]) * (1.0 - math.exp(ref - lp))) / n
    return grad


def test_tepo_gradient_with_a_non_empty_kl_mask_is_the_equation_written_out() -> None:
    # row 0 (A > 0): entropy fell by 2% / rose / fell by a noise-sized 1e-5 of H
    # row 1 (A > 0): fell by 10% / fell by 0.5% / padding; rows 2-3 (A < 0): fell, never masked
    entropy = torch.tensor([[1.1 * 0.98, 0.5, 0.007 * (1 - 1e-5)], [0.0018, 0.3 * 0.995, 0.0], [0.5, 0.9, 0.2], [0.1, 0.1, 0.1]])
    batch = _tepo_batch(entropy, OLD_H)
    beta = 0.04
    expected_mask = torch.tensor([[1.0, 0, 0], [1, 1, 0], [0, 0, 0], [0, 0, 0]])
    loss, metrics = objectives.get("tepo", beta=beta).loss(batch)
    (grad,) = torch.autograd.grad(loss, batch.logprobs)
    torch.testing.assert_close(grad, _tepo_expected_grad(batch, expected_mask, beta), atol=1e-7, rtol=1e-5)
    # the KL's part of the gradient is where the mask is, and not zero there
    assert (grad - _tepo_expected_grad(batch, torch.zeros(4, 3), beta)).abs().gt(1e-6).float().equal(expected_mask)
    assert metrics["kl_mask_frac"] == pytest.approx(3 / 11)  # 3 masked of 11 completion tokens
    assert metrics["kl_mask_frac_pos_adv"] == pytest.approx(3 / 5)  # of the 5 tokens with A > 0


@pytest.mark.parametrize("noise_rel", [FLOAT32_NOISE_REL, -FLOAT32_NOISE_REL])
def test_tepo_mask_ignores_float_noise_in_the_entropy_but_not_a_real_fall(noise_rel: float) -> None:
    tepo = objectives.get("tepo")
    positive = torch.tensor([[1.0, 1, 1], [1, 1, 0], [0, 0, 0], [0, 0, 0]])

    noisy = _tepo_batch(OLD_H * (1 - noise_rel), OLD_H)
    loss, metrics = tepo.loss(noisy)
    (grad,) = torch.autograd.grad(loss, noisy.logprobs)
    assert metrics["kl_mask_frac"] == 0.0 and metrics["kl_mask_frac_pos_adv"] == 0.0
    torch.testing.assert_close(grad, _tepo_expected_grad(noisy, torch.zeros(4, 3), 0.04), atol=1e-7, rtol=1e-5)

    real = _tepo_batch(OLD_H * (1 - REAL_CHANGE_REL), OLD_H)
    loss, metrics = tepo.loss(real)
    (grad,) = torch.autograd.grad(loss, real.logprobs)
    # every A > 0 token with H_old > 0 fell for real (row 1's H_old = 0 token is padding)
    torch.testing.assert_close(grad, _tepo_expected_grad(real, positive, 0.04), atol=1e-7, rtol=1e-5)
    assert metrics["kl_mask_frac"] == pytest.approx(5 / 11) and metrics["kl_mask_frac_pos_adv"] == 1.0


def test_the_old_absolute_margin_let_float_noise_through() -> None:
    # 1e-5 of H is noise-sized (below the measured 2.3e-5) but 1.1e-5 nats at H = 1.1: above 1e-6 nats
    batch = _tepo_batch(OLD_H * (1 - 1e-5), OLD_H)
    _, old_margin = objectives.get("tepo", entropy_rtol=0.0, entropy_atol=1e-6).loss(batch)
    _, default = objectives.get("tepo").loss(batch)
    assert old_margin["kl_mask_frac"] > 0 and default["kl_mask_frac"] == 0.0


@pytest.mark.parametrize("beta", [0.04, 0.0])
def test_tepo_logs_its_mechanism_metric_even_when_the_mask_is_empty(beta: float) -> None:
    tepo = objectives.get("tepo", beta=beta)
    assert tepo.mechanism == ("kl_mask_frac",)
    # on the first update of a rollout batch the entropies are the same: nothing fell
    _, metrics = tepo.loss(_tepo_batch(OLD_H.clone(), OLD_H))
    assert set(tepo.mechanism) <= set(metrics)
    assert metrics["kl_mask_frac"] == 0.0 and metrics["kl_mask_frac_pos_adv"] == 0.0
    assert ("kl" in metrics) == (beta > 0)


@pytest.mark.parametrize("hp", [{"entropy_rtol": 1.0}, {"entropy_rtol": -1e-4}, {"entropy_atol": -1e-7}])
def test_tepo_rejects_an_entropy_margin_outside_its_range(hp: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="entropy_"):
        objectives.get("tepo", **hp)


# ---------------------------------------------------------------- TGC


def _tgc_batch(shared_ratio: float) -> objectives.RolloutBatch:
    """Two groups of 4 (rewards 1, 0, 1, 0 each), lengths 3, 2, 4, 3 and 4, 4, 2, 1, T = 4.

    Group 0's four sequences share their first two tokens (same ids, hence the same context and
    the same log-probs); group 1's first tokens differ. The first two tokens of every sequence
    have ratio ``shared_ratio``, the other tokens ratio 1.
    """
    mask = torch.tensor([[1.0, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 1, 0],
                         [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]])
    ids = torch.tensor([[7, 8, 3, 0], [7, 8, 0, 0], [7, 8, 5, 6], [7, 8, 9, 0],
                        [7, 8, 3, 4], [9, 8, 3, 4], [7, 5, 0, 0], [2, 0, 0, 0]])
    lp = torch.tensor([[-0.4, -0.9, -1.2, 0.0], [-0.4, -0.9, 0.0, 0.0], [-0.4, -0.9, -0.3, -2.0], [-0.4, -0.9, -0.7, 0.0],
                       [-0.5, -0.6, -0.7, -0.8], [-1.5, -0.1, -0.2, -0.3], [-0.9, -1.1, 0.0, 0.0], [-0.2, 0.0, 0.0, 0.0]])
    old = lp.clone()
    old[:, :2] -= math.log(shared_ratio)
    return objectives.RolloutBatch(
        logprobs=lp.requires_grad_(), old_logprobs=old * mask, mask=mask,
        rewards=torch.tensor([1.0, 0, 1, 0, 1, 0, 1, 0]), group_size=4,
        extras={"completion_ids": ids, "max_new_tokens": 4},
    )


def test_tgc_recentres_the_clipped_shared_prefix_coefficients_written_out_by_hand() -> None:
    # ratio 1.5 > 1 + 0.2 on the first two tokens: the clip removes the A > 0 occurrences only
    batch = _tgc_batch(shared_ratio=1.5)
    loss, metrics = objectives.get("tgc").loss(batch)
    (grad,) = torch.autograd.grad(loss, batch.logprobs)
    # L = 1/2 (groups) sum_g 1/N_g sum_it [-c_it - d_it], N_0 = 3+2+4+3 = 12, N_1 = 4+4+2+1 = 11
    # group 0, shared positions: c = (0, -1.5A, 0, -1.5A), mean -0.75A, so c + d = (+0.75A, -0.75A, +0.75A, -0.75A)
    # group 0, other positions: ratio 1, c = A_i. Group 1 has no shared prefix: c = A_i r 1[unclipped]
    a, n0, n1 = A, 12.0, 11.0
    expected = torch.tensor([
        [-0.75 * a, -0.75 * a, -a, 0.0],
        [0.75 * a, 0.75 * a, 0.0, 0.0],
        [-0.75 * a, -0.75 * a, -a, -a],
        [0.75 * a, 0.75 * a, a, 0.0],
    ]) / (2 * n0)
    expected_g1 = torch.tensor([
        [0.0, 0.0, -a, -a],  # A > 0, ratio 1.5: clipped
        [1.5 * a, 1.5 * a, a, a],  # A < 0, ratio 1.5: kept, coefficient A r
        [0.0, 0.0, 0.0, 0.0],
        [1.5 * a, 0.0, 0.0, 0.0],
    ]) / (2 * n1)
    torch.testing.assert_close(grad, torch.cat([expected, expected_g1]), atol=1e-7, rtol=1e-5)
    # the shared tokens' gradients cancel over group 0 (GRPO's clip leaves 2 x 1.5A / 24 there)
    assert grad[:4, :2].sum(0).abs().max() < 1e-7
    assert metrics["shared_prefix_frac"] == pytest.approx(8 / 23)  # 2 positions x 4 rows of 23 tokens
    assert metrics["tgc_recentred_frac"] == pytest.approx(8 / 23)
    assert metrics["tgc_correction_abs_mean"] == pytest.approx(8 * 0.75 * a / 23)


def test_tgc_correction_is_zero_on_policy_where_the_group_normaliser_already_cancels() -> None:
    batch = _tgc_batch(shared_ratio=1.0)
    tgc = objectives.get("tgc")
    loss, metrics = tgc.loss(batch)
    (grad,) = torch.autograd.grad(loss, batch.logprobs)
    # on-policy every coefficient is A_i: dL/dlp_it = -A_i / (2 N_g) on completion tokens
    adv = torch.tensor([A, -A, A, -A, A, -A, A, -A])[:, None]
    n = torch.tensor([12.0] * 4 + [11.0] * 4)[:, None]
    torch.testing.assert_close(grad, -adv / (2 * n) * batch.mask, atol=1e-7, rtol=1e-5)
    assert grad[:4, :2].sum(0).abs().max() < 1e-7  # cancellation by the normaliser alone
    assert metrics["shared_prefix_frac"] > 0
    assert set(tgc.mechanism) <= set(metrics)
    assert metrics["tgc_recentred_frac"] == 0.0 and metrics["tgc_correction_abs_mean"] == 0.0


def test_tgc_correction_is_zero_where_the_clip_acts_outside_a_shared_prefix() -> None:
    batch = _tgc_batch(shared_ratio=1.5)
    ids = batch.extras["completion_ids"].clone()
    ids[1, 0] = 3  # group 0 no longer shares a prefix
    loss, metrics = objectives.get("tgc").loss(batch.replace(extras={**batch.extras, "completion_ids": ids}))
    (grad,) = torch.autograd.grad(loss, batch.logprobs)
    a = A
    expected_g0 = torch.tensor([
        [0.0, 0.0, -a, 0.0],
        [1.5 * a, 1.5 * a, 0.0, 0.0],
        [0.0, 0.0, -a, -a],
        [1.5 * a, 1.5 * a, a, 0.0],
    ]) / (2 * 12.0)
    torch.testing.assert_close(grad[:4], expected_g0, atol=1e-7, rtol=1e-5)
    assert metrics["clip_frac"] > 0 and metrics["shared_prefix_frac"] == 0.0
    assert metrics["tgc_recentred_frac"] == 0.0 and metrics["tgc_correction_abs_mean"] == 0.0
