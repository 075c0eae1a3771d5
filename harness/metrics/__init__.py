"""Metrics of the arena, defined once: accuracy, pass@k, lengths, compression,
convergence, speedup, and their across-seed 95% bootstrap CIs.

Reads no files and never imports harness.train or harness.rollout: the report loads
result files and passes arrays here.
"""
from harness.metrics.aggregate import (
    BASE_OBJECTIVE,
    BenchmarkAggregate,
    RunEval,
    convergence_cost,
    convergence_speedup,
    curve_band,
    paired_seeds,
    seed_mean,
)
from harness.metrics.bootstrap import (
    CONFIDENCE_LEVEL,
    DEFAULT_RESAMPLES,
    Estimate,
    SeedItemBootstrap,
    percentile_interval,
    seed_bootstrap_interval,
)
from harness.metrics.definitions import (
    CONVERGENCE_UNITS,
    Convergence,
    accuracy,
    accuracy_change,
    compression,
    convergence,
    convergence_threshold,
    final_val_accuracy,
    mean_length,
    mean_length_correct,
    mean_pass_at_k,
    pass_at_k,
    speedup,
    validation_curve,
)

__all__ = [
    "BASE_OBJECTIVE", "BenchmarkAggregate", "RunEval", "convergence_cost", "convergence_speedup",
    "curve_band", "paired_seeds", "seed_mean", "CONFIDENCE_LEVEL", "DEFAULT_RESAMPLES",
    "Estimate", "SeedItemBootstrap", "percentile_interval", "seed_bootstrap_interval",
    "CONVERGENCE_UNITS", "Convergence", "accuracy", "accuracy_change", "compression",
    "convergence", "convergence_threshold", "final_val_accuracy", "mean_length",
    "mean_length_correct", "mean_pass_at_k", "pass_at_k", "speedup", "validation_curve",
]
