"""What the report reads from a comparison config, with defaults and actionable errors.

A tolerant accessor over the config dict (the YAML as loaded): only the keys the report
needs, so the report works whether or not the full config schema has validated it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_REPORT = {
    "reference_objective": "grpo",
    "baseline_objectives": ["grpo", "dapo"],
    "convergence_threshold_frac": 0.95,
    "convergence_threshold": None,  # an absolute val accuracy overrides the fraction
    "bootstrap_resamples": 10_000,
    "bootstrap_seed": 0,
}
DEFAULT_CLAIMS = "config/claims.yaml"


def _suite_of(benchmark: str) -> str:
    """The suite a benchmark draws its items from (harness.tasks.registry.BENCHMARKS)."""
    from harness.tasks.registry import BENCHMARKS

    return BENCHMARKS.get(benchmark, (benchmark, "test"))[0]


class ConfigError(ValueError):
    """A config value the report cannot use; the message names file, key and fix."""


@dataclass(frozen=True)
class ReportSettings:
    comparison: str
    objectives: dict[str, dict[str, Any]]
    seeds: list[int]
    benchmarks: list[str]
    reference_objective: str = "grpo"
    baseline_objectives: list[str] = field(default_factory=lambda: ["grpo", "dapo"])
    convergence_threshold_frac: float = 0.95
    convergence_threshold: float | None = None
    bootstrap_resamples: int = 10_000
    bootstrap_seed: int = 0
    claims_path: Path | None = None
    config_path: Path | None = None
    warnings: list[str] = field(default_factory=list)
    #: where a claim without its own `benchmarks` is audited: the benchmarks of the RL task
    #: (train.suite), since the papers' claims are about the task trained on; all if none is
    audit_benchmarks: list[str] = field(default_factory=list)
    #: how tables name the base model: a warm start unless `warmstart.steps` is 0 (a
    #: pretrained checkpoint taken as it is)
    base_label: str = "base (warm start)"

    @classmethod
    def from_file(cls, path: str | Path) -> "ReportSettings":
        path = Path(path)
        try:
            with open(path, encoding="utf-8") as f:
                cfg = yaml.safe_load(f) or {}
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from None
        return cls.from_config(cfg, config_path=path)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], config_path: str | Path | None = None) -> "ReportSettings":
        where = str(config_path) if config_path else "config"

        def fail(key: str, problem: str, fix: str) -> ConfigError:
            return ConfigError(f"{where}: key '{key}' {problem}; {fix}")

        if not isinstance(cfg, Mapping):
            raise ConfigError(f"{where}: the config must be a mapping, got {type(cfg).__name__}")
        comparison = cfg.get("comparison", "default")
        if not isinstance(comparison, str) or not comparison:
            raise fail("comparison", f"is {comparison!r}", "give the comparison a non-empty name")

        objectives_raw = cfg.get("objectives")
        if isinstance(objectives_raw, list):  # tolerate a plain list of names
            objectives_raw = {name: {} for name in objectives_raw}
        if not isinstance(objectives_raw, Mapping) or not objectives_raw:
            raise fail("objectives", f"is {objectives_raw!r}",
                       "map each objective name to its hyperparameters, e.g. `grpo: {}`")
        objectives = {str(k): dict(v or {}) for k, v in objectives_raw.items()}

        seeds = cfg.get("seeds")
        if (not isinstance(seeds, list) or not seeds
                or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
            raise fail("seeds", f"is {seeds!r}", "list the integer seeds, e.g. `seeds: [0, 1, 2]`")

        benchmarks_raw = cfg.get("benchmarks")
        if isinstance(benchmarks_raw, Mapping):
            benchmarks_raw = list(benchmarks_raw)
        if not isinstance(benchmarks_raw, list) or not benchmarks_raw:
            raise fail("benchmarks", f"is {benchmarks_raw!r}", "list the benchmark names, e.g. `[math]`")
        benchmarks = [b["name"] if isinstance(b, Mapping) else str(b) for b in benchmarks_raw]

        report_raw = cfg.get("report") or {}
        if not isinstance(report_raw, Mapping):
            raise fail("report", f"is {report_raw!r}", "make it a mapping of report settings")
        # Unknown keys warn rather than fail: the config schema (workflow/schemas) owns
        # strict validation, and may know report keys this module does not use.
        warnings = [
            f"{where}: key 'report.{key}' is not used by the report (known: {sorted(DEFAULT_REPORT)})"
            for key in sorted(set(report_raw) - set(DEFAULT_REPORT))
        ]
        report = {**DEFAULT_REPORT, **report_raw}

        reference = report["reference_objective"]
        if not isinstance(reference, str):
            raise fail("report.reference_objective", f"is {reference!r}", "name one objective")
        baselines = report["baseline_objectives"]
        if isinstance(baselines, str):
            baselines = [baselines]
        if not isinstance(baselines, list) or not all(isinstance(b, str) for b in baselines):
            raise fail("report.baseline_objectives", f"is {baselines!r}", "list objective names")
        frac = report["convergence_threshold_frac"]
        if not isinstance(frac, (int, float)) or not 0 < frac <= 1:
            raise fail("report.convergence_threshold_frac", f"is {frac!r}", "use a number in (0, 1]")
        absolute = report["convergence_threshold"]
        if absolute is not None and (not isinstance(absolute, (int, float)) or not 0 <= absolute <= 1):
            raise fail("report.convergence_threshold", f"is {absolute!r}",
                       "use a validation accuracy in [0, 1] or leave it out")
        resamples = report["bootstrap_resamples"]
        if not isinstance(resamples, int) or resamples < 100:
            raise fail("report.bootstrap_resamples", f"is {resamples!r}", "use an integer >= 100 (default 10000)")
        bseed = report["bootstrap_seed"]
        if not isinstance(bseed, int):
            raise fail("report.bootstrap_seed", f"is {bseed!r}", "use an integer")

        claims = cfg.get("claims", DEFAULT_CLAIMS)
        claims_path = resolve_path(claims, config_path) if claims else None

        train_suite = str((cfg.get("train") or {}).get("suite", "math"))
        audit_benchmarks = [b for b in benchmarks if _suite_of(b) == train_suite] or list(benchmarks)
        warmstart = cfg.get("warmstart") if isinstance(cfg.get("warmstart"), Mapping) else {}
        base_label = "base (pretrained, no warm start)" if warmstart.get("steps") == 0 else "base (warm start)"
        return cls(
            audit_benchmarks=audit_benchmarks, base_label=base_label,
            comparison=comparison, objectives=objectives, seeds=list(seeds), benchmarks=benchmarks,
            reference_objective=reference, baseline_objectives=list(baselines),
            convergence_threshold_frac=float(frac),
            convergence_threshold=None if absolute is None else float(absolute),
            bootstrap_resamples=resamples, bootstrap_seed=bseed,
            claims_path=claims_path, config_path=Path(config_path) if config_path else None,
            warnings=warnings,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "comparison": self.comparison,
            "objectives": list(self.objectives),
            "seeds": self.seeds,
            "benchmarks": self.benchmarks,
            "reference_objective": self.reference_objective,
            "baseline_objectives": self.baseline_objectives,
            "convergence_threshold_frac": self.convergence_threshold_frac,
            "convergence_threshold": self.convergence_threshold,
            "bootstrap_resamples": self.bootstrap_resamples,
            "bootstrap_seed": self.bootstrap_seed,
            "claims": str(self.claims_path) if self.claims_path else None,
        }


def resolve_path(value: str | Path, config_path: str | Path | None) -> Path:
    """A path from the config: as given if it exists (relative to the working directory,
    where Snakemake runs), else relative to the config file's project root."""
    path = Path(value)
    if path.is_absolute() or path.exists() or config_path is None:
        return path
    config_dir = Path(config_path).resolve().parent
    for root in (config_dir.parent, config_dir):
        if (root / path).exists():
            return root / path
    return path
