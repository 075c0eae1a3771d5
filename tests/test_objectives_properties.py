"""Each objective's defining property, on hand-built cases."""
from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import objectives
from harness.objectives import parts

from conftest import onpolicy_batch


_batch = onpolicy_batch


# ---------------------------------------------------------------- HMPO


def test_hmpo_rewards_match_hand_computed_cases() -> None:
    # L_max = 20. Group 1: correct lengths 4, 6, 10 -> median 6.
    # Group 2: correct 3, 9 -> even count, median 6. Group 3: no correct -> all 0.
    # Group 4: all correct 2, 4, 6, 20 -> median 5; the one at L_max gets 0.
    rewards = [1, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
    lengths = [4, 6, 10, 20, 3, 9, 2, 20, 5, 7, 9, 11, 2, 4, 6, 20]
    batch = _batch([float(r) for r in rewards], lengths, 4, extras={"max_new_tokens": 20})
    got = objectives.get("hmpo").shape_rewards(batch)
    expected = [
        1.0, 1.0, (1 + math.cos(math.pi * 4 / 14)) / 2, 0.0,
        1.0, (1 + math.cos(math.pi * 3 / 14)) / 2, 0.0, 0.0,
        0.0, 0.0, 0.0, 0.0,
        1.0, 1.0, (1 + math.cos(math.pi * 1 / 15)) / 2, 0.0,
    ]
    torch.testing.assert_close(got, torch.tensor(expected))
    assert abs(expected[2] - 0.8117449) < 1e-6 and abs(expected[5] - 0.8909157) < 1e-6  # cos(2pi/7), by hand


def test_hmpo_group_without_a_correct_rollout_gives_no_signal() -> None:
    batch = _batch([0.0] * 4, [3, 5, 7, 9], 4, extras={"max_new_tokens": 10})
    loss, _ = objectives.get("hmpo").loss(batch)
    loss.backward()
    assert batch.logprobs.grad.abs().max() == 0


def test_hmpo_prefers_the_shorter_of_two_correct_answers() -> None:
    batch = _batch([1.0, 1.0, 1.0, 0.0], [2, 4, 9, 3], 4, extras={"max_new_tokens": 10})
    r = objectives.get("hmpo").shape_rewards(batch)
    assert r[0] == r[1] == 1.0 and 0 < r[2] < 1 and r[3] == 0


# ---------------------------------------------------------------- DAPO


def test_dapo_soft_overlong_punishment_matches_eq_13() -> None:
    # L_max 20, buffer 4: free up to 16, linear to -1 at 20
    pen = parts.soft_overlong_penalty(torch.tensor([10, 16, 17, 18, 20, 21]), max_len=20, buffer=4)
    torch.testing.assert_close(pen, torch.tensor([0.0, 0.0, -0.25, -0.5, -1.0, -1.0]))


def test_dapo_shapes_rewards_with_a_default_buffer_of_a_fifth() -> None:
    batch = _batch([1.0, 0.0, 1.0, 1.0], [5, 9, 10, 7], 4, extras={"max_new_tokens": 10})
    torch.testing.assert_close(objectives.get("dapo").shape_rewards(batch), torch.tensor([1.0, -1.5, 0.0, 1.0]))


def test_dapo_dynamic_sampling_drops_all_right_and_all_wrong_groups() -> None:
    keep = objectives.get("dapo").keep_groups(torch.tensor([1.0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0]), 4)
    assert keep.tolist() == [True, False, False]
    assert objectives.get("grpo").keep_groups(torch.zeros(8), 4).tolist() == [True, True]


# ---------------------------------------------------------------- EAPO


@settings(max_examples=60, deadline=None)
@given(
    entropy=st.lists(st.floats(0.0, 5.0), min_size=6, max_size=6),
    length=st.integers(1, 6),
    alpha=st.floats(0.0, 1.0),
    phi=st.floats(0.25, 3.0),
    adv=st.floats(-3.0, 3.0).filter(lambda a: abs(a) > 1e-3),
)
def test_eapo_weights_keep_the_sign_and_mean_of_the_advantage(
    entropy: list[float], length: int, alpha: float, phi: float, adv: float
) -> None:
    H = torch.tensor([entropy])
    mask = (torch.arange(6)[None] < length).float()
    w = parts.entropy_credit_weights(H, mask, alpha, phi)
    token_adv = adv * w
    # alpha 1 gives a zero-entropy token w = 0: credit bounded by entropy may be none, never the wrong sign
    assert ((torch.sign(token_adv) == math.copysign(1, adv)) | (token_adv == 0) | (mask == 0)).all()
    assert abs(float(token_adv.sum() / length) - adv) < 1e-4 * max(1.0, abs(adv))


def test_eapo_moves_credit_toward_high_entropy_tokens() -> None:
    w = parts.entropy_credit_weights(torch.tensor([[0.1, 2.0, 0.1, 0.0]]), torch.ones(1, 4), alpha=0.5, phi=1.0)
    assert w[0, 1] > 1 > w[0, 0] and w[0, 3] == 0.5


# ---------------------------------------------------------------- TEPO


def test_tepo_kl_mask_selects_exactly_positive_advantage_falling_entropy_tokens() -> None:
    # group of 4: rewards 1,1,0,0 -> A > 0 for the first two
    entropy = torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5], [1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    old_entropy = torch.tensor([[2.0, 2.0, 1.0], [0.6, 0.4, 0.9], [3.0, 3.0, 3.0], [3.0, 1.0, 3.0]])
    lp = torch.full((4, 3), -1.0, requires_grad=True)
    mask = torch.tensor([[1.0, 1, 1], [1, 1, 0], [1, 1, 1], [1, 1, 1]])
    batch = objectives.RolloutBatch(
        logprobs=lp, old_logprobs=lp.detach(), mask=mask, rewards=torch.tensor([1.0, 1, 0, 0]), group_size=4,
        ref_logprobs=torch.full((4, 3), -2.0), entropy=entropy, old_entropy=old_entropy,
    )
    tepo = objectives.get("tepo", beta=0.1)
    adv = parts.group_normalised_advantage(batch.rewards, 4)[:, None]
    expected = torch.tensor([[1.0, 0, 0], [1, 0, 0], [0, 0, 0], [0, 0, 0]])  # [1,2] of row 1 is padding
    torch.testing.assert_close(tepo.kl_mask(batch, adv), expected)

    # the KL's gradient lands on exactly those tokens
    with_kl, _ = tepo.loss(batch)
    (g_kl,) = torch.autograd.grad(with_kl, lp)
    without, _ = objectives.get("tepo", beta=0.0).loss(batch)
    (g_plain,) = torch.autograd.grad(without, lp)
    assert ((g_kl - g_plain).abs() > 1e-6).float().equal(expected)


# ---------------------------------------------------------------- TGC


def _shared_prefix_group(off_policy: bool):
    """One group of 4 whose first 3 tokens are identical (same context: same log-probs)."""
    torch.manual_seed(3)
    lengths = torch.tensor([5, 9, 4, 7])
    T = 9
    mask = (torch.arange(T)[None] < lengths[:, None]).float()
    ids = torch.randint(3, 40, (4, T))
    ids[:, :3] = torch.tensor([7, 8, 9])
    lp = -torch.rand(4, T) * 2
    lp[:, :3] = lp[0, :3]  # identical contexts give identical log-probs
    old = lp.clone()
    if off_policy:  # ratio 1.5 on the shared tokens (beyond 1 + eps), mild noise elsewhere
        old[:, :3] = lp[:, :3] - math.log(1.5)
        old[:, 3:] = lp[:, 3:] + 0.05 * torch.randn(4, T - 3)
    lp = lp.requires_grad_()
    return objectives.RolloutBatch(
        logprobs=lp, old_logprobs=old, mask=mask, rewards=torch.tensor([1.0, 0.0, 1.0, 0.0]), group_size=4,
        extras={"completion_ids": ids * mask.long(), "max_new_tokens": T},
    )


def _shared_token_gradient(name: str, off_policy: bool) -> torch.Tensor:
    """[3] sum over the group of d loss / d log pi at each shared-prefix position."""
    batch = _shared_prefix_group(off_policy)
    loss, _ = objectives.get(name).loss(batch)
    loss.backward()
    return batch.logprobs.grad[:, :3].sum(0)


def test_tgc_cancels_shared_prefix_gradients_that_grpo_leaves() -> None:
    for off_policy in (False, True):
        assert _shared_token_gradient("tgc", off_policy).abs().max() < 1e-7
        assert _shared_token_gradient("grpo", off_policy).abs().max() > 1e-3  # 1/|o_i| and the clip break it
    assert _shared_token_gradient("dr_grpo", False).abs().max() < 1e-7  # a shared normaliser suffices on-policy
    assert _shared_token_gradient("dr_grpo", True).abs().max() > 1e-3  # but not against the sign-dependent clip


def test_tgc_leaves_gradients_outside_the_shared_prefix_alone() -> None:
    batch = _shared_prefix_group(off_policy=True)
    loss, _ = objectives.get("tgc").loss(batch)
    loss.backward()
    # the same surrogate with the group-shared normaliser and no re-centring
    lp = batch.logprobs.detach().clone().requires_grad_()
    adv = parts.group_normalised_advantage(batch.rewards, 4)[:, None]
    per_token = parts.clipped_surrogate(torch.exp(lp - batch.old_logprobs), adv, 0.2, 0.2)
    parts.group_token_normaliser(per_token, batch.mask, 4).backward()
    torch.testing.assert_close(batch.logprobs.grad[:, 3:], lp.grad[:, 3:])
    assert not torch.allclose(batch.logprobs.grad[:, :3], lp.grad[:, :3])


def test_shared_prefix_stops_at_the_first_difference() -> None:
    ids = torch.tensor([[1, 2, 3, 4], [1, 2, 5, 4]])
    got = parts.shared_prefix_mask(ids, torch.ones(2, 4), 2)
    assert got.tolist() == [[1, 1, 0, 0], [1, 1, 0, 0]]


# ---------------------------------------------------------------- IAPO


def test_iapo_information_gain_is_the_drop_in_answer_entropy() -> None:
    a = torch.tensor([[2.0, 1.5, 1.5, 0.5, 0.0]])
    mask = torch.tensor([[1.0, 1, 1, 1, 0]])
    assert parts.information_gain(a, mask).tolist() == [[0.0, 0.5, 0.0, 1.0, 0.0]]


def test_iapo_normalises_as_the_paper_intends_not_as_the_reference_code_slip() -> None:
    x = torch.tensor([[1.0, 2.0, 3.0, 10.0]])
    ours = parts.centred_unit_norm(x, torch.ones(1, 4))
    intended = (x - x.mean()) / x.std()
    torch.testing.assert_close(ours, intended / intended.norm())
    # g2rpo_trainer.py's precedence, x - (mean / std), then unit norm: 16/4 / 4.0825 = 0.9798 off each entry
    slip = x - 0.9797959
    assert not torch.allclose(ours, slip / slip.norm(), atol=1e-3)  # the code does not copy the slip


def test_iapo_entropy_term_flips_sign_with_correctness() -> None:
    T = 4
    ent = torch.tensor([[0.1, 2.0, 0.1, 0.1]]).repeat(2, 1)
    lp = torch.zeros(2, T, requires_grad=True)
    batch = objectives.RolloutBatch(
        logprobs=lp, old_logprobs=lp.detach(), mask=torch.ones(2, T), rewards=torch.tensor([1.0, 0.0]), group_size=2,
        entropy=ent, extras={"answer_entropy": torch.ones(2, T)},
    )
    adv = objectives.get("iapo", lambda_s=0.0, lambda_c=1.0).token_advantage(batch, batch.rewards)
    base = parts.group_normalised_advantage(batch.rewards, 2)[:, None]
    # right answer: its high-entropy token loses advantage; wrong answer: it gains
    assert (adv - base)[0, 1] < 0 < (adv - base)[1, 1]
    torch.testing.assert_close((adv - base)[0], -(adv - base)[1])
