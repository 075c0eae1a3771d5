"""The claims audit: each paper's headline claim against our paired, seeded results.

Protocol (DESIGN.md, "Claims audit protocol"). For each claim the paired (by seed)
effect of the objective vs its comparator is measured with a 95% bootstrap CI, then:
- supported: the CI lies on the claimed side of "no effect" and does not exclude the
  claimed magnitude (for a range: overlaps it; for "up to b": reaches below b);
- refuted: the CI excludes the claimed magnitude on the unfavourable side, or shows
  no effect or the opposite effect;
- inconclusive: anything else, with the number of seeds that would likely settle it
  (the CI half-width scaled by 1/sqrt(seeds) until it clears the nearer decisive
  boundary; a rough guide: evaluation-set noise does not shrink with more seeds).
  A CI entirely beyond the claimed magnitude on the favourable side (a larger effect
  than claimed) is also inconclusive under this protocol; the row says so.
"Without accuracy loss" is its own check: the accuracy-change CI lower bound must be
above -1 point (supported), its upper bound at or below -1 point refutes it.
Censored convergence (a run that never reached the threshold) makes a speedup only an
upper or a lower bound; a bound can support or refute only in the direction it is safe.
Every row names its scale; a refutation on a model below ``toy_scale_below_params``
reads "not reproduced at this scale", never "false".
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from harness.metrics import Estimate

if TYPE_CHECKING:  # only for type hints; build imports this module
    from harness.report.build import Comparison

METRICS: dict[str, float] = {  # metric -> its "no effect" value
    "convergence_speedup": 1.0,
    "sample_efficiency": 1.0,
    "compression": 0.0,
    "accuracy_change": 0.0,
}
CONVERGENCE_METRICS = {"convergence_speedup": "steps", "sample_efficiency": "rollout_tokens"}
NO_ACCURACY_LOSS_MARGIN = -0.01  # "without accuracy loss": CI lower bound above -1 point
MAX_SEEDS_ESTIMATE = 100  # beyond this, "more seeds" is not a practical answer
VERDICTS = ("supported", "refuted", "inconclusive", "not measured")
REQUIRED_FIELDS = ("id", "source", "objective", "comparator", "metric", "claimed", "direction")


class ClaimsError(ValueError):
    """claims.yaml cannot be used; the message names the file, the claim and the key."""


@dataclass(frozen=True)
class Claim:
    id: str
    source: dict[str, str]
    statement: str
    objective: str
    comparator: str
    metric: str
    claimed_min: float | None
    claimed_max: float | None
    claimed_text: str
    direction: str = "increase"
    unit: str | None = None
    without_accuracy_loss: bool = False
    benchmarks: tuple[str, ...] | None = None
    paper_scale: str | None = None

    @property
    def null(self) -> float:
        return METRICS[self.metric]


@dataclass(frozen=True)
class ClaimsFile:
    claims: list[Claim]
    toy_scale_below_params: float = 1e9
    path: Path | None = None


def load_claims(path: str | Path) -> ClaimsFile:
    """Read and check config/claims.yaml."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise ClaimsError(f"{path}: claims file not found; set `claims:` in the config") from None
    except yaml.YAMLError as err:
        raise ClaimsError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, Mapping) or not isinstance(raw.get("claims"), list):
        raise ClaimsError(f"{path}: expected a mapping with a `claims:` list")
    claims: list[Claim] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw["claims"]):
        where = f"{path}: claims[{i}]" + (f" ({entry.get('id')})" if isinstance(entry, Mapping) else "")
        if not isinstance(entry, Mapping):
            raise ClaimsError(f"{where}: each claim must be a mapping")
        for key in REQUIRED_FIELDS:
            if key not in entry:
                raise ClaimsError(f"{where}: key '{key}' is missing (required: {list(REQUIRED_FIELDS)})")
        if entry["id"] in seen:
            raise ClaimsError(f"{where}: id '{entry['id']}' is used twice")
        seen.add(entry["id"])
        metric = entry["metric"]
        if metric not in METRICS:
            raise ClaimsError(f"{where}: metric '{metric}' is unknown; use one of {sorted(METRICS)}")
        direction = entry["direction"]
        if direction not in ("increase", "decrease"):
            raise ClaimsError(f"{where}: direction '{direction}' must be 'increase' or 'decrease'")
        claimed = entry["claimed"] or {}
        if not isinstance(claimed, Mapping) or set(claimed) - {"value", "min", "max"}:
            raise ClaimsError(f"{where}: key 'claimed' must be {{value: v}}, {{min: a, max: b}}, "
                              f"{{min: a}}, {{max: b}} or {{}}; got {claimed!r}")
        if "value" in claimed and ("min" in claimed or "max" in claimed):
            raise ClaimsError(f"{where}: key 'claimed' has both 'value' and 'min'/'max'")
        lo = claimed.get("value", claimed.get("min"))
        hi = claimed.get("value", claimed.get("max"))
        for name, v in (("min", lo), ("max", hi)):
            if v is not None and not isinstance(v, (int, float)):
                raise ClaimsError(f"{where}: claimed {name} must be a number; got {v!r}")
        if lo is not None and hi is not None and lo > hi:
            raise ClaimsError(f"{where}: claimed min {lo} exceeds max {hi}")
        unit = entry.get("unit", CONVERGENCE_METRICS.get(metric))
        if metric in CONVERGENCE_METRICS and unit not in ("steps", "rollout_tokens", "wall_s"):
            raise ClaimsError(f"{where}: unit '{unit}' must be steps, rollout_tokens or wall_s")
        source = entry["source"]
        if not isinstance(source, Mapping) or "arxiv" not in source:
            raise ClaimsError(f"{where}: key 'source' must give at least `arxiv:`")
        benchmarks = entry.get("benchmarks")
        claims.append(Claim(
            id=str(entry["id"]), source={k: str(v) for k, v in source.items()},
            statement=str(entry.get("statement", "")), objective=str(entry["objective"]),
            comparator=str(entry["comparator"]), metric=metric,
            claimed_min=None if lo is None else float(lo), claimed_max=None if hi is None else float(hi),
            claimed_text=str(entry.get("claimed_text", "")), direction=direction, unit=unit,
            without_accuracy_loss=bool(entry.get("without_accuracy_loss", False)),
            benchmarks=tuple(benchmarks) if benchmarks else None,
            paper_scale=entry.get("paper_scale"),
        ))
    toy = raw.get("toy_scale_below_params", 1e9)
    return ClaimsFile(claims=claims, toy_scale_below_params=float(toy), path=path)


# -- verdict logic (pure; unit-tested on synthetic estimates) ------------------------


@dataclass(frozen=True)
class Decision:
    verdict: str
    reason: str
    seeds_needed: int | None = None


def _oriented(estimate: Estimate, null: float, claimed_min: float | None, claimed_max: float | None,
              direction: str) -> tuple[float, float | None, float | None, float, float, float, str | None]:
    """Flip a "decrease" claim so that larger is always the claimed direction."""
    if direction == "increase":
        v, lo, hi, n0 = estimate.value, estimate.low, estimate.high, null
        a = claimed_min if claimed_min is not None else null
        b = claimed_max if claimed_max is not None else math.inf
        bound = estimate.bound
    else:
        v = -estimate.value  # type: ignore[operator]
        lo = -estimate.high if estimate.high is not None else None
        hi = -estimate.low if estimate.low is not None else None
        n0 = -null
        a = -claimed_max if claimed_max is not None else -null
        b = -claimed_min if claimed_min is not None else math.inf
        bound = {"upper": "lower", "lower": "upper"}.get(estimate.bound or "", None)
    return v, lo, hi, n0, a, b, bound  # type: ignore[return-value]


def decide(
    estimate: Estimate,
    *,
    null: float,
    claimed_min: float | None = None,
    claimed_max: float | None = None,
    direction: str = "increase",
) -> Decision:
    """Verdict for one measured effect against one claim (see the module docstring).

    The claimed region is [claimed_min, claimed_max] in the metric's units; a missing
    end is open ("up to b" starts at no effect, "at least a" has no upper end).
    """
    if estimate.value is None:
        return Decision("inconclusive", estimate.note or "the effect could not be measured")
    if not estimate.has_ci:
        why = estimate.note or "no confidence interval"
        return Decision("inconclusive", f"{why}; run at least 2 seeds per objective", None)
    v, lo, hi, n0, a, b, bound = _oriented(estimate, null, claimed_min, claimed_max, direction)
    assert lo is not None and hi is not None
    refutes = hi < a or hi <= n0
    exceeds = lo > b
    if bound == "upper":  # true effect <= measured: only a refutation is safe
        if refutes:
            return Decision("refuted", "even the upper bound's CI excludes the claim (censored runs)")
        return Decision("inconclusive", "censored runs make the estimate only an upper bound")
    if bound == "lower":  # true effect >= measured: only support of an open-ended claim is safe
        if exceeds:
            return Decision("inconclusive", "the lower bound already exceeds the claimed magnitude")
        if lo > n0 and math.isinf(b):
            return Decision("supported", "even the lower bound's CI is on the claimed side (censored runs)")
        return Decision("inconclusive", "censored runs make the estimate only a lower bound")
    if lo > n0 and hi >= a and lo <= b:
        return Decision("supported", "CI on the claimed side of no effect and consistent with the claimed magnitude")
    if refutes:
        if hi <= n0:
            return Decision("refuted", "CI shows no effect or the opposite effect")
        return Decision("refuted", "CI excludes the claimed magnitude on the unfavourable side")
    if exceeds:
        return Decision("inconclusive", "CI lies entirely beyond the claimed magnitude: a larger "
                        "effect than claimed (more seeds would not settle it)")
    return Decision("inconclusive", "CI includes both the claim and its refutation",
                    seeds_to_settle(v, lo, hi, n0, a, b, estimate.n_seeds))


def seeds_to_settle(v: float, lo: float, hi: float, n0: float, a: float, b: float,
                    n_seeds: int) -> int | None:
    """Seeds at which the CI, narrowing as 1/sqrt(seeds) around v, would likely clear the
    decisive boundary: no effect (towards support) or the claimed magnitude (towards
    refutation). None when v sits on the boundary or beyond the claimed region."""
    if n_seeds < 1:
        return None
    if n0 < v and a <= v <= b:
        distance, half_width = v - n0, v - lo
    elif v < a or v <= n0:
        distance, half_width = max(a, n0) - v, hi - v
    else:
        return None
    if distance <= 0 or half_width <= 0:
        return None
    return max(n_seeds + 1, math.ceil(n_seeds * (half_width / distance) ** 2))


# -- running the audit on a comparison -----------------------------------------------


@dataclass
class AuditRow:
    claim: Claim
    check: str  # "claim" or "without_accuracy_loss"
    benchmark: str
    measured: Estimate | None
    decision: Decision
    scale: dict[str, Any] = field(default_factory=dict)
    toy_scale: bool = False

    @property
    def verdict_text(self) -> str:
        verdict = self.decision.verdict
        if verdict == "refuted":
            return "refuted: not reproduced at this scale" if self.toy_scale else "refuted at this scale"
        if verdict == "supported":
            return "supported at this scale"
        needed = self.decision.seeds_needed
        if verdict == "inconclusive" and needed:
            if needed > MAX_SEEDS_ESTIMATE:
                return (f"inconclusive: more than {MAX_SEEDS_ESTIMATE} seeds needed "
                        "(the effect sits close to the decisive boundary)")
            return f"inconclusive: ~{needed} seeds would likely settle it"
        return verdict

    def to_dict(self) -> dict[str, Any]:
        c = self.claim
        is_claim = self.check == "claim"
        return {
            "claim_id": c.id,
            "check": self.check,
            "source": c.source,
            "statement": c.statement if is_claim else f"{c.statement} (without accuracy loss)",
            "objective": c.objective,
            "comparator": c.comparator,
            "metric": c.metric if is_claim else "accuracy_change",
            "unit": c.unit if is_claim else None,
            "claimed": {
                "min": c.claimed_min if is_claim else NO_ACCURACY_LOSS_MARGIN,
                "max": c.claimed_max if is_claim else None,
                "text": c.claimed_text if is_claim else "no accuracy loss: CI lower bound > -1 point",
                "direction": c.direction if is_claim else "increase",
                "no_effect": c.null if is_claim else NO_ACCURACY_LOSS_MARGIN,
            },
            "benchmark": self.benchmark,
            "measured": self.measured.to_dict() if self.measured else None,
            "verdict": self.decision.verdict,
            "verdict_text": self.verdict_text,
            "reason": self.decision.reason,
            "seeds_needed": self.decision.seeds_needed,
            "scale": self.scale,
            "paper_scale": c.paper_scale,
        }


def _toy(scale: Mapping[str, Any], threshold: float) -> bool:
    params = scale.get("params")
    return isinstance(params, (int, float)) and params < threshold


def audit_claims(claims: ClaimsFile, comparison: "Comparison") -> list[AuditRow]:
    """One row per claim (per benchmark for evaluation metrics), plus one per
    "without accuracy loss" check. A claim whose objectives were not run gets a
    "not measured" row naming what is missing."""
    rows: list[AuditRow] = []
    for claim in claims.claims:
        if claim.metric in CONVERGENCE_METRICS:
            benchmarks: Sequence[str] = ["validation"]
        else:
            benchmarks = list(claim.benchmarks) if claim.benchmarks else list(
                comparison.settings.audit_benchmarks or comparison.settings.benchmarks)
        for benchmark in benchmarks:
            checks = ["claim"] + (["without_accuracy_loss"] if claim.without_accuracy_loss else [])
            for check in checks:
                rows.append(_audit_one(claim, check, benchmark, comparison, claims.toy_scale_below_params))
    return rows


def _audit_one(claim: Claim, check: str, benchmark: str, comparison: "Comparison",
               toy_threshold: float) -> AuditRow:
    absent = comparison.absent_reason(claim.objective, claim.comparator, benchmark)
    if absent:
        return AuditRow(claim, check, benchmark, None, Decision("not measured", absent))
    if check == "without_accuracy_loss":
        est, scale = comparison.effect("accuracy_change", claim.objective, claim.comparator, benchmark)
        decision = decide(est, null=NO_ACCURACY_LOSS_MARGIN, claimed_min=NO_ACCURACY_LOSS_MARGIN)
    else:
        est, scale = comparison.effect(claim.metric, claim.objective, claim.comparator, benchmark,
                                       unit=claim.unit)
        decision = decide(est, null=claim.null, claimed_min=claim.claimed_min,
                          claimed_max=claim.claimed_max, direction=claim.direction)
    return AuditRow(claim, check, benchmark, est, decision, scale, _toy(scale, toy_threshold))
