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
    # threshold = start + frac x (reference final - start), at least 3 validation SEs above start;
    # README "Convergence" says why 0.5 (at 0.95 a seed-to-seed spread of plateaus like the
    # default world's censors nearly every simulated comparison)
    "convergence_threshold_frac": 0.5,
    "convergence_threshold": None,  # an absolute val accuracy overrides the fraction
    # crossings and finals read the validation curve smoothed over this many validations (odd)
    "convergence_smooth": 3,
}
#: Report keys of earlier versions, accepted with a warning: intervals are no longer
#: bootstrapped (harness/metrics/intervals.py says why).
RETIRED_REPORT = {
    "bootstrap_resamples": "intervals are Student-t over seeds now (no resampling); remove the key",
    "bootstrap_seed": "intervals are Student-t over seeds now (no resampling); remove the key",
}
CALIBRATION_KEYS = ("null_control", "positive_control")
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
    convergence_threshold_frac: float = 0.5
    convergence_threshold: float | None = None
    #: validations in the centred moving mean that crossings and finals are read from
    convergence_smooth: int = 3
    #: the run's own controls ({"null_control": name, "positive_control": name}), entries of
    #: ``objectives``; None: calibration was not configured (the report says so)
    calibration: dict[str, str] | None = None
    #: validation items per check (train.val_prompts): the binomial SE of the threshold margin
    val_items: int | None = None
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
            f"{where}: key 'report.{key}' is no longer used: {RETIRED_REPORT[key]}" if key in RETIRED_REPORT
            else f"{where}: key 'report.{key}' is not used by the report (known: {sorted(DEFAULT_REPORT)})"
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
        smooth = report["convergence_smooth"]
        if not isinstance(smooth, int) or isinstance(smooth, bool) or smooth < 1 or smooth % 2 == 0:
            raise fail("report.convergence_smooth", f"is {smooth!r}",
                       "use an odd number of validations >= 1 (1 = every reading as measured)")
        calibration = _calibration(cfg.get("calibration"), objectives, reference, fail)
        val_items = (cfg.get("train") or {}).get("val_prompts") if isinstance(cfg.get("train"), Mapping) else None
        if val_items is not None and (not isinstance(val_items, int) or isinstance(val_items, bool) or val_items < 1):
            raise fail("train.val_prompts", f"is {val_items!r}", "use a positive integer")

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
            convergence_smooth=smooth, calibration=calibration, val_items=val_items,
            claims_path=claims_path, config_path=Path(config_path) if config_path else None,
            warnings=warnings,
        )

    @property
    def controls(self) -> list[str]:
        """The calibration controls' entry names (trained and loaded, never ranked or audited)."""
        return [name for name in (self.calibration or {}).values()]

    @property
    def ranked_objectives(self) -> list[str]:
        """The objectives of the leaderboard rows and the audit: every entry but the controls."""
        return [o for o in self.objectives if o not in self.controls]

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
            "convergence_smooth": self.convergence_smooth,
            "calibration": dict(self.calibration) if self.calibration else None,
            "val_items": self.val_items,
            "claims": str(self.claims_path) if self.claims_path else None,
        }


def _calibration(raw: Any, objectives: Mapping[str, Any], reference: str, fail: Any) -> dict[str, str] | None:
    """The `calibration:` block: {null_control, positive_control}, each an `objectives:` entry."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or set(raw) - set(CALIBRATION_KEYS):
        raise fail("calibration", f"is {raw!r}",
                   "give `calibration: {null_control: <entry>, positive_control: <entry>}`")
    out = {}
    for key in CALIBRATION_KEYS:
        name = raw.get(key)
        if name is None:
            continue
        if not isinstance(name, str) or name not in objectives:
            raise fail(f"calibration.{key}", f"is {name!r}, not an entry of objectives {sorted(objectives)}",
                       "name the entry that trains the control")
        if name == reference:
            raise fail(f"calibration.{key}", f"is the reference objective '{reference}'",
                       "train the control as its own entry (the A/A control: the reference again "
                       "with another seed_stream)")
        out[key] = name
    if len(set(out.values())) < len(out):
        raise fail("calibration", f"names one entry twice ({out})", "use two different entries")
    return out or None


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
