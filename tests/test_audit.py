"""The claims audit: verdict logic (DESIGN.md protocol) and the claims file."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from harness.metrics import Estimate
from harness.report.audit import ClaimsError, decide, load_claims, seeds_to_settle
from harness.report.build import Comparison, build_summary
from harness.report.results import load_results
from harness.report.settings import ReportSettings
from harness.report.synthetic import SyntheticObjective, synthetic_config, write_synthetic_results

REPO = Path(__file__).resolve().parent.parent
CLAIMS = REPO / "config" / "claims.yaml"


def est(value: float | None, low: float | None = None, high: float | None = None, n: int = 3,
        bound: str | None = None) -> Estimate:
    return Estimate(value, low, high, n_seeds=n, bound=bound)


# -- verdict logic on synthetic estimates --------------------------------------------


@pytest.mark.parametrize("ci,verdict", [
    ((2.1, 1.4, 2.9), "supported"),     # faster than GRPO, CI contains the claimed 2x
    ((1.5, 1.3, 1.7), "refuted"),       # faster, but the CI excludes 2x on the short side
    ((0.8, 0.6, 0.95), "refuted"),      # slower: the opposite effect
    ((1.6, 0.9, 2.4), "inconclusive"),  # CI straddles no effect
    ((3.5, 3.0, 4.0), "inconclusive"),  # CI entirely above the claim: a larger effect
])
def test_point_claim_of_2x_speedup_verdicts(ci: tuple[float, float, float], verdict: str) -> None:
    assert decide(est(*ci), null=1.0, claimed_min=2.0, claimed_max=2.0).verdict == verdict


@pytest.mark.parametrize("ci,verdict", [
    ((0.30, 0.25, 0.35), "supported"),   # inside 19-46%
    ((0.15, 0.10, 0.20), "supported"),   # overlaps the range at its low end
    ((0.10, 0.05, 0.15), "refuted"),     # compresses, but less than claimed
    ((-0.05, -0.10, 0.00), "refuted"),   # no compression at all
    ((0.10, -0.02, 0.22), "inconclusive"),
    ((0.60, 0.55, 0.65), "inconclusive"),  # more compression than claimed
])
def test_range_claim_of_19_to_46_percent_compression_verdicts(ci: tuple[float, float, float], verdict: str) -> None:
    assert decide(est(*ci), null=0.0, claimed_min=0.19, claimed_max=0.46).verdict == verdict


@pytest.mark.parametrize("ci,verdict", [
    ((0.10, 0.05, 0.15), "supported"),   # "up to 36%": any real compression below the cap
    ((0.50, 0.40, 0.60), "inconclusive"),  # beyond "up to"
    ((0.00, -0.03, 0.03), "inconclusive"),
    ((-0.05, -0.08, -0.02), "refuted"),
])
def test_up_to_claim_verdicts(ci: tuple[float, float, float], verdict: str) -> None:
    assert decide(est(*ci), null=0.0, claimed_max=0.36).verdict == verdict


@pytest.mark.parametrize("ci,verdict", [
    ((0.03, 0.01, 0.05), "supported"),
    ((-0.02, -0.04, -0.01), "refuted"),
    ((0.01, -0.01, 0.03), "inconclusive"),
])
def test_better_than_claim_without_magnitude_verdicts(ci: tuple[float, float, float], verdict: str) -> None:
    assert decide(est(*ci), null=0.0).verdict == verdict


@pytest.mark.parametrize("ci,verdict", [
    ((0.000, -0.005, 0.005), "supported"),  # lower bound above -1 point
    ((-0.005, -0.02, 0.01), "inconclusive"),
    ((-0.04, -0.06, -0.02), "refuted"),     # a clear accuracy loss
])
def test_without_accuracy_loss_is_a_lower_bound_above_minus_one_point(ci, verdict) -> None:
    assert decide(est(*ci), null=-0.01, claimed_min=-0.01).verdict == verdict


def test_decrease_claims_mirror_increase_claims() -> None:
    """A claim stated as 'length falls by 19-46%' on a signed change behaves like compression."""
    assert decide(est(-0.30, -0.35, -0.25), null=0.0, claimed_min=-0.46, claimed_max=-0.19,
                  direction="decrease").verdict == "supported"
    assert decide(est(-0.10, -0.15, -0.05), null=0.0, claimed_min=-0.46, claimed_max=-0.19,
                  direction="decrease").verdict == "refuted"


def test_censored_bounds_only_decide_in_their_safe_direction() -> None:
    # Upper bound (objective never converged in some seed): can refute, never support.
    assert decide(est(2.5, 2.1, 2.9, bound="upper"), null=1.0, claimed_min=2.0, claimed_max=2.0).verdict == "inconclusive"
    assert decide(est(1.2, 1.1, 1.3, bound="upper"), null=1.0, claimed_min=2.0, claimed_max=2.0).verdict == "refuted"
    # Lower bound (baseline never converged): can support an open-ended claim, never refute.
    assert decide(est(1.2, 1.1, 1.3, bound="lower"), null=1.0).verdict == "supported"
    assert decide(est(1.2, 1.1, 1.3, bound="lower"), null=1.0, claimed_min=2.0, claimed_max=2.0).verdict == "inconclusive"


def test_unmeasurable_effects_are_inconclusive_not_guessed() -> None:
    assert decide(est(None), null=1.0).verdict == "inconclusive"
    assert decide(est(1.5, n=1), null=1.0).verdict == "inconclusive"  # one seed: no CI


def test_inconclusive_estimates_how_many_seeds_would_settle_it() -> None:
    decision = decide(est(0.02, -0.01, 0.05, n=3), null=0.0)
    assert decision.verdict == "inconclusive"
    # half-width 0.03 must shrink below the distance 0.02: 3 * (0.03/0.02)^2 = 6.75 -> 7
    assert decision.seeds_needed == 7
    assert seeds_to_settle(0.0, -0.1, 0.1, 0.0, 0.0, float("inf"), 3) is None  # on the boundary


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


def _audit(tmp_path: Path, objectives: dict[str, SyntheticObjective], params: float = 870_000) -> dict[str, dict]:
    results = write_synthetic_results(tmp_path / "results", objectives,
                                      model={"name": "synthetic-tiny", "params": params})
    settings = ReportSettings.from_config(synthetic_config(list(objectives), resamples=1000))
    loaded = load_results(results, settings.objectives, settings.seeds, settings.benchmarks)
    summary = build_summary(Comparison(settings, loaded), load_claims(CLAIMS))
    return {(r["claim_id"], r["check"], r["benchmark"]): r for r in summary["audit"]}


def test_audit_on_synthetic_results_gives_the_verdicts_the_data_imply(tmp_path: Path) -> None:
    rows = _audit(tmp_path, {
        "grpo": SyntheticObjective(accuracy=0.50, length=40, converge_step=40),
        "dapo": SyntheticObjective(accuracy=0.50, length=40, converge_step=30),
        "tepo": SyntheticObjective(accuracy=0.50, length=40, converge_step=20),
        "hmpo": SyntheticObjective(accuracy=0.50, length=30, converge_step=40),
        "eapo": SyntheticObjective(accuracy=0.50, length=40, noise=0.3),
        "iapo": SyntheticObjective(accuracy=0.40, length=20, converge_step=40),
    })
    tepo_grpo = rows[("tepo_convergence_vs_grpo", "claim", "validation")]
    assert tepo_grpo["verdict"] == "supported"  # exactly 40/20 = 2x in every seed
    assert tepo_grpo["scale"]["seeds"] == [0, 1, 2] and tepo_grpo["scale"]["steps"] == [60]
    tepo_dapo = rows[("tepo_convergence_vs_dapo", "claim", "validation")]
    assert tepo_dapo["verdict"] == "refuted"  # 30/20 = 1.5x, never 2x
    assert tepo_dapo["verdict_text"] == "refuted: not reproduced at this scale"
    assert rows[("hmpo_compression_vs_grpo", "claim", "math")]["verdict"] == "supported"  # ~25%
    assert rows[("hmpo_compression_vs_grpo", "without_accuracy_loss", "math")]["verdict"] == "supported"
    assert rows[("iapo_compression_vs_grpo", "claim", "math")]["verdict"] == "inconclusive"  # 50% > "up to 36%"
    assert rows[("iapo_compression_vs_grpo", "without_accuracy_loss", "math")]["verdict"] == "refuted"  # -10 pts
    assert rows[("eapo_accuracy_vs_grpo", "claim", "math")]["verdict"] == "inconclusive"  # noise only
    for claim_id in ("eapo_accuracy_vs_dr_grpo", "eapo_accuracy_vs_gspo", "tgc_final_accuracy_vs_grpo"):
        row = rows[(claim_id, "claim", "math")]
        assert row["verdict"] == "not measured" and "not in comparison" in row["reason"]
    scale = rows[("hmpo_compression_vs_grpo", "claim", "math")]["scale"]
    assert scale["model"] == "synthetic-tiny" and scale["params"] == 870_000 and scale["benchmark"] == "math"


def test_a_refutation_at_full_scale_is_not_called_toy(tmp_path: Path) -> None:
    rows = _audit(tmp_path, {
        "grpo": SyntheticObjective(converge_step=40),
        "dapo": SyntheticObjective(converge_step=30),
        "tepo": SyntheticObjective(converge_step=20),
    }, params=7e9)
    assert rows[("tepo_convergence_vs_dapo", "claim", "validation")]["verdict_text"] == "refuted at this scale"


def test_claim_whose_objective_never_converges_is_censored_not_scored(tmp_path: Path) -> None:
    rows = _audit(tmp_path, {
        "grpo": SyntheticObjective(converge_step=40),
        "dapo": SyntheticObjective(converge_step=40),
        "tepo": SyntheticObjective(converge_step=None),
    })
    row = rows[("tepo_convergence_vs_grpo", "claim", "validation")]
    assert row["measured"]["bound"] == "upper"
    assert row["verdict"] == "refuted"  # even its upper bound (60 steps -> 40/60) is < 2x


def test_claims_are_audited_on_the_rl_task_unless_they_name_benchmarks() -> None:
    """A math-RL comparison that also tests code and science audits claims on math only."""
    cfg = synthetic_config(["grpo", "dapo"], resamples=1000)
    cfg = {**cfg, "benchmarks": ["math", "code", "science"]}
    assert ReportSettings.from_config(cfg).audit_benchmarks == ["math"]
    cfg_rg = {**cfg, "benchmarks": ["rg_basic_arithmetic", "humaneval"], "train": {"suite": "rg_basic_arithmetic"}}
    assert ReportSettings.from_config(cfg_rg).audit_benchmarks == ["rg_basic_arithmetic"]
    cfg_none = {**cfg, "benchmarks": ["code", "science"]}
    assert ReportSettings.from_config(cfg_none).audit_benchmarks == ["code", "science"]
