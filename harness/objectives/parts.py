"""Pure tensor parts that objectives are composed of.

Shapes: B = prompts x G (groups contiguous), T = completion length (padded),
``mask`` is 1.0 on completion tokens. Every function is pure: tensors in, tensors out.
"""
from __future__ import annotations

import torch

# ---------------------------------------------------------------- advantages


def group_view(x: torch.Tensor, group_size: int) -> torch.Tensor:
    """[B] -> [B/G, G]."""
    return x.view(-1, group_size)


def group_normalised_advantage(
    rewards: torch.Tensor, group_size: int, *, scale_by_std: bool = True, eps: float = 1e-4
) -> torch.Tensor:
    """GRPO's outcome advantage (arXiv 2402.03300 eq. in sec. 4.1.2).

    rewards: [B]; returns [B]: (r - mean_group) / (std_group + eps), or r - mean_group
    when ``scale_by_std`` is False (Dr.GRPO). std is the unbiased sample std (as TRL).
    """
    r = group_view(rewards.float(), group_size)
    centred = r - r.mean(dim=1, keepdim=True)
    if scale_by_std:
        std = r.std(dim=1, keepdim=True) if group_size > 1 else torch.zeros_like(r)
        centred = centred / (std + eps)
    return centred.reshape(-1)


# ---------------------------------------------------------------- ratios & surrogates


def token_log_ratio(logprobs: torch.Tensor, old_logprobs: torch.Tensor) -> torch.Tensor:
    """[B, T] log r_t = log pi_theta - log pi_old."""
    return logprobs - old_logprobs


def clipped_surrogate(
    ratio: torch.Tensor, advantage: torch.Tensor, eps_low: float, eps_high: float
) -> torch.Tensor:
    """PPO's pessimistic clipped objective, negated into a per-token loss.

    ratio: [B, T] (or [B, 1] for sequence ratios); advantage broadcastable to it.
    returns [B, T]: -min(r A, clip(r, 1-eps_low, 1+eps_high) A).
    """
    unclipped = ratio * advantage
    clipped = torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high) * advantage
    return -torch.minimum(unclipped, clipped)


def clip_fraction(
    ratio: torch.Tensor, advantage: torch.Tensor, mask: torch.Tensor, eps_low: float, eps_high: float
) -> float:
    """Share of completion tokens whose gradient the clip removed."""
    hit = ((ratio < 1 - eps_low) & (advantage < 0)) | ((ratio > 1 + eps_high) & (advantage > 0))
    return float((hit.float() * mask).sum() / mask.sum().clamp(min=1))


def sequence_log_ratio(
    logprobs: torch.Tensor, old_logprobs: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """GSPO's length-normalised sequence log-ratio (arXiv 2507.18071 eq. 7).

    returns [B, 1]: (1/|o_i|) sum_t (log pi_theta - log pi_old).
    """
    lens = mask.sum(-1, keepdim=True).clamp(min=1)
    return ((logprobs - old_logprobs) * mask).sum(-1, keepdim=True) / lens


# ---------------------------------------------------------------- KL


def k3_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """[B, T] the k3 estimator of KL(pi_theta || pi_ref): exp(d) - d - 1, d = ref - theta."""
    d = ref_logprobs - logprobs
    return torch.exp(d) - d - 1.0


# ---------------------------------------------------------------- aggregation
#
# Gradient accumulation: a trainer may split a minibatch of whole groups into
# micro-batches, call ``Objective.loss`` on each and backward the SUM of the losses.
# That sum equals the full-minibatch loss only if every micro-batch is normalised by the
# full minibatch's count, so each aggregator takes that count as an optional argument
# (``RolloutBatch.num_sequences`` / ``num_tokens``). ``None`` means "this batch is the
# whole minibatch": the batch's own count, computed exactly as before.


def seq_mean_token_mean(
    per_token: torch.Tensor, mask: torch.Tensor, num_sequences: int | None = None
) -> torch.Tensor:
    """GRPO: mean over sequences of each sequence's token mean (1/G sum_i 1/|o_i| sum_t).

    per_token, mask: [B, T]; returns a scalar. ``num_sequences``: the full minibatch's
    sequence count N (>= B) when this batch is one micro-batch of it; the result is then
    sum_i (1/|o_i| sum_t) / N, so the micro-batch results sum to the full-batch mean.
    ``None``: N = B (the plain mean).
    """
    per_seq = (per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1)
    if num_sequences is None:
        return per_seq.mean()
    return per_seq.sum() / _positive_count(num_sequences, "num_sequences")


def token_mean(per_token: torch.Tensor, mask: torch.Tensor, num_tokens: float | None = None) -> torch.Tensor:
    """DAPO: mean over all completion tokens of the batch (1/sum|o_i| sum_i sum_t).

    per_token, mask: [B, T]; returns a scalar. ``num_tokens``: the full minibatch's
    completion-token count (its mask sum) when this batch is one micro-batch of it; the
    result is sum_i sum_t / max(num_tokens, 1). ``None``: this batch's own mask sum.
    """
    total = (per_token * mask).sum()
    if num_tokens is None:
        return total / mask.sum().clamp(min=1)
    return total / max(float(num_tokens), 1.0)


def constant_normaliser(
    per_token: torch.Tensor, mask: torch.Tensor, max_tokens: int, num_sequences: int | None = None
) -> torch.Tensor:
    """Dr.GRPO: sum over tokens divided by a constant (N x max_tokens), no length bias.

    per_token, mask: [B, T]; returns a scalar. N is ``num_sequences`` (the full
    minibatch's sequence count when this batch is one micro-batch of it), or B if ``None``.
    """
    n = per_token.shape[0] if num_sequences is None else _positive_count(num_sequences, "num_sequences")
    return (per_token * mask).sum() / (n * max_tokens)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> float:
    """Scalar mean of x over mask (for metrics)."""
    return float((x * mask).sum() / mask.sum().clamp(min=1))


# ---------------------------------------------------------------- rewards & groups


def correct_mask(rewards: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """[B] bool: the verifier called the rollout right (scores are 1.0 right, 0.0 wrong)."""
    return rewards > threshold


def groups_with_reward_spread(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """[B/G] bool: groups whose rewards are not all equal (DAPO dynamic sampling, eq. 11).

    A group that is all right or all wrong has zero advantage everywhere and only
    dilutes the batch, so DAPO drops it (and samples more prompts).
    """
    r = group_view(rewards.float(), group_size)
    return (r.max(dim=1).values - r.min(dim=1).values) > 0


def soft_overlong_penalty(
    lengths: torch.Tensor, max_len: int, buffer: int, penalty: float = 1.0
) -> torch.Tensor:
    """DAPO's soft overlong punishment (arXiv 2503.14476 eq. 13), [B] values in [-penalty, 0].

    0 if L <= max_len - buffer; (max_len - buffer - L) / buffer * penalty inside the
    buffer; -penalty past max_len. ``buffer`` = 0 turns the punishment off.
    """
    lengths = lengths.float()
    if buffer <= 0:
        return torch.zeros_like(lengths)
    start = max_len - buffer
    inside = (start - lengths) / buffer * penalty
    out = torch.where(lengths <= start, torch.zeros_like(lengths), inside)
    return torch.where(lengths > max_len, torch.full_like(lengths, -penalty), out)


def group_median_correct_length(
    lengths: torch.Tensor, correct: torch.Tensor, group_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """HMPO's budget B_g: median length of the group's correct rollouts.

    lengths, correct: [B]. Returns (budget [B], has_correct [B] bool), broadcast back to
    rollouts. The median of an even count is the mean of the two middle lengths (the
    usual statistical median). Groups without a correct rollout get budget 0 and
    has_correct False (their rewards are 0 anyway: R = c * f(L)).
    """
    L = group_view(lengths.float(), group_size)
    c = group_view(correct, group_size)
    n = c.sum(dim=1)
    # wrong rollouts sort to the end: only the first n entries of each row are correct lengths
    sorted_l = torch.where(c, L, torch.full_like(L, float("inf"))).sort(dim=1).values
    lo = ((n - 1).clamp(min=0) // 2).unsqueeze(1)
    hi = (n // 2).clamp(max=group_size - 1).unsqueeze(1)
    median = 0.5 * (sorted_l.gather(1, lo) + sorted_l.gather(1, hi)).squeeze(1)
    median = torch.where(n > 0, median, torch.zeros_like(median))
    return median.repeat_interleave(group_size), (n > 0).repeat_interleave(group_size)


def cosine_length_factor(lengths: torch.Tensor, budget: torch.Tensor, max_len: int) -> torch.Tensor:
    """HMPO's f(L) (arXiv 2606.01934): 1 if L <= B, else (1 + cos(pi * min(1, (L-B)/(Lmax-B)))) / 2.

    lengths, budget: [B]. When the budget reaches L_max nothing exceeds it, so f = 1.
    """
    L = lengths.float()
    span = (max_len - budget).clamp(min=1e-6)
    progress = ((L - budget) / span).clamp(min=0.0, max=1.0)
    f = 0.5 * (1.0 + torch.cos(torch.pi * progress))
    return torch.where(L <= budget, torch.ones_like(f), f)


# ---------------------------------------------------------------- token weights


def entropy_credit_weights(
    entropy: torch.Tensor, mask: torch.Tensor, alpha: float, phi: float
) -> torch.Tensor:
    """EAPO token weights, [B, T]: w_t = (1 - alpha) + alpha * |o| * H_t^phi / sum_t H_t^phi.

    ``entropy`` is detached here (a weight, not a regulariser). The weights are positive
    and average to exactly 1 over each sequence's tokens, so A * w keeps the sign of A and
    the sequence's total credit; a sequence with zero entropy everywhere gets w = 1.
    """
    h = entropy.detach().float().clamp(min=0.0).pow(phi) * mask
    total = h.sum(-1, keepdim=True)
    lens = mask.sum(-1, keepdim=True)
    # a total below 1e-12 (e.g. entropies ~1e-8 with phi 2) would be clamped and lose the mean-1
    # property: such a sequence is treated as zero-entropy (w = 1)
    share = torch.where(total > 1e-12, lens * h / total.clamp(min=1e-12), torch.ones_like(h))
    return ((1.0 - alpha) + alpha * share) * mask


def centred_unit_norm(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Per sequence over its completion tokens: (x - mean) / ||x - mean||_2, [B, T], 0 on padding.

    This is z-normalisation followed by division by the L2 norm; the std cancels in the
    second step, so centring then unit norm is the same operator.
    """
    x = x.detach().float()
    lens = mask.sum(-1, keepdim=True).clamp(min=1)
    centred = (x - (x * mask).sum(-1, keepdim=True) / lens) * mask
    return centred / (centred.norm(dim=-1, keepdim=True) + eps)


def information_gain(answer_entropy: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B, T] g_t = H(Y | o_<t) - H(Y | o_<=t): how much token t lowered the answer entropy.

    answer_entropy[:, t] is the early-exit answer entropy after prefix o_<=t. The first
    token has no prompt-only entropy to compare with, so g_0 = 0.
    """
    a = answer_entropy.detach().float()
    gain = torch.zeros_like(a)
    gain[:, 1:] = a[:, :-1] - a[:, 1:]
    return gain * mask


def shared_prefix_mask(completion_ids: torch.Tensor, mask: torch.Tensor, group_size: int) -> torch.Tensor:
    """[B, T] 1.0 where every sequence of the group has the same tokens o_<=t (a shared prefix).

    At such positions all G sequences condition on the same context and emit the same
    token, so their d log pi / d theta are identical and their coefficients should cancel.
    """
    ids = completion_ids.view(-1, group_size, completion_ids.shape[-1])
    m = mask.view(-1, group_size, mask.shape[-1]) > 0
    same = (ids == ids[:, :1]).all(dim=1) & m.all(dim=1)  # [B/G, T]
    prefix = same.long().cumprod(dim=-1).bool()
    return prefix.repeat_interleave(group_size, dim=0).float()


# ---------------------------------------------------------------- sequence ratio (token form)


def sequence_ratio_token_grad(
    logprobs: torch.Tensor, old_logprobs: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """GSPO-token's s_i,t = sg[s_i] * pi_theta(o_t) / sg[pi_theta(o_t)] (arXiv 2507.18071 eq. 14), [B, T].

    Its value is the sequence ratio s_i = exp(mean_t log r_t) at every token; its gradient
    is s_i * grad log pi_theta(o_t), so each token carries its own advantage while the
    clip acts on the whole sequence.
    """
    s = sequence_log_ratio(logprobs, old_logprobs, mask).detach()
    return torch.exp(s + logprobs - logprobs.detach())


def group_token_normaliser(
    per_token: torch.Tensor, mask: torch.Tensor, group_size: int, num_sequences: int | None = None
) -> torch.Tensor:
    """TGC aggregation: mean over groups of (sum of the group's token terms / the group's token count).

    per_token, mask: [B, T] with B a multiple of ``group_size``; returns a scalar.
    One normaliser shared by all G sequences of a group (instead of GRPO's 1/|o_i|), so
    a token's coefficient is A_i / N_g and sums to zero over the group when sum_i A_i = 0.
    ``num_sequences``: the full minibatch's sequence count N (a multiple of G) when this
    batch is one micro-batch of whole groups; the group terms are then summed and divided
    by the full group count N / G. ``None``: the mean over this batch's B / G groups.
    """
    per_seq = (per_token * mask).sum(-1)
    num = group_view(per_seq, group_size).sum(dim=1)
    den = group_view(mask.sum(-1), group_size).sum(dim=1).clamp(min=1)
    if num_sequences is None:
        return (num / den).mean()
    n = _positive_count(num_sequences, "num_sequences")
    if n % group_size:
        raise ValueError(f"num_sequences={n} is not a multiple of group_size={group_size}")
    return (num / den).sum() / (n // group_size)


def _positive_count(n: int, name: str) -> int:
    """``n`` as a positive int, or a ValueError naming ``name``."""
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"{name} must be a positive integer (the full minibatch's count), got {n!r}")
    return int(n)
