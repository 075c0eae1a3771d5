"""The claims audit: each paper's headline claim against our paired, seeded results.

Protocol (DESIGN.md, "Claims audit protocol"). For each claim the paired (by seed) effect
of the objective vs its comparator is measured with a 95% t-interval over seeds
(harness/metrics/intervals.py), and compared with the claimed range R:
- supported: the CI lies inside R (a direction-only claim: R is everything on the claimed
  side of "no effect"; "up to b": (no effect, b]; a point value v: v +- tolerance);
- refuted: the CI lies entirely outside R on the unfavourable side;
- inconclusive: anything else (a CI that straddles an end of R, or lies beyond R on the
  favourable side: a larger effect than claimed), with the minimum detectable effect and
  roughly how many seeds would settle it.
One verdict per claim: "X% compression without accuracy loss" is supported only when the
compression is and the accuracy change CI lies above -1 point; refuted when either part
is refuted. Multiplicity: each claim's verdict is a test (p < 0.05 is exactly "the 95% CI
decides"), and Holm's step-down correction across the measured claims of one audit keeps
the chance of any wrong verdict at 5%; a verdict that does not survive it reads
inconclusive. Below 5 seeds every verdict is marked provisional.
Censored convergence (a run that never stayed above the threshold) makes a speedup only
an upper or a lower bound; a bound can decide only in the direction in which it is safe.
Every row names its scale; a refutation on a model below ``toy_scale_below_params``
reads "not reproduced at this scale", never "false".
Where a claim records the paper's own result (``paper_result``: benchmark, metric, number
and the sentence it comes from), each of its rows states it beside ours:
"paper: <number> on <benchmark> (<metric>); here: <measured> on <benchmark> (<metric>)".
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from harness.metrics import ALPHA, POWER, Estimate, holm_adjust, seeds_to_detect
from harness.metrics.intervals import finite_or_none, to_analysis, to_reported

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
PROVISIONAL_BELOW_SEEDS = 5  # fewer seeds: every verdict reads "provisional"
#: A point claim {value: v} is read as v +- this fraction of its distance from no effect
#: (50% less time = a 2x speedup -> [1.75x, 2.25x]) unless the claim gives `tolerance:`.
#: A CI can never lie inside a single point, so without a width a point claim could
#: only ever be refuted.
POINT_TOLERANCE = 0.25
VERDICTS = ("supported", "refuted", "inconclusive", "not measured")
REQUIRED_FIELDS = ("id", "source", "objective", "comparator", "metric", "claimed", "direction")
#: paper_result: what the paper (as its seed article reports it) measured. quote is the
#: article's sentence, verbatim; the others say in words when the article does not give them.
PAPER_RESULT_FIELDS = ("benchmark", "metric", "number", "quote")


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
    tolerance: float | None = None  # half-width of a point claim's range, metric units
    paper_result: dict[str, str] | None = None  # PAPER_RESULT_FIELDS -> text, when recorded

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
        if not isinstance(claimed, Mapping) or set(claimed) - {"value", "min", "max", "tolerance"}:
            raise ClaimsError(f"{where}: key 'claimed' must be {{value: v}} (optionally with "
                              f"tolerance: t), {{min: a, max: b}}, {{min: a}}, {{max: b}} or {{}}; got {claimed!r}")
        tolerance = claimed.get("tolerance")
        if tolerance is not None and ("value" not in claimed or not isinstance(tolerance, (int, float))
                                      or isinstance(tolerance, bool) or tolerance < 0):
            raise ClaimsError(f"{where}: key 'claimed.tolerance' must be a number >= 0 next to `value:`; "
                              f"got {tolerance!r}")
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
        paper_result = _paper_result(entry.get("paper_result"), where)
        claims.append(Claim(
            id=str(entry["id"]), source={k: str(v) for k, v in source.items()},
            statement=str(entry.get("statement", "")), objective=str(entry["objective"]),
            comparator=str(entry["comparator"]), metric=metric,
            claimed_min=None if lo is None else float(lo), claimed_max=None if hi is None else float(hi),
            claimed_text=str(entry.get("claimed_text", "")), direction=direction, unit=unit,
            without_accuracy_loss=bool(entry.get("without_accuracy_loss", False)),
            benchmarks=tuple(benchmarks) if benchmarks else None,
            paper_scale=entry.get("paper_scale"),
            tolerance=None if tolerance is None else float(tolerance),
            paper_result=paper_result,
        ))
    toy = raw.get("toy_scale_below_params", 1e9)
    return ClaimsFile(claims=claims, toy_scale_below_params=float(toy), path=path)


def _paper_result(raw: Any, where: str) -> dict[str, str] | None:
    """A claim's optional ``paper_result``: every field of PAPER_RESULT_FIELDS, as text."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ClaimsError(f"{where}: key 'paper_result' must be a mapping with {list(PAPER_RESULT_FIELDS)}")
    unknown = sorted(set(raw) - set(PAPER_RESULT_FIELDS))
    if unknown:
        raise ClaimsError(f"{where}: unknown key(s) {unknown} under 'paper_result'; allowed: {list(PAPER_RESULT_FIELDS)}")
    for key in PAPER_RESULT_FIELDS:
        value = raw.get(key)
        if isinstance(value, bool) or not isinstance(value, (str, int, float)) or not str(value).strip():
            raise ClaimsError(f"{where}: key 'paper_result.{key}' must be given as text or a number "
                              f"(say so in words when the source gives none); got {value!r}")
    return {key: str(raw[key]).strip() for key in PAPER_RESULT_FIELDS}


def paper_vs_here(paper: Mapping[str, str], measured: str, benchmark: str, metric: str) -> str:
    """ "paper: <number> on <benchmark> (<metric>); here: <measured> on <benchmark> (<metric>)"."""
    return (f"paper: {paper['number']} on {paper['benchmark']} ({paper['metric']}); "
            f"here: {measured} on {benchmark} ({metric.replace('_', ' ')})")


# -- verdict logic (pure; unit-tested on synthetic estimates) ------------------------


@dataclass(frozen=True)
class Region:
    """The claimed range in the metric's units; an infinite end is open-ended."""

    low: float
    high: float
    low_closed: bool = True
    high_closed: bool = True

    def contains(self, x: float) -> bool:
        above_low = x >= self.low if self.low_closed else x > self.low
        below_high = x <= self.high if self.high_closed else x < self.high
        return above_low and below_high


def claimed_region(claim_min: float | None, claim_max: float | None, *, null: float,
                   direction: str = "increase", tolerance: float | None = None) -> Region:
    """The range a claim asserts: a missing end on the claimed side is open-ended, the one
    on the other side is "no effect" (open: "up to 36%" is (0, 36%]); a point gets a width."""
    if claim_min is not None and claim_max is not None and claim_min == claim_max:
        width = tolerance if tolerance is not None else POINT_TOLERANCE * abs(claim_min - null)
        return Region(claim_min - width, claim_max + width)
    if direction == "increase":
        return Region(null if claim_min is None else claim_min, math.inf if claim_max is None else claim_max,
                      low_closed=claim_min is not None, high_closed=claim_max is not None)
    return Region(-math.inf if claim_min is None else claim_min, null if claim_max is None else claim_max,
                  low_closed=claim_min is not None, high_closed=claim_max is not None)


@dataclass(frozen=True)
class PartTest:
    """One measured part of a claim (the effect itself, or "without accuracy loss").

    p_support: 2 x the one-sided p-value that the effect lies inside the region (the larger
    of the tests at its finite ends: an intersection-union test), so p_support < 0.05 is
    exactly "the 95% CI lies inside the region". p_refute: likewise for "entirely outside
    on the unfavourable side". position: where the point estimate lies: "inside", "short"
    (unfavourable side) or "beyond" (favourable side, a larger effect than claimed).
    """

    check: str
    estimate: Estimate
    region: Region
    direction: str
    p_support: float
    p_refute: float
    position: str | None


def evaluate_part(check: str, estimate: Estimate, region: Region, direction: str = "increase") -> PartTest:
    """The support and refutation p-values of one measured effect against its region."""
    stat = estimate.stat
    if estimate.value is None or stat is None:
        return PartTest(check, estimate, region, direction, 1.0, 1.0, None)

    # A censored bound may conclude only on its safe side: "upper" (truth <= measured)
    # can show the effect is small, never that it is large; "lower" the other way.
    def p_greater(x: float, inclusive: bool) -> float:
        return 1.0 if estimate.bound == "upper" else stat.p_greater(x, inclusive=inclusive)

    def p_less(x: float, inclusive: bool) -> float:
        return 1.0 if estimate.bound == "lower" else stat.p_less(x, inclusive=inclusive)

    support = max(p_greater(region.low, region.low_closed) if math.isfinite(region.low) else 0.0,
                  p_less(region.high, region.high_closed) if math.isfinite(region.high) else 0.0)
    if direction == "increase":
        refute = p_less(region.low, not region.low_closed) if math.isfinite(region.low) else 1.0
    else:
        refute = p_greater(region.high, not region.high_closed) if math.isfinite(region.high) else 1.0
    v = estimate.value
    if region.contains(v):
        position = "inside"
    elif (v < region.low or (v == region.low and not region.low_closed)) == (direction == "increase"):
        position = "short"
    else:
        position = "beyond"
    return PartTest(check, estimate, region, direction, min(1.0, 2 * support), min(1.0, 2 * refute), position)


@dataclass(frozen=True)
class Decision:
    """A claim's verdict. candidate: the verdict its own 95% CI(s) point to; p_value: that
    verdict's p (< 0.05 = the CI decides); p_adjusted: after Holm across the audit."""

    verdict: str
    reason: str
    candidate: str | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    family_size: int | None = None
    seeds_needed: int | None = None
    seeds_note: str = ""
    mde: dict[str, Any] | None = None


def combine(parts: Sequence[PartTest]) -> tuple[str, float]:
    """(candidate verdict, its p-value) of a claim made of parts.

    Supported needs every part (intersection-union: the largest p_support); refuted needs
    any one part (union: Bonferroni over the parts, k x the smallest p_refute). Under any
    truth at most one of the two can be an error, and each is a valid p-value for it."""
    p_support = max(p.p_support for p in parts)
    p_refute = min(1.0, len(parts) * min(p.p_refute for p in parts))
    return ("supported", p_support) if p_support <= p_refute else ("refuted", p_refute)


def _region_text(part: PartTest) -> str:
    return "the claimed range" if part.check == "claim" else "the no-loss range (above -1 point)"


def _why_undecided(part: PartTest) -> str:
    name = "" if part.check == "claim" else "accuracy change: "
    if part.estimate.value is None:
        return name + (part.estimate.note or "the effect could not be measured")
    if part.estimate.stat is None:
        return name + (part.estimate.note or "no confidence interval") + "; run at least 2 seeds per objective"
    if part.estimate.bound and part.p_support >= ALPHA and part.p_refute >= ALPHA:
        side = {"upper": "an upper", "lower": "a lower"}[part.estimate.bound]
        return name + f"censored runs make the estimate only {side} bound, which cannot decide this way"
    if part.position == "beyond" and part.p_support >= ALPHA:
        return name + f"CI beyond {_region_text(part)} on the favourable side: a larger effect than claimed"
    return name + f"CI overlaps an end of {_region_text(part)}"


def _mde(part: PartTest) -> dict[str, Any] | None:
    """The smallest effects, either way from "no effect", the part's test detects with 80%
    power at its seeds (metric units)."""
    stat = part.estimate.stat
    if stat is None:
        return None
    m = stat.mde()  # analysis scale, where "no effect" is 0 for every metric
    return {"up": finite_or_none(to_reported(m, stat.scale)), "down": finite_or_none(to_reported(-m, stat.scale)),
            "n_seeds": stat.n, "power": POWER, "alpha": ALPHA, "check": part.check}


def _seeds_for(part: PartTest) -> tuple[int | None, str]:
    """Seeds at which the part would likely be decided, if its true effect is the estimate."""
    stat = part.estimate.stat
    if stat is None or part.position is None:
        return None, ""
    if part.estimate.bound:
        return None, "censored runs: more seeds may not settle it"
    if part.position == "beyond":
        return None, "more seeds would not make it supported: the effect looks larger than claimed"
    ends = [e for e in (part.region.low, part.region.high) if math.isfinite(e)]
    if part.position == "inside":
        distance = min(abs(stat.loc - to_analysis(e, stat.scale)) for e in ends)
    else:  # short of the range: the decisive end is the one on the unfavourable side
        end = part.region.low if part.direction == "increase" else part.region.high
        distance = abs(to_analysis(end, stat.scale) - stat.loc)
    needed = seeds_to_detect(stat, distance, max_seeds=MAX_SEEDS_ESTIMATE)
    if needed is not None:
        return needed, ""
    if stat.mde(10 ** 6) > distance:  # what is left with unlimited seeds: the test set's noise
        return None, ("more seeds alone would not settle it: the test set's own noise is too large; "
                      "more test items would")
    return None, f"more than {MAX_SEEDS_ESTIMATE} seeds (the estimate sits close to the decisive boundary)"


def decide_parts(parts: Sequence[PartTest]) -> Decision:
    """The unadjusted verdict of a claim from its parts (Holm is applied across claims by
    ``apply_holm``)."""
    candidate, p = combine(parts)
    if p < ALPHA:
        if candidate == "supported":
            reason = " and ".join(
                ("95% CI inside the claimed range" if part.check == "claim"
                 else "accuracy change CI above -1 point") for part in parts)
        else:
            short = [part for part in parts if part.p_refute * len(parts) < ALPHA]
            reason = "; ".join(
                ("95% CI entirely outside the claimed range, on the unfavourable side" if part.check == "claim"
                 else "accuracy change CI entirely below -1 point: an accuracy loss") for part in short)
        return Decision(candidate, reason, candidate, p, mde=_mde(parts[0]))
    undecided = [part for part in parts if part.p_support >= ALPHA]
    reason = "; ".join(_why_undecided(part) for part in undecided)
    # Towards refutation if some part's estimate falls short; towards support otherwise.
    short = [part for part in undecided if part.position == "short"]
    chosen = [_seeds_for(part) for part in (short or undecided)]
    numbers = [n for n, _ in chosen if n is not None]
    if short and numbers:
        seeds = min(numbers)
    elif not short and numbers and len(numbers) == len(chosen):
        seeds = max(numbers)
    else:
        seeds = None
    note = "" if seeds is not None else next((t for _, t in chosen if t), "")
    first = undecided[0] if undecided else parts[0]
    return Decision("inconclusive", reason, candidate, p, seeds_needed=seeds, seeds_note=note, mde=_mde(first))


def decide(estimate: Estimate, *, null: float, claimed_min: float | None = None,
           claimed_max: float | None = None, direction: str = "increase",
           tolerance: float | None = None) -> Decision:
    """Unadjusted verdict for one measured effect against one claim (module docstring)."""
    region = claimed_region(claimed_min, claimed_max, null=null, direction=direction, tolerance=tolerance)
    return decide_parts([evaluate_part("claim", estimate, region, direction)])


def apply_holm(decisions: Sequence[Decision], alpha: float = ALPHA) -> list[Decision]:
    """Holm's correction across the claims of one audit: a verdict stands only if its
    adjusted p-value is below alpha; otherwise it becomes inconclusive, saying so."""
    measured = [i for i, d in enumerate(decisions) if d.p_value is not None]
    adjusted = holm_adjust([decisions[i].p_value for i in measured])  # type: ignore[misc]
    out = list(decisions)
    m = len(measured)
    for i, p_adj in zip(measured, adjusted):
        d = decisions[i]
        if d.verdict in ("supported", "refuted") and p_adj >= alpha:
            reason = (f"{d.reason}; but not after Holm's correction across {m} claims "
                      f"(p = {d.p_value:.3g}, adjusted {p_adj:.3g} >= {alpha:g})")
            out[i] = replace(d, verdict="inconclusive", reason=reason, p_adjusted=p_adj, family_size=m)
        else:
            out[i] = replace(d, p_adjusted=p_adj, family_size=m)
    return out


# -- running the audit on a comparison -----------------------------------------------


@dataclass
class AuditRow:
    claim: Claim
    benchmark: str
    parts: list[PartTest]
    decision: Decision
    scale: dict[str, Any] = field(default_factory=dict)
    toy_scale: bool = False

    @property
    def measured(self) -> Estimate | None:
        return self.parts[0].estimate if self.parts else None

    @property
    def n_seeds(self) -> int:
        return min((p.estimate.n_seeds for p in self.parts), default=0)

    @property
    def provisional(self) -> bool:
        return self.decision.verdict != "not measured" and self.n_seeds < PROVISIONAL_BELOW_SEEDS

    @property
    def verdict_text(self) -> str:
        verdict = self.decision.verdict
        if verdict == "refuted":
            text = "refuted: not reproduced at this scale" if self.toy_scale else "refuted at this scale"
        elif verdict == "supported":
            text = "supported at this scale"
        elif verdict == "inconclusive" and self.decision.seeds_needed:
            text = f"inconclusive: ~{self.decision.seeds_needed} seeds would likely settle it"
        elif verdict == "inconclusive" and self.decision.seeds_note:
            text = f"inconclusive: {self.decision.seeds_note}"
        else:
            text = verdict
        if self.provisional:
            text = (f"provisional ({self.n_seeds} seed{'s' if self.n_seeds != 1 else ''} < "
                    f"{PROVISIONAL_BELOW_SEEDS}): {text}")
        return text

    @property
    def paper_vs_here(self) -> str | None:
        """The paper's own result beside ours on this row (`paper_vs_here`); None when the
        claim records no ``paper_result``."""
        if self.claim.paper_result is None:
            return None
        if self.measured is None or self.measured.value is None:
            measured = f"not measured ({self.decision.reason})" if self.decision.verdict == "not measured" \
                else "no estimate"
        else:
            from harness.report.render import fmt_measured  # render imports this module

            measured = fmt_measured(self.claim.metric, self.measured.to_dict())
        return paper_vs_here(self.claim.paper_result, measured, self.benchmark, self.claim.metric)

    def to_dict(self) -> dict[str, Any]:
        c = self.claim
        region = claimed_region(c.claimed_min, c.claimed_max, null=c.null, direction=c.direction,
                                tolerance=c.tolerance)
        accuracy = next((p.estimate for p in self.parts if p.check == "without_accuracy_loss"), None)
        d = self.decision
        return {
            "claim_id": c.id,
            "source": c.source,
            "statement": c.statement,
            "objective": c.objective,
            "comparator": c.comparator,
            "metric": c.metric,
            "unit": c.unit,
            "claimed": {
                "min": c.claimed_min, "max": c.claimed_max, "text": c.claimed_text,
                "direction": c.direction, "no_effect": c.null,
                "range": [_finite(region.low), _finite(region.high)],
                "tolerance": (c.tolerance if c.tolerance is not None else
                              POINT_TOLERANCE * abs(c.claimed_min - c.null)
                              if c.claimed_min is not None and c.claimed_min == c.claimed_max else None),
            },
            "without_accuracy_loss": c.without_accuracy_loss,
            "benchmark": self.benchmark,
            "measured": self.measured.to_dict() if self.measured else None,
            "accuracy_change": accuracy.to_dict() if accuracy else None,
            "parts": [{"check": p.check, "p_support": p.p_support, "p_refute": p.p_refute,
                       "position": p.position} for p in self.parts],
            "verdict": d.verdict,
            "candidate": d.candidate,
            "provisional": self.provisional,
            "n_seeds": self.n_seeds,
            "verdict_text": self.verdict_text,
            "reason": d.reason,
            "p_value": d.p_value,
            "p_adjusted": d.p_adjusted,
            "family_size": d.family_size,
            "seeds_needed": d.seeds_needed,
            "seeds_note": d.seeds_note,
            "mde": d.mde,
            "scale": self.scale,
            "paper_scale": c.paper_scale,
            "paper_result": c.paper_result,
            "paper_vs_here": self.paper_vs_here,
        }


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _toy(scale: Mapping[str, Any], threshold: float) -> bool:
    params = scale.get("params")
    return isinstance(params, (int, float)) and params < threshold


def audit_claims(claims: ClaimsFile, comparison: "Comparison") -> list[AuditRow]:
    """One row per claim (per benchmark for evaluation metrics), one verdict each, with
    Holm's correction across the measured rows. A claim whose objectives were not run
    gets a "not measured" row naming what is missing."""
    rows: list[AuditRow] = []
    for claim in claims.claims:
        if claim.metric in CONVERGENCE_METRICS:
            benchmarks: Sequence[str] = ["validation"]
        else:
            benchmarks = list(claim.benchmarks) if claim.benchmarks else list(
                comparison.settings.audit_benchmarks or comparison.settings.benchmarks)
        for benchmark in benchmarks:
            rows.append(_audit_one(claim, benchmark, comparison, claims.toy_scale_below_params))
    for row, decision in zip(rows, apply_holm([r.decision for r in rows])):
        row.decision = decision
    return rows


def _audit_one(claim: Claim, benchmark: str, comparison: "Comparison", toy_threshold: float) -> AuditRow:
    absent = comparison.absent_reason(claim.objective, claim.comparator, benchmark)
    if not absent and claim.without_accuracy_loss and benchmark == "validation":
        absent = "'without accuracy loss' needs a test benchmark; name one under `benchmarks:`"
    if absent:
        return AuditRow(claim, benchmark, [], Decision("not measured", absent))
    est, scale = comparison.effect(claim.metric, claim.objective, claim.comparator, benchmark, unit=claim.unit)
    region = claimed_region(claim.claimed_min, claim.claimed_max, null=claim.null,
                            direction=claim.direction, tolerance=claim.tolerance)
    parts = [evaluate_part("claim", est, region, claim.direction)]
    if claim.without_accuracy_loss:
        acc, _ = comparison.effect("accuracy_change", claim.objective, claim.comparator, benchmark)
        parts.append(evaluate_part("without_accuracy_loss", acc,
                               Region(NO_ACCURACY_LOSS_MARGIN, math.inf, low_closed=False, high_closed=False)))
    decision = decide_parts(parts)
    if claim.metric in CONVERGENCE_METRICS and decision.verdict == "inconclusive":
        trend = comparison.reference_trend()
        if trend and trend.get("too_short"):
            decision = replace(decision, reason=(
                f"{decision.reason}; {trend['objective']} was still improving when the run stopped "
                f"({trend['late_gain'] * 100:+.1f} pts of validation accuracy over steps {trend['from_step']}–"
                f"{trend['to_step']}), so this run is too short to measure convergence"))
    return AuditRow(claim, benchmark, parts, decision, scale, _toy(scale, toy_threshold))
