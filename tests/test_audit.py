"""The claims audit: verdict logic (DESIGN.md protocol) and the claims file."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import scipy.stats
import yaml

from harness.metrics import Estimate, TStat
from harness.metrics.intervals import to_analysis
from harness.report.audit import (
    NO_ACCURACY_LOSS_MARGIN,
    ClaimsError,
    Region,
    apply_holm,
    claimed_region,
    decide,
    decide_parts,
    evaluate_part,
    load_claims,
)
from harness.report.build import Comparison, build_summary
from harness.report.results import load_results
from harness.report.settings import ReportSettings
from harness.report.synthetic import SyntheticObjective, synthetic_config, write_synthetic_results

REPO = Path(__file__).resolve().parent.parent
CLAIMS = REPO / "config" / "claims.yaml"


def est(low: float, high: float, n: int = 3, scale: str = "identity", bound: str | None = None) -> Estimate:
    """An estimate whose 95% t-interval over n seeds is exactly [low, high] (metric units)."""
    a, b = to_analysis(low, scale), to_analysis(high, scale)
    se = (b - a) / 2 / scipy.stats.t.ppf(0.975, n - 1)
    stat = TStat((a + b) / 2, se ** 2 * n, 0.0, n, scale=scale)  # type: ignore[arg-type]
    lo, hi = stat.interval()
    assert (lo, hi) == pytest.approx((low, high))
    return Estimate(stat.value, lo, hi, n_seeds=n, bound=bound, stat=stat)


SPEEDUP_2X = dict(null=1.0, claimed_min=2.0, claimed_max=2.0)  # "50% less time", read as [1.75, 2.25]


# -- verdict logic on synthetic estimates --------------------------------------------


@pytest.mark.parametrize("ci,verdict", [
    ((1.8, 2.2), "supported"),     # inside the claimed 2x +- 25% of its effect
    ((1.4, 2.9), "inconclusive"),  # contains 2x but also values outside the claim: not "supported"
    ((1.3, 1.7), "refuted"),       # faster than the baseline, but short of the claimed range
    ((0.6, 0.95), "refuted"),      # slower: the opposite effect
    ((0.9, 2.4), "inconclusive"),  # straddles no effect
    ((3.0, 4.0), "inconclusive"),  # entirely beyond the claim: a larger effect than claimed
])
def test_point_claim_of_2x_speedup_verdicts(ci: tuple[float, float], verdict: str) -> None:
    assert decide(est(*ci, scale="ratio"), **SPEEDUP_2X).verdict == verdict


def test_a_point_claim_is_tested_as_a_range_around_it() -> None:
    assert claimed_region(2.0, 2.0, null=1.0) == Region(1.75, 2.25)
    assert claimed_region(2.0, 2.0, null=1.0, tolerance=0.5) == Region(1.5, 2.5)


@pytest.mark.parametrize("ci,verdict", [
    ((0.25, 0.35), "supported"),     # inside 19-46%
    ((0.10, 0.20), "inconclusive"),  # the case: overlaps the low end, so not "supported"
    ((0.05, 0.15), "refuted"),       # compresses, but entirely less than claimed
    ((-0.05, 0.15), "refuted"),      # includes 0 but excludes the whole claimed range
    ((-0.10, 0.25), "inconclusive"),
    ((0.55, 0.65), "inconclusive"),  # more compression than claimed: beyond, not refuted
])
def test_range_claim_of_19_to_46_percent_compression_verdicts(ci: tuple[float, float], verdict: str) -> None:
    assert decide(est(*ci, scale="compression"), null=0.0, claimed_min=0.19, claimed_max=0.46).verdict == verdict


@pytest.mark.parametrize("ci,verdict", [
    ((0.05, 0.15), "supported"),     # "up to 36%": any real compression below the cap
    ((0.30, 0.40), "inconclusive"),  # straddles the cap
    ((0.40, 0.60), "inconclusive"),  # beyond "up to"
    ((-0.03, 0.03), "inconclusive"),
    ((-0.08, -0.02), "refuted"),
])
def test_up_to_claim_verdicts(ci: tuple[float, float], verdict: str) -> None:
    assert decide(est(*ci, scale="compression"), null=0.0, claimed_max=0.36).verdict == verdict


@pytest.mark.parametrize("ci,verdict", [
    ((0.01, 0.05), "supported"),
    ((-0.04, -0.01), "refuted"),
    ((-0.01, 0.03), "inconclusive"),  # includes no effect: neither
])
def test_better_than_claim_without_magnitude_verdicts(ci: tuple[float, float], verdict: str) -> None:
    assert decide(est(*ci), null=0.0).verdict == verdict


def test_decrease_claims_mirror_increase_claims() -> None:
    """A claim stated as 'length falls by 19-46%' on a signed change behaves like compression."""
    kw = dict(null=0.0, claimed_min=-0.46, claimed_max=-0.19, direction="decrease")
    assert decide(est(-0.35, -0.25), **kw).verdict == "supported"
    assert decide(est(-0.15, -0.05), **kw).verdict == "refuted"
    assert decide(est(-0.20, -0.10), **kw).verdict == "inconclusive"


def _compound(compression: Estimate, accuracy: Estimate):
    return decide_parts([
        evaluate_part("claim", compression, claimed_region(0.19, 0.46, null=0.0)),
        evaluate_part("without_accuracy_loss", accuracy,
                      Region(NO_ACCURACY_LOSS_MARGIN, math.inf, low_closed=False, high_closed=False)),
    ])


def test_compression_without_accuracy_loss_is_one_verdict_needing_both_parts() -> None:
    inside = est(0.25, 0.35, scale="compression")
    assert _compound(inside, est(-0.005, 0.01)).verdict == "supported"
    assert _compound(inside, est(-0.02, 0.01)).verdict == "inconclusive"  # the loss is not ruled out
    assert _compound(inside, est(-0.06, -0.02)).verdict == "refuted"     # a clear accuracy loss
    assert _compound(est(0.05, 0.15, scale="compression"), est(-0.005, 0.01)).verdict == "refuted"
    assert _compound(est(0.10, 0.30, scale="compression"), est(-0.005, 0.01)).verdict == "inconclusive"


def test_censored_bounds_only_decide_in_their_safe_direction() -> None:
    # Upper bound (objective never converged in some seed): can refute, never support.
    assert decide(est(1.8, 2.2, scale="ratio", bound="upper"), **SPEEDUP_2X).verdict == "inconclusive"
    assert decide(est(1.1, 1.3, scale="ratio", bound="upper"), **SPEEDUP_2X).verdict == "refuted"
    # Lower bound (baseline never converged): can support an open-ended claim, never refute.
    assert decide(est(1.1, 1.3, scale="ratio", bound="lower"), null=1.0).verdict == "supported"
    assert decide(est(1.1, 1.3, scale="ratio", bound="lower"), **SPEEDUP_2X).verdict == "inconclusive"


def test_unmeasurable_effects_are_inconclusive_not_guessed() -> None:
    assert decide(Estimate(None), null=1.0).verdict == "inconclusive"
    one_seed = decide(Estimate(1.5, n_seeds=1, note="one seed: no CI"), null=1.0)
    assert one_seed.verdict == "inconclusive" and "one seed" in one_seed.reason


def test_holm_turns_a_marginal_verdict_inconclusive_and_keeps_a_clear_one() -> None:
    marginal = decide(est(0.001, 0.05), null=0.0)  # p just under 0.05 on its own
    clear = decide(est(0.2, 0.3), null=0.0)
    assert marginal.verdict == clear.verdict == "supported"
    adjusted = apply_holm([marginal, clear, decide(est(-0.01, 0.03), null=0.0)])
    assert adjusted[0].verdict == "inconclusive" and "Holm" in adjusted[0].reason
    assert adjusted[1].verdict == "supported" and adjusted[1].family_size == 3
    assert adjusted[0].p_adjusted == pytest.approx(min(1.0, 2 * marginal.p_value), rel=1e-6)


def test_inconclusive_says_the_mde_and_how_many_seeds_would_settle_it() -> None:
    decision = decide(est(-0.01, 0.05, n=3), null=0.0)
    assert decision.verdict == "inconclusive"
    d = 0.02  # the estimate's distance from the decisive boundary (no effect)
    sd = (0.05 - d) / scipy.stats.t.ppf(0.975, 2) * math.sqrt(3)  # per-seed SD behind that CI

    def mde(n: int) -> float:
        return (scipy.stats.t.ppf(0.975, n - 1) + scipy.stats.t.ppf(0.8, n - 1)) * sd / math.sqrt(n)

    expect = next(n for n in range(4, 101) if mde(n) <= d)
    assert decision.seeds_needed == expect
    assert decision.mde["up"] == pytest.approx(mde(3)) and decision.mde["down"] == pytest.approx(-mde(3))
    beyond = decide(est(3.0, 4.0, scale="ratio"), **SPEEDUP_2X)
    assert beyond.seeds_needed is None and "larger than claimed" in beyond.seeds_note


# -- the claims file ----------------------------------------------------------------


def test_claims_file_has_every_headline_claim_with_sources() -> None:
    claims = {c.id: c for c in load_claims(CLAIMS).claims}
    expect = {
        ("tepo", "grpo", "convergence_speedup"), ("tepo", "dapo", "convergence_speedup"),
        ("tgc", "grpo", "sample_efficiency"), ("tgc", "grpo", "accuracy_change"),
        ("eapo", "grpo", "accuracy_change"), ("eapo", "dapo", "accuracy_change"),
        ("eapo", "dr_grpo", "accuracy_change"), ("eapo", "gspo", "accuracy_change"),
        ("iapo", "grpo", "compression"), ("hmpo", "grpo", "compression"),
    }
    assert {(c.objective, c.comparator, c.metric) for c in claims.values()} == expect
    seed_of = {"tepo": "000_", "tgc": "001_", "eapo": "002_", "iapo": "003_", "hmpo": "004_"}
    for c in claims.values():
        assert re.fullmatch(r"\d{4}\.\d{4,5}", c.source["arxiv"]), c.id
        assert Path(c.source["seed_article"]).name.startswith(seed_of[c.objective]), c.id
    assert claims["tepo_convergence_vs_grpo"].claimed_min == 2.0  # 50% less time = 2x
    assert (claims["hmpo_compression_vs_grpo"].claimed_min, claims["hmpo_compression_vs_grpo"].claimed_max) == (0.19, 0.46)
    assert claims["iapo_compression_vs_grpo"].claimed_max == 0.36
    assert claims["iapo_compression_vs_grpo"].without_accuracy_loss
    assert claims["hmpo_compression_vs_grpo"].without_accuracy_loss


def test_bad_claims_file_names_the_claim_and_key(tmp_path: Path) -> None:
    raw = yaml.safe_load(CLAIMS.read_text())
    raw["claims"][1]["metric"] = "vibes"
    bad = tmp_path / "claims.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ClaimsError, match=r"claims\[1\] \(tepo_convergence_vs_dapo\): metric 'vibes'"):
        load_claims(bad)


# -- end to end on synthetic results dirs --------------------------------------------


def _audit(tmp_path: Path, objectives: dict[str, SyntheticObjective], params: float = 870_000,
           seeds: tuple[int, ...] = (0, 1, 2)) -> dict[tuple[str, str], dict]:
    results = write_synthetic_results(tmp_path / "results", objectives, seeds=seeds,
                                      model={"name": "synthetic-tiny", "params": params})
    settings = ReportSettings.from_config(synthetic_config(list(objectives), seeds=seeds))
    loaded = load_results(results, settings.objectives, settings.seeds, settings.benchmarks)
    summary = build_summary(Comparison(settings, loaded), load_claims(CLAIMS))
    return {(r["claim_id"], r["benchmark"]): r for r in summary["audit"]}


def test_audit_on_synthetic_results_gives_the_verdicts_the_data_imply(tmp_path: Path) -> None:
    rows = _audit(tmp_path, {
        "grpo": SyntheticObjective(accuracy=0.50, length=40, converge_step=40),
        "dapo": SyntheticObjective(accuracy=0.50, length=40, converge_step=30),
        "tepo": SyntheticObjective(accuracy=0.50, length=40, converge_step=20),
        "hmpo": SyntheticObjective(accuracy=0.50, length=30, converge_step=40),
        "eapo": SyntheticObjective(accuracy=0.50, length=40, noise=0.3),
        "iapo": SyntheticObjective(accuracy=0.40, length=20, converge_step=40),
    })
    assert len(rows) == 10  # one verdict per claim: no separate "without accuracy loss" row
    tepo_grpo = rows[("tepo_convergence_vs_grpo", "validation")]
    assert tepo_grpo["verdict"] == "supported"  # exactly 40/20 = 2x in every seed
    assert tepo_grpo["provisional"] and tepo_grpo["verdict_text"].startswith("provisional (3 seeds < 5)")
    assert tepo_grpo["scale"]["seeds"] == [0, 1, 2] and tepo_grpo["scale"]["steps"] == [60]
    tepo_dapo = rows[("tepo_convergence_vs_dapo", "validation")]
    assert tepo_dapo["verdict"] == "refuted"  # 30/20 = 1.5x, short of [1.75x, 2.25x]
    assert tepo_dapo["verdict_text"].endswith("refuted: not reproduced at this scale")
    hmpo = rows[("hmpo_compression_vs_grpo", "math")]
    assert hmpo["verdict"] == "supported"  # ~25% compression and identical answers
    assert hmpo["accuracy_change"]["value"] == 0.0
    iapo = rows[("iapo_compression_vs_grpo", "math")]
    assert iapo["verdict"] == "refuted" and "accuracy loss" in iapo["reason"]  # -10 pts
    assert rows[("eapo_accuracy_vs_grpo", "math")]["verdict"] == "inconclusive"  # noise only
    for claim_id in ("eapo_accuracy_vs_dr_grpo", "eapo_accuracy_vs_gspo", "tgc_final_accuracy_vs_grpo"):
        row = rows[(claim_id, "math")]
        assert row["verdict"] == "not measured" and "not in comparison" in row["reason"]
        assert not row["provisional"] and row["p_value"] is None
    measured = [r for r in rows.values() if r["verdict"] != "not measured"]
    assert {r["family_size"] for r in measured} == {len(measured)}  # Holm across the audit
    scale = hmpo["scale"]
    assert scale["model"] == "synthetic-tiny" and scale["params"] == 870_000 and scale["benchmark"] == "math"


def test_five_seeds_are_no_longer_provisional(tmp_path: Path) -> None:
    rows = _audit(tmp_path, {
        "grpo": SyntheticObjective(converge_step=40),
        "dapo": SyntheticObjective(converge_step=30),
        "tepo": SyntheticObjective(converge_step=20),
    }, seeds=(0, 1, 2, 3, 4))
    row = rows[("tepo_convergence_vs_grpo", "validation")]
    assert row["verdict"] == "supported" and not row["provisional"] and row["verdict_text"] == "supported at this scale"


def test_a_refutation_at_full_scale_is_not_called_toy(tmp_path: Path) -> None:
    rows = _audit(tmp_path, {
        "grpo": SyntheticObjective(converge_step=40),
        "dapo": SyntheticObjective(converge_step=30),
        "tepo": SyntheticObjective(converge_step=20),
    }, params=7e9)
    assert rows[("tepo_convergence_vs_dapo", "validation")]["verdict_text"].endswith("refuted at this scale")


def test_claim_whose_objective_never_converges_is_censored_not_scored(tmp_path: Path) -> None:
    rows = _audit(tmp_path, {
        "grpo": SyntheticObjective(converge_step=40),
        "dapo": SyntheticObjective(converge_step=40),
        "tepo": SyntheticObjective(converge_step=None),
    })
    row = rows[("tepo_convergence_vs_grpo", "validation")]
    assert row["measured"]["bound"] == "upper"
    assert row["verdict"] == "refuted"  # even its upper bound (40/60 steps) is short of 2x


def test_claims_are_audited_on_the_rl_task_unless_they_name_benchmarks() -> None:
    """A math-RL comparison that also tests code and science audits claims on math only."""
    cfg = synthetic_config(["grpo", "dapo"])
    cfg = {**cfg, "benchmarks": ["math", "code", "science"]}
    assert ReportSettings.from_config(cfg).audit_benchmarks == ["math"]
    cfg_rg = {**cfg, "benchmarks": ["rg_basic_arithmetic", "humaneval"], "train": {"suite": "rg_basic_arithmetic"}}
    assert ReportSettings.from_config(cfg_rg).audit_benchmarks == ["rg_basic_arithmetic"]
    cfg_none = {**cfg, "benchmarks": ["code", "science"]}
    assert ReportSettings.from_config(cfg_none).audit_benchmarks == ["code", "science"]


# -- the paper's own result beside ours ----------------------------------------------

SEEDS_DIRS = (Path("/work/shared/seeds"), REPO / "tests" / "data" / "seeds")


def _seed_text(seed_article: str) -> str:
    name = seed_article.rsplit("/", 1)[-1]
    for folder in SEEDS_DIRS:
        if (folder / name).is_file():
            return (folder / name).read_text(encoding="utf-8")
    raise AssertionError(f"seed article {name} not found in {[str(d) for d in SEEDS_DIRS]}")


def test_every_paper_result_is_quoted_verbatim_from_its_seed_article() -> None:
    """Nothing invented: the quote is in the article, and so is every number the fields give."""
    claims = load_claims(CLAIMS).claims
    assert all(c.paper_result is not None for c in claims)
    for c in claims:
        paper, article = c.paper_result, _seed_text(c.source["seed_article"])
        assert paper["quote"] in article, c.id
        for field in ("number", "benchmark", "metric"):
            for number in re.findall(r"\d+(?:\.\d+)?%?", paper[field]):
                assert number in paper["quote"], (c.id, field, number)
        if "no number" not in paper["number"]:
            assert paper["number"] in article or all(n in article for n in re.findall(r"\d+%", paper["number"])), c.id
        # the seed articles name no benchmark; a benchmark field must say so until one is quoted
        from harness.tasks.specs import SPECS

        named = [s.title for s in SPECS.values() if s.title.split(" (")[0] in article]
        assert named or paper["benchmark"].startswith("no benchmark named"), c.id


def test_paper_result_needs_every_field_and_names_a_bad_one(tmp_path: Path) -> None:
    raw = yaml.safe_load(CLAIMS.read_text())
    raw["claims"][0]["paper_result"] = {"benchmark": "MATH-500", "metric": "avg@k", "number": 86.4}
    bad = tmp_path / "claims.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ClaimsError, match=r"claims\[0\] \(tepo_convergence_vs_grpo\): key 'paper_result.quote'"):
        load_claims(bad)
    raw["claims"][0]["paper_result"] = {"benchmark": "x", "metric": "y", "number": "1", "quote": "q", "score": 2}
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ClaimsError, match=r"unknown key\(s\) \['score'\] under 'paper_result'"):
        load_claims(bad)


def test_paper_vs_here_line_format() -> None:
    from harness.report.audit import paper_vs_here

    line = paper_vs_here({"number": "86.4", "benchmark": "MATH-500", "metric": "avg@k", "quote": "q"},
                         "+2.0 [−1.0, +5.0] pts", "math500", "accuracy_change")
    assert line == "paper: 86.4 on MATH-500 (avg@k); here: +2.0 [−1.0, +5.0] pts on math500 (accuracy change)"


def test_each_audit_row_states_the_paper_result_beside_the_measured_one(tmp_path: Path) -> None:
    rows = _audit(tmp_path, {
        "grpo": SyntheticObjective(accuracy=0.50, length=40, converge_step=40),
        "dapo": SyntheticObjective(accuracy=0.50, length=40, converge_step=30),
        "tepo": SyntheticObjective(accuracy=0.50, length=40, converge_step=20),
        "hmpo": SyntheticObjective(accuracy=0.50, length=30, converge_step=40),
    })
    tepo = rows[("tepo_convergence_vs_grpo", "validation")]
    assert tepo["paper_vs_here"] == (
        'paper: 50% on no benchmark named in the seed article ("mathematical reasoning benchmarks") '
        "(reduction in convergence time); here: 2.00× [2.00, 2.00] on validation (convergence speedup)")
    hmpo = rows[("hmpo_compression_vs_grpo", "math")]
    assert hmpo["paper_vs_here"].startswith("paper: between 19% and 46% on no benchmark named")
    assert re.search(r"here: \+2\d\.\d% \[.*\] on math \(compression\)$", hmpo["paper_vs_here"])
    absent = rows[("eapo_accuracy_vs_grpo", "math")]
    assert "here: not measured (" in absent["paper_vs_here"]
