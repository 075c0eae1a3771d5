"""Where a workflow run's time went: per rule, from the `benchmark:` files snakemake writes.

    .venv/bin/python benchmarks/workflow_stages.py [results]

Every rule of the workflow declares ``benchmark: results/benchmarks/<rule>/...tsv``;
snakemake writes one TSV per job (wall seconds, CPU seconds, peak RSS). This prints, per
rule, the job count, summed and mean wall seconds, the longest job, summed CPU seconds
and the largest peak RSS; and the run's wall clock, from the first job's start to the
last job's end as the newest snakemake log records them, when a log is there.
Summed job seconds exceed the wall clock when jobs ran side by side (``--cores all``).
"""
from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import format_table  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def job_rows(results: Path) -> dict[str, list[dict[str, float]]]:
    """{rule: [{s, cpu_time, max_rss}, ...]} from results/benchmarks/<rule>[/...].tsv."""
    root = results / "benchmarks"
    if not root.is_dir():
        raise SystemExit(f"{root}: no benchmark files; run the workflow first (snakemake --cores all)")
    out: dict[str, list[dict[str, float]]] = defaultdict(list)
    for path in sorted(root.rglob("*.tsv")):
        rule = path.relative_to(root).parts[0].removesuffix(".tsv")
        with open(path, encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        for row in rows:
            out[rule].append({k: _number(row.get(k)) for k in ("s", "cpu_time", "max_rss")})
    return out


def _number(value: str | None) -> float:
    try:
        return float(value) if value not in (None, "", "NA", "-") else 0.0
    except ValueError:
        return 0.0


def log_wall_clock(repo: Path) -> tuple[str, float] | None:
    """(log name, seconds) of the newest snakemake log that ran jobs: first to last timestamp."""
    logs = sorted((repo / ".snakemake" / "log").glob("*.snakemake.log"))
    stamp = re.compile(r"^\[(\w{3} \w{3}\s+\d+ \d\d:\d\d:\d\d \d{4})\]")
    for log in reversed(logs):
        times = []
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            m = stamp.match(line)
            if m:
                times.append(datetime.strptime(m.group(1).replace("  ", " "), "%a %b %d %H:%M:%S %Y"))
        if len(times) >= 2:
            return log.name, (times[-1] - times[0]).total_seconds()
        elapsed = re.search(r"Elapsed time: (\d+):(\d\d):(\d\d)", log.read_text(encoding="utf-8", errors="replace"))
        if elapsed:
            h, m_, s = (int(x) for x in elapsed.groups())
            return log.name, float(h * 3600 + m_ * 60 + s)
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="?", default=str(REPO / "results"), help="the workflow's results folder")
    args = ap.parse_args()
    results = Path(args.results)
    jobs = job_rows(results)
    order = ["data", "pretrained_smollm2", "base_model", "train", "evaluate", "eval", "report"]
    rules = sorted(jobs, key=lambda r: (order.index(r) if r in order else len(order), r))
    table = []
    total_s = total_cpu = 0.0
    for rule in rules:
        rows = jobs[rule]
        s = sum(r["s"] for r in rows)
        cpu = sum(r["cpu_time"] for r in rows)
        total_s, total_cpu = total_s + s, total_cpu + cpu
        table.append([rule, str(len(rows)), f"{s:.0f}", f"{s / len(rows):.1f}", f"{max(r['s'] for r in rows):.1f}",
                      f"{cpu:.0f}", f"{max(r['max_rss'] for r in rows):.0f}"])
    table.append(["all jobs", str(sum(len(v) for v in jobs.values())), f"{total_s:.0f}", "", "", f"{total_cpu:.0f}", ""])
    print(f"workflow stages from {results / 'benchmarks'}")
    print(format_table(["rule", "jobs", "wall s (sum)", "mean s", "max s", "CPU s (sum)", "max RSS MiB"], table))
    wall = log_wall_clock(results.resolve().parent)
    if wall:
        print(f"run wall clock (newest snakemake log that ran jobs, {wall[0]}): {wall[1]:.0f} s = {wall[1] / 60:.1f} min")


if __name__ == "__main__":
    main()
