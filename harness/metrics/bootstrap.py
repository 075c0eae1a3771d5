"""95% bootstrap confidence intervals across seeds (and test items), fixed seed.

Two resampling schemes, chosen by what noise a statistic carries:

1. Training-curve statistics (convergence steps, speedups, validation curves) have one
   number per seed: ``seed_bootstrap_interval`` calls ``scipy.stats.bootstrap``
   (percentile method; ``paired=True`` when two objectives are compared, so seed s of X
   is always drawn together with seed s of the comparator). These CIs carry seed noise
   only: metrics.jsonl has no per-item validation scores.

2. Evaluation statistics (accuracy, lengths, compression, accuracy change) have a score
   and a length per (seed, test item). Every seed is evaluated on the *same* items, so
   seeds and items are crossed, not nested: an item that is hard for one seed is hard
   for all, and that shared evaluation-set noise does not average out over seeds.
   scipy.stats.bootstrap has no multi-level resampling, so ``SeedItemBootstrap`` does
   it: each of the R replicates draws the seeds with replacement (the same seed indices
   for X and its comparator: paired by seed) and draws the test items with replacement
   once (the same item indices for every seed and every objective: paired by item id),
   then recomputes the statistic. The CI thus reflects both seed and evaluation-set noise.
   We resample items once per replicate rather than once per drawn seed because a
   nested scheme divides the shared item variance by the number of seeds. On synthetic
   crossed data (logit-normal item difficulty sd 1.5, seed sd 0.15, 0/1 scores) the
   95% CI of the mean accuracy covered the truth in 97-99% of 300 trials with this
   scheme, 84-91% with a nested one and 63-70% resampling seeds alone (3-10 seeds,
   100-200 items). Crossed resampling counts the seed x item interaction twice, which
   errs on the wide (conservative) side; tests/test_metrics_bootstrap.py checks it.

Both use the percentile interval, R = 10,000 resamples by default, and a generator
seeded from (bootstrap_seed, a stable key naming the statistic), so a figure does not
change when another objective is added to the comparison.

Caveat printed in reports: with 3 seeds a seed-level bootstrap has only 10 distinct
resamples and understates seed-to-seed variance (the (S-1)/S factor and the missing
t-quantile); treat 3-seed intervals as provisional.
"""
from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.stats

CONFIDENCE_LEVEL = 0.95
DEFAULT_RESAMPLES = 10_000


def rng_for(seed: int, key: str) -> np.random.Generator:
    """A generator that depends only on the bootstrap seed and the statistic's name."""
    return np.random.default_rng([int(seed), zlib.crc32(key.encode("utf-8"))])


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% CI across seeds (None where undefined).

    bound: "lower" or "upper" when censored runs make the value (and CI) only a bound
    on the true quantity; note says why something is undefined or bounded.
    """

    value: float | None
    low: float | None = None
    high: float | None = None
    n_seeds: int = 0
    bound: str | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def has_ci(self) -> bool:
        return self.low is not None and self.high is not None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "value": _finite_or_none(self.value), "ci_low": _finite_or_none(self.low),
            "ci_high": _finite_or_none(self.high),
            "n_seeds": self.n_seeds, "bound": self.bound, "note": self.note,
        }
        out.update(self.extra)
        return out


def _finite_or_none(x: float | np.floating | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


def percentile_interval(boot: np.ndarray, level: float = CONFIDENCE_LEVEL) -> tuple[float, float] | None:
    """(low, high) percentile interval of bootstrap replicates; None if any replicate is NaN.

    A NaN replicate means the statistic is undefined on some resample (e.g. no correct
    answer to average a length over); we report no interval rather than drop replicates.
    """
    boot = np.asarray(boot, dtype=float)
    if boot.size == 0 or not np.all(np.isfinite(boot)):
        return None
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(boot, [alpha, 1.0 - alpha])
    return float(low), float(high)


def seed_bootstrap_interval(
    samples: Sequence[np.ndarray],
    statistic: Callable[..., np.ndarray],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    key: str,
    paired: bool = True,
    level: float = CONFIDENCE_LEVEL,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Percentile CI of a seed-level statistic with scipy.stats.bootstrap.

    samples: one array per objective, [S] or [S, T] (seeds on axis 0, e.g. T steps);
    with paired=True all have the same S and seed s is drawn together across samples.
    statistic(*samples, axis=...) -> value(s); must be vectorised over ``axis``.
    Returns (low, high) arrays shaped like the statistic, or None with fewer than 2 seeds.
    """
    arrays = [np.asarray(s, dtype=float) for s in samples]
    if any(a.shape[0] < 2 for a in arrays):
        return None
    # Bound the memory of one vectorised call to ~4M values (curves of many steps).
    batch = max(1, int(4_000_000 // max(1, sum(a.size for a in arrays))))
    result = scipy.stats.bootstrap(
        tuple(arrays),
        statistic,
        n_resamples=n_resamples,
        confidence_level=level,
        method="percentile",
        paired=paired,
        vectorized=True,
        axis=0,
        random_state=rng_for(seed, key),
        batch=min(batch, n_resamples),
    )
    return np.asarray(result.confidence_interval.low), np.asarray(result.confidence_interval.high)


def item_resampled_means(
    values: np.ndarray, n_resamples: int, rng: np.random.Generator, chunk: int = 1000
) -> np.ndarray:
    """Means of every column over items drawn with replacement, the same draw for all columns.

    values: [N, C] (N items, C columns such as objective x seed x quantity).
    Returns [R, C]. Computed as counts @ values / N in chunks (a draw of N indices is a
    multinomial count vector), so memory stays at chunk x N.
    """
    values = np.asarray(values, dtype=float)
    n_items = values.shape[0]
    out = np.empty((n_resamples, values.shape[1]))
    for start in range(0, n_resamples, chunk):
        rows = min(chunk, n_resamples - start)
        idx = rng.integers(0, n_items, size=(rows, n_items))
        flat = (idx + (np.arange(rows) * n_items)[:, None]).ravel()
        counts = np.bincount(flat, minlength=rows * n_items).reshape(rows, n_items)
        out[start:start + rows] = counts @ values / n_items
    return out


class SeedItemBootstrap:
    """Crossed seed x item bootstrap over one benchmark's per-item evaluation results.

    columns: name -> [N] per-item values on the benchmark's common item order (e.g.
    "grpo/seed0/score", "grpo/seed0/length"). The item draw of replicate r is shared by
    all columns (paired by item); ``per_seed`` applies replicate r's seed draw, which is
    the same for any two lists of equal length (paired by seed).
    """

    def __init__(
        self,
        columns: Mapping[str, np.ndarray],
        *,
        n_resamples: int = DEFAULT_RESAMPLES,
        seed: int = 0,
        key: str,
    ) -> None:
        if not columns:
            raise ValueError("SeedItemBootstrap needs at least one column")
        self.names = list(columns)
        self.index = {name: i for i, name in enumerate(self.names)}
        matrix = np.stack([np.asarray(columns[n], dtype=float) for n in self.names], axis=1)
        self.n_items = matrix.shape[0]
        self.n_resamples = int(n_resamples)
        self.seed = int(seed)
        self.key = key
        self.point = matrix.mean(axis=0)  # [C]
        self.boot = item_resampled_means(matrix, self.n_resamples, rng_for(seed, f"{key}/items"))

    def seed_draw(self, n_seeds: int) -> np.ndarray:
        """[R, S] seed indices drawn with replacement; fixed for a given S."""
        return rng_for(self.seed, f"{self.key}/seeds/{n_seeds}").integers(
            0, n_seeds, size=(self.n_resamples, n_seeds)
        )

    def per_seed(self, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per-seed means of the columns ``names`` (one per seed, in paired order).

        Returns (point [S], boot [R, S]): boot[r] holds replicate r's drawn seeds, each
        averaged over replicate r's drawn items.
        """
        cols = [self.index[n] for n in names]
        point = self.point[cols]
        boot = np.take_along_axis(self.boot[:, cols], self.seed_draw(len(cols)), axis=1)
        return point, boot


def estimate_from_replicates(
    value: float | None, boot: np.ndarray | None, n_seeds: int, note: str = "", **extra: Any
) -> Estimate:
    """Wrap a point value and its bootstrap replicates as an Estimate (percentile CI)."""
    value = _finite_or_none(value)
    interval = percentile_interval(boot) if (boot is not None and value is not None) else None
    if value is not None and interval is None and not note:
        note = "CI undefined on some resamples"
    return Estimate(
        value=value,
        low=interval[0] if interval else None,
        high=interval[1] if interval else None,
        n_seeds=n_seeds,
        note=note,
        extra=dict(extra),
    )
