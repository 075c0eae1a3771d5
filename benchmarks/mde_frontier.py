"""What a comparison like a finished run could detect with more or fewer seeds, and what it costs.

    .venv/bin/python benchmarks/mde_frontier.py [results] [--benchmark math]

From a finished run's per-item eval JSON, per objective entry and seed: accuracy and mean
length. For every objective X other than the reference R, the per-seed paired differences
d_s = acc(X, s) - acc(R, s) and log-length ratios log(len(X, s) / len(R, s)) give their
spread; the pooled SD over objectives (controls included: they are entries like any other)
is the run's measured seed-to-seed noise of a paired comparison. The minimum detectable
effect at n seeds (80% power, two-sided alpha 0.05, paired t) is

    MDE(n) = (t_{0.975, n-1} + t_{0.80, n-1}) * SD / sqrt(n)

(compression's MDE is 1 - exp(-MDE on the log scale)). Minutes are the measured mean
training + evaluation job time times entries x n, divided by the cores, plus the run's
one-off jobs (data, warm start, report). This is a projection from one run's variance, not
a run at each n: it says how many seeds a target MDE needs at this world's noise.

Two columns are measured rather than projected:
- "measured": where the run has at least n seeds, the MDE from its first n seeds alone
  (their own spread, as a run of n seeds would have reported it);
- "floor": the compression MDE of an objective whose length did not vary at all from seed
  to seed, i.e. the reference's own spread in log length: what no objective can beat.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import format_table  # noqa: E402

from harness.metrics.intervals import TStat, to_reported  # noqa: E402  (the report's one MDE definition)


def per_seed(results: Path, benchmark: str) -> dict[str, dict[int, tuple[float, float]]]:
    """{entry: {seed: (accuracy, mean length)}} from results/eval/*/seed*/<benchmark>.json."""
    out: dict[str, dict[int, tuple[float, float]]] = {}
    for path in sorted((results / "eval").glob(f"*/seed*/{benchmark}.json")):
        entry, seed = path.parent.parent.name, int(path.parent.name[4:])
        if entry == "base":
            continue
        items = json.loads(path.read_text())["items"]
        scores = np.array([it["score"] for it in items], dtype=float)
        lengths = np.array([it["length"] for it in items], dtype=float)
        out.setdefault(entry, {})[seed] = (float(scores.mean()), float(lengths.mean()))
    return out


def pooled_sd(values: list[np.ndarray]) -> float:
    """SD pooled over groups (each its own mean): sqrt(sum of squares / sum of dof)."""
    ss = sum(float(((v - v.mean()) ** 2).sum()) for v in values if v.size > 1)
    dof = sum(v.size - 1 for v in values if v.size > 1)
    return math.sqrt(ss / dof) if dof else float("nan")


def mde_at(sd: float, n: int) -> float:
    """MDE of a paired comparison at ``n`` seeds whose per-seed differences have SD ``sd``:
    (t_0.975,n-1 + t_0.80,n-1) x sd / sqrt(n), by the report's own TStat.mde (no test-set
    term: the pooled SD already holds each seed's own item noise)."""
    return TStat(0.0, sd ** 2, 0.0, n).mde()


def compression(log_mde: float) -> float:
    """An MDE on the log-length scale as a compression in percent (the report's to_reported)."""
    return 100 * to_reported(log_mde, "compression")


def job_seconds(results: Path, rule: str) -> list[float]:
    """Wall seconds of every job of ``rule`` (results/benchmarks/<rule>.tsv or <rule>/**.tsv)."""
    rows = []
    root = results / "benchmarks"
    files = list((root / rule).rglob("*.tsv")) + ([root / f"{rule}.tsv"] if (root / f"{rule}.tsv").exists() else [])
    for tsv in files:
        with open(tsv, newline="") as handle:
            rows += [float(r["s"]) for r in csv.DictReader(handle, delimiter="\t")]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", default="results", type=Path)
    parser.add_argument("--benchmark", default="math")
    parser.add_argument("--reference", default="grpo")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--seeds", default="3,4,5,8,10,15,20")
    args = parser.parse_args()
    data = per_seed(args.results, args.benchmark)
    if args.reference not in data:
        print(f"no eval of the reference {args.reference!r} under {args.results}/eval", file=sys.stderr)
        return 2
    ref = data[args.reference]
    acc_d, len_d, commons = [], [], []
    for entry, seeds in data.items():
        if entry == args.reference:
            continue
        common = sorted(set(seeds) & set(ref))
        commons.append(common)
        acc_d.append(np.array([seeds[s][0] - ref[s][0] for s in common]) * 100)
        len_d.append(np.array([math.log(seeds[s][1] / ref[s][1]) for s in common]))
    sd_acc, sd_len = pooled_sd(acc_d), pooled_sd(len_d)
    ref_seeds = sorted(ref)
    sd_ref_len = float(np.std([math.log(ref[s][1]) for s in ref_seeds], ddof=1))
    n_entries = len(data)
    per_job = (np.mean(job_seconds(args.results, "train")) + np.mean(job_seconds(args.results, "eval") or [0.0]))
    one_off = sum(sum(job_seconds(args.results, rule)) for rule in ("data", "base_model", "report"))
    print(f"{args.results}: {n_entries} entries, {len(ref)} seeds; pooled SD of paired differences vs "
          f"{args.reference}: accuracy {sd_acc:.2f} pts, log length {sd_len:.3f}; "
          f"mean train+eval job {per_job:.0f} s; one-off jobs {one_off:.0f} s; {args.cores} cores; "
          f"the reference's own SD of log length {sd_ref_len:.3f}")
    rows = []
    for n in (int(x) for x in args.seeds.split(",")):
        minutes = (per_job * n_entries * n / args.cores + one_off) / 60
        measured = "—"
        if n <= len(ref_seeds):
            first = set(ref_seeds[:n])
            sub_acc = pooled_sd([d[[i for i, s in enumerate(c) if s in first]] for d, c in zip(acc_d, commons)])
            sub_len = pooled_sd([d[[i for i, s in enumerate(c) if s in first]] for d, c in zip(len_d, commons)])
            measured = f"{mde_at(sub_acc, n):.1f} / {compression(mde_at(sub_len, n)):.1f}"
        rows.append([n, f"{mde_at(sd_acc, n):.1f}", f"{compression(mde_at(sd_len, n)):.1f}", measured,
                     f"{compression(mde_at(sd_ref_len, n)):.1f}", f"{minutes:.0f}"])
    print(format_table(["seeds", "MDE accuracy (pts)", "MDE compression (%)",
                        "measured on the first n seeds (pts / %)", "floor: compression (%)",
                        "minutes (projected)"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
