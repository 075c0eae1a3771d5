"""Metrics over k sampled answers per problem: avg@k and maj@k (pass@k lives in definitions).

The papers' benchmarks report sampled metrics, not greedy accuracy:

- avg@k (a.k.a. "pass@1 estimated from k samples", DeepSeek-R1 arXiv 2501.12948 §3.1;
  DAPO arXiv 2503.14476 "avg@32"): the mean verifier score over k draws per problem,
  averaged over problems.
- maj@k (self-consistency, Wang et al. 2022, arXiv 2203.11171; "cons@64" in DeepSeek-R1):
  the k draws vote with their extracted answers; the problem counts as solved when the
  winning answer is correct.
- pass@k: the unbiased estimator of Chen et al. 2021 (arXiv 2107.03374, eq. 1):
  pass@k = 1 - C(n-c, k) / C(n, k) for n draws of which c are correct, computed as the
  product 1 - prod_{i=n-c+1}^{n} (1 - k/i) so that n in the thousands neither overflows
  nor loses precision. Defined once, in ``harness.metrics.definitions.pass_at_k`` /
  ``mean_pass_at_k`` (the leaderboard's metrics module), and re-exported here so a caller
  finds all three in one place; ``pass_at_k_of_scores`` applies it to a score matrix.

Draw order matters for avg@k and maj@k when more than k draws exist: the first k draws
(in generation order) are used, so the numbers do not depend on a later draw.
Pure functions: arrays in, numbers out; nothing reads files.
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from harness.metrics.definitions import mean_pass_at_k, pass_at_k

__all__ = ["SAMPLED_METRICS", "avg_at_k", "maj_at_k", "majority_vote_score", "mean_pass_at_k", "pass_at_k",
           "pass_at_k_of_scores", "per_problem_scores"]

#: The metric names a benchmark spec or a claim may give (``greedy`` = one greedy draw).
SAMPLED_METRICS = ("avg@k", "pass@k", "maj@k", "greedy")


def _check_k(k: int, n: int, what: str) -> None:
    if k < 1:
        raise ValueError(f"{what}@k needs k >= 1; got k={k}")
    if n < k:
        raise ValueError(f"{what}@{k} needs at least k={k} samples per problem; got {n}: "
                         f"sample more draws or lower k")


def avg_at_k(scores: Sequence[Sequence[float]] | np.ndarray, k: int) -> float:
    """Mean score of the first k draws of each problem, averaged over problems.

    scores: [P, n] verifier scores (n >= k draws per problem, in generation order).
    """
    arr = np.asarray(scores, dtype=float)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"avg@k needs scores shaped [problems, samples]; got shape {arr.shape}")
    _check_k(k, arr.shape[1], "avg")
    return float(arr[:, :k].mean())


def majority_vote_score(answers: Sequence[Hashable | None], scores: Sequence[float]) -> float:
    """Score of the majority answer of one problem's draws.

    answers: [k] canonical answer keys (None = no answer extracted; it never wins a vote).
    scores: [k] each draw's verifier score. The most frequent key wins; a tie goes to the
    key drawn first (deterministic, and what a sequential vote would keep). The winner's
    score is the score of its first draw (equal keys are the same answer). No answer at
    all scores 0.
    """
    if len(answers) != len(scores):
        raise ValueError(f"maj@k: {len(answers)} answers for {len(scores)} scores")
    counts: dict[Hashable, int] = {}
    first: dict[Hashable, int] = {}
    for i, key in enumerate(answers):
        if key is None:
            continue
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, i)
    if not counts:
        return 0.0
    winner = max(counts, key=lambda key: (counts[key], -first[key]))
    return float(scores[first[winner]])


def maj_at_k(answers: Sequence[Sequence[Hashable | None]], scores: Sequence[Sequence[float]], k: int) -> float:
    """maj@k over problems: the first k draws of each problem vote (`majority_vote_score`).

    answers, scores: [P, n] with n >= k, paired by position.
    """
    if len(answers) != len(scores) or not answers:
        raise ValueError(f"maj@k needs answers and scores for the same, non-empty set of problems; "
                         f"got {len(answers)} and {len(scores)}")
    values = []
    for p, (a, s) in enumerate(zip(answers, scores)):
        if len(a) != len(s):
            raise ValueError(f"maj@k: problem {p} has {len(a)} answers but {len(s)} scores")
        _check_k(k, len(a), "maj")
        values.append(majority_vote_score(list(a)[:k], list(s)[:k]))
    return float(np.mean(values))


def pass_at_k_of_scores(scores: Sequence[Sequence[float]] | np.ndarray, k: int) -> float:
    """Unbiased pass@k over problems from a score matrix (`pass_at_k` per problem, then the mean).

    scores: [P, n] verifier scores, n >= k draws per problem; a draw counts as correct when
    its score is 1.0 (the verifiers give no partial credit). Unlike avg@k and maj@k every
    draw is used: the estimator averages over all k-subsets of the n draws.
    """
    arr = np.asarray(scores, dtype=float)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"pass@k needs scores shaped [problems, samples]; got shape {arr.shape}")
    _check_k(k, arr.shape[1], "pass")
    return mean_pass_at_k((arr >= 1.0).sum(axis=1).tolist(), n=arr.shape[1], k=k)


def per_problem_scores(metric: str, scores: Sequence[Sequence[float]] | np.ndarray, k: int,
                       answers: Sequence[Sequence[Hashable | None]] | None = None) -> list[float]:
    """Each problem's own value of ``metric``, so that their mean over problems is the metric.

    metric: one of SAMPLED_METRICS with k the number of draws it uses ("greedy": k = 1).
    scores: [P, n] (n >= k); answers: [P, n] vote keys, needed for maj@k only.
    Returns [P] values in [0, 1]: avg@k -> mean of the first k draws; pass@k -> the unbiased
    estimate from all n draws; maj@k -> the majority answer's score; greedy -> the one score.
    Per-problem values are what a paired comparison (bootstrap or t-interval over items)
    resamples, so the k draws' own noise is inside every item's value.
    """
    arr = np.asarray(scores, dtype=float)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{metric} needs scores shaped [problems, samples]; got shape {arr.shape}")
    if metric == "greedy":
        if k != 1:
            raise ValueError(f"greedy scoring uses one draw; got k={k}")
        return [float(v) for v in arr[:, 0]]
    if metric == "avg@k":
        _check_k(k, arr.shape[1], "avg")
        return [float(v) for v in arr[:, :k].mean(axis=1)]
    if metric == "pass@k":
        _check_k(k, arr.shape[1], "pass")
        return [pass_at_k(arr.shape[1], int(c), k) for c in (arr >= 1.0).sum(axis=1)]
    if metric == "maj@k":
        if answers is None or len(answers) != arr.shape[0]:
            raise ValueError(f"maj@k needs one list of answers per problem; got "
                             f"{None if answers is None else len(answers)} for {arr.shape[0]} problems")
        _check_k(k, arr.shape[1], "maj")
        return [majority_vote_score(list(a)[:k], list(s)[:k]) for a, s in zip(answers, arr.tolist())]
    raise ValueError(f"unknown sampled metric {metric!r}; use one of {SAMPLED_METRICS}")
