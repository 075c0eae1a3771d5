"""Gradient accumulation: micro-batches of whole groups sum to the full-minibatch loss.

A trainer may split a minibatch of whole groups into micro-batches, call
``Objective.loss`` on each with ``RolloutBatch.num_sequences`` / ``num_tokens`` set to
the full minibatch's counts, and backward the sum of the losses. For every registered
objective that sum must equal the full-minibatch loss, and its gradient the full
gradient. With the counts left at ``None`` the loss must be what it always was.
"""
from __future__ import annotations

from typing import Any

import pytest
import torch

from harness import objectives
from harness.objectives import parts

G, GROUPS, T, MAX_NEW = 4, 4, 12, 12
ATOL = 1e-6

#: every signal an objective may ask for (SIGNALS); the batch below provides all of them
PROVIDED = frozenset({"old_logprobs", "ref_logprobs", "entropy", "old_entropy", "answer_entropy", "completion_ids"})

#: registered objectives at their defaults, plus the hyperparameters that switch on extra loss terms
CASES: list[tuple[str, dict[str, Any]]] = [(name, {}) for name in objectives.available()] + [
    ("grpo", {"beta": 0.04}),
    ("hmpo", {"beta": 0.04}),
    ("iapo", {"beta": 0.01}),
    ("dapo", {"overlong_penalty": 0.0}),
]


def _case_id(case: tuple[str, dict[str, Any]]) -> str:
    name, hp = case
    return name + "".join(f"-{k}={v}" for k, v in hp.items())


def random_batch(seed: int = 0) -> objectives.RolloutBatch:
    """Four groups of four, ragged lengths (some at / near the cap: DAPO's overlong
    punishment and HMPO's cosine decay act), a reward spread in every group, off-policy
    old log-probs (clipping acts), entropy that moved since sampling (TEPO's KL mask acts)
    and shared prefixes in groups 0 and 2 (TGC's correction acts)."""
    g = torch.Generator().manual_seed(seed)
    B = G * GROUPS
    lengths = torch.tensor([12, 3, 7, 11, 5, 12, 2, 9, 8, 1, 10, 6, 4, 11, 12, 7])
    rewards = torch.tensor([1.0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 1, 0, 0, 1, 0])
    mask = (torch.arange(T)[None, :] < lengths[:, None]).float()
    ids = torch.randint(3, 50, (B, T), generator=g)
    ids[0:G, :3] = ids[0, :3]
    ids[2 * G : 3 * G, :2] = ids[2 * G, :2]
    logprobs = (-3 * torch.rand(B, T, generator=g)).requires_grad_()
    entropy = 2 * torch.rand(B, T, generator=g)
    return objectives.RolloutBatch(
        logprobs=logprobs,
        old_logprobs=logprobs.detach() + 0.3 * torch.randn(B, T, generator=g),
        mask=mask,
        rewards=rewards,
        group_size=G,
        ref_logprobs=logprobs.detach() - 0.2 * torch.rand(B, T, generator=g),
        entropy=entropy,
        old_entropy=entropy + 0.3 * torch.randn(B, T, generator=g),
        extras={
            "max_new_tokens": MAX_NEW,
            "answer_entropy": 3 * torch.rand(B, T, generator=g) * mask,
            "completion_ids": ids * mask.long(),
        },
    )


def micro_batch(
    batch: objectives.RolloutBatch, logprobs: torch.Tensor, rows: slice, *, trim: bool, full_counts: bool = True
) -> objectives.RolloutBatch:
    """Rows ``rows`` (whole groups) of ``batch``, log-probs sliced from ``logprobs`` (so the
    gradient reaches it); ``trim`` re-pads to the micro-batch's own longest completion,
    as a trainer that pads each micro-batch separately would."""
    width = int(batch.mask[rows].sum(-1).max()) if trim else batch.mask.shape[-1]

    def cut(x: Any) -> Any:
        if not isinstance(x, torch.Tensor):
            return x
        return x[rows, :width] if x.dim() == 2 else x[rows]

    return objectives.RolloutBatch(
        logprobs=cut(logprobs),
        old_logprobs=cut(batch.old_logprobs),
        mask=cut(batch.mask),
        rewards=cut(batch.rewards),
        group_size=batch.group_size,
        ref_logprobs=cut(batch.ref_logprobs),
        entropy=cut(batch.entropy),
        old_entropy=cut(batch.old_entropy),
        extras={k: cut(v) for k, v in batch.extras.items()},
        num_sequences=batch.logprobs.shape[0] if full_counts else None,
        num_tokens=float(batch.mask.sum()) if full_counts else None,
    )


def full_loss_and_grad(obj: objectives.Objective, batch: objectives.RolloutBatch) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
    leaf = batch.logprobs.detach().clone().requires_grad_()
    loss, metrics = obj.loss(batch.replace(logprobs=leaf))
    loss.backward()
    return loss.detach(), leaf.grad, metrics


def accumulated_loss_and_grad(
    obj: objectives.Objective, batch: objectives.RolloutBatch, groups_per_micro: int, *, trim: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    leaf = batch.logprobs.detach().clone().requires_grad_()
    B, step = batch.logprobs.shape[0], groups_per_micro * batch.group_size
    losses = [obj.loss(micro_batch(batch, leaf, slice(s, s + step), trim=trim))[0] for s in range(0, B, step)]
    total = torch.stack(losses).sum()
    total.backward()
    return total.detach(), leaf.grad


# ---------------------------------------------------------------- exactness of accumulation


@pytest.mark.parametrize("case", CASES, ids=_case_id)
@pytest.mark.parametrize("groups_per_micro", [2, 1])
@pytest.mark.parametrize("trim", [False, True], ids=["full-width", "re-padded"])
def test_micro_batch_losses_sum_to_the_full_batch_loss_and_gradient(
    case: tuple[str, dict[str, Any]], groups_per_micro: int, trim: bool
) -> None:
    name, hp = case
    obj = objectives.get(name, **hp)
    assert obj.required_signals() <= PROVIDED, f"{name} needs a signal this test does not build"
    batch = random_batch()
    loss, grad, metrics = full_loss_and_grad(obj, batch)
    # the test must exercise the hard parts: clipping acts, the gradient is not trivially zero
    assert metrics.get("clip_frac", 1.0) > 0, f"{name}: no token was clipped; the batch is too on-policy"
    assert grad.abs().sum() > 0
    acc_loss, acc_grad = accumulated_loss_and_grad(obj, batch, groups_per_micro, trim=trim)
    torch.testing.assert_close(acc_loss, loss, atol=ATOL, rtol=0)
    torch.testing.assert_close(acc_grad, grad, atol=ATOL, rtol=0)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_micro_batches_without_full_counts_do_not_sum_to_the_full_loss(case: tuple[str, dict[str, Any]]) -> None:
    """Sanity of the test itself: without the full counts each micro-batch normalises by
    its own size, and the sum is (about) n_micro times the full loss, not the full loss."""
    name, hp = case
    obj = objectives.get(name, **hp)
    batch = random_batch()
    loss, _, _ = full_loss_and_grad(obj, batch)
    micro = [micro_batch(batch, batch.logprobs.detach(), slice(s, s + 2 * G), trim=False, full_counts=False) for s in (0, 2 * G)]
    naive = sum(obj.loss(m)[0].detach() for m in micro)
    assert not torch.allclose(naive, loss, atol=1e-4, rtol=0)


# ---------------------------------------------------------------- None keeps the old behaviour


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_counts_left_at_none_equal_the_batch_own_counts(case: tuple[str, dict[str, Any]]) -> None:
    name, hp = case
    obj = objectives.get(name, **hp)
    batch = random_batch(seed=1)
    loss, grad, _ = full_loss_and_grad(obj, batch)
    own = batch.replace(num_sequences=batch.logprobs.shape[0], num_tokens=float(batch.mask.sum()))
    own_loss, own_grad, _ = full_loss_and_grad(obj, own)
    torch.testing.assert_close(own_loss, loss, atol=ATOL, rtol=0)
    torch.testing.assert_close(own_grad, grad, atol=ATOL, rtol=0)


def test_aggregators_without_counts_are_bit_for_bit_the_old_formulas() -> None:
    """``None`` takes exactly the pre-accumulation code path (adapter parity depends on it)."""
    batch = random_batch(seed=2)
    x, m = batch.logprobs.detach() * batch.old_logprobs, batch.mask
    old_seq = ((x * m).sum(-1) / m.sum(-1).clamp(min=1)).mean()
    old_tok = (x * m).sum() / m.sum().clamp(min=1)
    old_const = (x * m).sum() / (x.shape[0] * MAX_NEW)
    num = (x * m).sum(-1).view(-1, G).sum(1)
    old_group = (num / m.sum(-1).view(-1, G).sum(1).clamp(min=1)).mean()
    assert torch.equal(parts.seq_mean_token_mean(x, m), old_seq)
    assert torch.equal(parts.token_mean(x, m), old_tok)
    assert torch.equal(parts.constant_normaliser(x, m, MAX_NEW), old_const)
    assert torch.equal(parts.group_token_normaliser(x, m, G), old_group)


def test_aggregators_with_full_counts_divide_by_them() -> None:
    x, m = torch.ones(2, 3), torch.tensor([[1.0, 1, 0], [1, 0, 0]])
    assert parts.seq_mean_token_mean(x, m, num_sequences=4) == 2 / 4
    assert parts.token_mean(x, m, num_tokens=6.0) == 3 / 6
    assert parts.token_mean(x, torch.zeros(2, 3), num_tokens=0.0) == 0  # an empty minibatch stays finite
    assert parts.constant_normaliser(x, m, 5, num_sequences=4) == 3 / (4 * 5)
    assert parts.group_token_normaliser(x, m, 2, num_sequences=6) == 1 / 3  # one group of the 3: 3/3 / 3


# ---------------------------------------------------------------- validation


def test_rollout_batch_rejects_impossible_full_counts() -> None:
    batch = random_batch()
    B = batch.logprobs.shape[0]
    for bad in (B - G, B + 1, 0, -G, 2.5, True):
        with pytest.raises(ValueError, match="num_sequences"):
            batch.replace(num_sequences=bad)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="num_tokens"):
            batch.replace(num_tokens=bad)
    ok = batch.replace(num_sequences=float(2 * B), num_tokens=torch.tensor(100.0))
    assert ok.num_sequences == 2 * B and isinstance(ok.num_sequences, int) and ok.num_tokens == 100.0


def test_group_normaliser_rejects_a_count_that_is_not_whole_groups() -> None:
    with pytest.raises(ValueError, match="multiple of group_size"):
        parts.group_token_normaliser(torch.ones(4, 2), torch.ones(4, 2), 4, num_sequences=6)
    with pytest.raises(ValueError, match="positive integer"):
        parts.seq_mean_token_mean(torch.ones(4, 2), torch.ones(4, 2), num_sequences=0)


def test_dr_grpo_micro_batch_needs_the_generation_cap() -> None:
    """Dr.GRPO's fallback L_max is the padded width, a per-micro-batch quantity."""
    batch = random_batch()
    extras = {k: v for k, v in batch.extras.items() if k != "max_new_tokens"}
    obj = objectives.get("dr_grpo")
    obj.loss(batch.replace(extras=extras))  # a whole batch may still fall back to its width
    with pytest.raises(ValueError, match="max_new_tokens"):
        obj.loss(batch.replace(extras=extras, num_sequences=2 * batch.logprobs.shape[0]))
