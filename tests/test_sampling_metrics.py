"""avg@k, maj@k (harness/metrics/sampling.py) and pass@k (harness/metrics/definitions.py)
against hand-computed values, including the unbiased estimator's edge cases."""
from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest

from harness.metrics import definitions, sampling
from harness.metrics.sampling import (
    avg_at_k,
    maj_at_k,
    majority_vote_score,
    mean_pass_at_k,
    pass_at_k,
    pass_at_k_of_scores,
    per_problem_scores,
)


def test_pass_at_k_is_the_one_definition_not_a_copy() -> None:
    assert sampling.pass_at_k is definitions.pass_at_k
    assert sampling.mean_pass_at_k is definitions.mean_pass_at_k


def test_pass_at_k_matches_hand_computed_values() -> None:
    # n=5, c=2, k=2: 1 - C(3,2)/C(5,2) = 1 - 3/10
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)
    # k=1 is the fraction correct
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    # n=4, c=1, k=3: 1 - C(3,3)/C(4,3) = 1 - 1/4
    assert pass_at_k(4, 1, 3) == pytest.approx(0.75)
    assert pass_at_k(200, 13, 10) == pytest.approx(1 - math.comb(187, 10) / math.comb(200, 10))
    # problems with 1 and 3 of 4 right, k=2: (1 - 3/6 + 1 - 0) / 2
    assert mean_pass_at_k([1, 3], n=4, k=2) == pytest.approx(0.75)


def test_pass_at_k_edge_cases_none_right_all_right_and_too_few_samples() -> None:
    assert pass_at_k(8, 0, 4) == 0.0           # c = 0
    assert pass_at_k(8, 8, 4) == 1.0           # c = n
    assert pass_at_k(8, 5, 4) == 1.0           # n - c < k: every k-subset holds a right one
    assert pass_at_k(4, 0, 4) == 0.0 and pass_at_k(4, 4, 4) == 1.0   # k = n
    with pytest.raises(ValueError, match="at least k samples"):
        pass_at_k(3, 1, 4)                     # n < k rejected
    with pytest.raises(ValueError, match="0 <= c <= n"):
        pass_at_k(3, 4, 1)


def test_avg_at_k_is_the_mean_over_problems_of_the_first_k_draws() -> None:
    scores = [[1, 0, 1, 1], [0, 0, 1, 0], [1, 1, 1, 1]]
    # k=4: (3/4 + 1/4 + 1) / 3 = 2/3
    assert avg_at_k(scores, 4) == pytest.approx(2 / 3)
    # k=2 uses draws 0-1 only: (1/2 + 0 + 1) / 3 = 1/2
    assert avg_at_k(scores, 2) == pytest.approx(0.5)
    # avg@k equals the unbiased pass@1 averaged over problems when k = n
    assert avg_at_k(scores, 4) == pytest.approx(mean_pass_at_k([3, 1, 4], n=4, k=1))


def test_avg_at_k_rejects_too_few_draws_and_bad_shapes() -> None:
    with pytest.raises(ValueError, match="at least k=5 samples"):
        avg_at_k([[1, 0, 1, 1]], 5)
    with pytest.raises(ValueError, match=r"\[problems, samples\]"):
        avg_at_k([1, 0, 1], 1)
    with pytest.raises(ValueError, match="k >= 1"):
        avg_at_k([[1]], 0)


def test_majority_vote_takes_the_most_frequent_answer_and_its_score() -> None:
    # "12" three times (right), "13" twice (wrong): the majority is right
    assert majority_vote_score(["12", "13", "12", "13", "12"], [1, 0, 1, 0, 1]) == 1.0
    # the majority is wrong even though one draw is right
    assert majority_vote_score(["7", "8", "8"], [1, 0, 0]) == 0.0
    # a tie goes to the answer drawn first
    assert majority_vote_score(["8", "7", "7", "8"], [0, 1, 1, 0]) == 0.0
    assert majority_vote_score(["7", "8", "7", "8"], [1, 0, 1, 0]) == 1.0
    # draws without an extracted answer do not vote; none at all scores 0
    assert majority_vote_score([None, None, "5"], [0, 0, 1]) == 1.0
    assert majority_vote_score([None, None], [0, 0]) == 0.0


def test_maj_at_k_over_problems_uses_the_first_k_draws() -> None:
    answers = [["1", "2", "2", "1", "1"], ["a", "b", "b", "b", "a"]]
    scores = [[1, 0, 0, 1, 1], [0, 1, 1, 1, 0]]
    # k=5: problem 0 majority "1" (right), problem 1 majority "b" (right)
    assert maj_at_k(answers, scores, 5) == 1.0
    # k=3: problem 0 majority "2" (wrong), problem 1 "b" (right)
    assert maj_at_k(answers, scores, 3) == pytest.approx(0.5)
    # k=1: the first draw alone: right, wrong
    assert maj_at_k(answers, scores, 1) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="at least k=6 samples"):
        maj_at_k(answers, scores, 6)
    with pytest.raises(ValueError, match="problem 0 has 2 answers but 1 scores"):
        maj_at_k([["1", "2"]], [[1]], 1)


def _pass_at_k_by_enumeration(n: int, c: int, k: int) -> float:
    """pass@k by its definition: the share of the C(n, k) subsets of k draws that hold a right one."""
    draws = [1] * c + [0] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(draws[i] for i in subset) for subset in subsets) / len(subsets)


@pytest.mark.parametrize("n,c,k", [(n, c, k) for n in range(1, 9) for c in range(0, n + 1) for k in range(1, n + 1)]
                         + [(12, 3, 5), (12, 1, 11), (10, 9, 1)])
def test_unbiased_pass_at_k_equals_the_share_of_k_subsets_with_a_right_draw(n: int, c: int, k: int) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(_pass_at_k_by_enumeration(n, c, k), abs=1e-12)


def test_pass_at_k_is_stable_where_the_binomials_overflow_a_float() -> None:
    # C(2000, 1000) ~ 2e600: the ratio must come from the product, not the two binomials
    exact = 1 - Fraction(math.comb(2000 - 7, 1000), math.comb(2000, 1000))
    assert pass_at_k(2000, 7, 1000) == pytest.approx(float(exact), rel=1e-12)
    # n=1000, c=1, k=500: exactly half of the subsets hold the one right draw
    assert pass_at_k(1000, 1, 500) == pytest.approx(0.5, abs=1e-12)


def test_pass_at_k_with_too_few_draws_names_n_and_k() -> None:
    with pytest.raises(ValueError) as error:
        pass_at_k(3, 1, 4)
    assert "n=3" in str(error.value) and "k=4" in str(error.value)
    with pytest.raises(ValueError, match=r"pass@3 needs at least k=3 samples per problem; got 2"):
        pass_at_k_of_scores([[1, 0]], 3)


def test_pass_at_k_of_scores_averages_the_per_problem_estimates() -> None:
    scores = [[1, 0, 0, 1], [0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 0]]
    # c = 2, 0, 4, 1 of n = 4, k = 2: 1 - C(2,2)/C(4,2) = 5/6; 0; 1; 1 - C(3,2)/C(4,2) = 1/2
    assert pass_at_k_of_scores(scores, 2) == pytest.approx((5 / 6 + 0 + 1 + 1 / 2) / 4)
    # k = 1 is avg@n
    assert pass_at_k_of_scores(scores, 1) == pytest.approx(avg_at_k(scores, 4))


def test_per_problem_scores_average_to_each_metric() -> None:
    scores = [[1, 0, 1, 1], [0, 0, 1, 0]]
    answers = [["3", "4", "3", "3"], ["7", "7", "5", "8"]]
    assert per_problem_scores("avg@k", scores, 2) == [0.5, 0.0]
    assert per_problem_scores("pass@k", scores, 2) == pytest.approx([1.0, 0.5])  # 1 - C(1,2)/C(4,2)=1; 1 - 3/6
    assert per_problem_scores("maj@k", scores, 4, answers) == [1.0, 0.0]           # "3" wins; "7" wins (wrong)
    assert per_problem_scores("greedy", [[1], [0]], 1) == [1.0, 0.0]
    assert sum(per_problem_scores("avg@k", scores, 4)) / 2 == pytest.approx(avg_at_k(scores, 4))
    with pytest.raises(ValueError, match="unknown sampled metric 'best@k'"):
        per_problem_scores("best@k", scores, 2)
    with pytest.raises(ValueError, match="maj@k needs one list of answers per problem"):
        per_problem_scores("maj@k", scores, 2)
