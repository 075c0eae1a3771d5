"""Metrics of the arena, defined once: accuracy, pass@k, lengths, compression,
convergence, speedup, and their across-seed 95% t-intervals (harness.metrics.intervals).

Reads no files and never imports harness.train or harness.rollout: the report loads
result files and passes arrays here.
"""
from harness.metrics.aggregate import (
    BASE_OBJECTIVE,
    BenchmarkAggregate,
    RunEval,
    convergence_cost,
    convergence_speedup,
    paired_seeds,
    seed_mean,
)
from harness.metrics.definitions import (
    CONVERGENCE_UNITS,
    THRESHOLD_MIN_SE,
    Convergence,
    ConvergenceThreshold,
    accuracy,
    accuracy_change,
    compression,
    compression_over_seeds,
    convergence,
    convergence_threshold,
    final_val_accuracy,
    late_validation_slope,
    late_validation_trend,
    mean_length,
    mean_length_correct,
    mean_pass_at_k,
    pass_at_k,
    speedup,
    smoothed_validation_curve,
    speedup_over_seeds,
    start_val_accuracy,
    validation_curve,
    validation_se,
)
from harness.metrics.intervals import (
    ALPHA,
    CONFIDENCE_LEVEL,
    POWER,
    Estimate,
    TStat,
    crossed_components,
    crossed_t,
    curve_band,
    holm_adjust,
    item_t,
    seed_t,
    seeds_to_detect,
)
from harness.metrics.sampling import avg_at_k, maj_at_k, majority_vote_score

__all__ = [
    "BASE_OBJECTIVE", "BenchmarkAggregate", "RunEval", "convergence_cost", "convergence_speedup",
    "paired_seeds", "seed_mean", "CONVERGENCE_UNITS", "THRESHOLD_MIN_SE", "Convergence",
    "ConvergenceThreshold", "accuracy", "accuracy_change", "compression", "compression_over_seeds",
    "convergence", "convergence_threshold", "final_val_accuracy", "late_validation_slope", "late_validation_trend", "mean_length",
    "mean_length_correct", "mean_pass_at_k", "pass_at_k", "smoothed_validation_curve", "speedup", "speedup_over_seeds",
    "start_val_accuracy", "validation_curve", "validation_se", "ALPHA", "CONFIDENCE_LEVEL", "POWER",
    "Estimate", "TStat", "crossed_components", "crossed_t", "curve_band", "holm_adjust", "item_t",
    "seed_t", "seeds_to_detect", "avg_at_k", "maj_at_k", "majority_vote_score",
]
