"""`harness` console entry point: the commands the workflow rules call.

Each subcommand parses its own arguments; modules are imported lazily so that
`harness verify` does not pay for torch and `harness objectives` stays quick.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Callable

# subcommand -> (module:function taking argv, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "objectives": ("harness.cli:objectives_main", "list registered objectives with their provenance"),
    "data": ("harness.cli:data_main", "generate a benchmark suite's split files"),
    "warmstart": ("harness.cli:warmstart_main", "build and supervise-train the base model"),
    "train": ("harness.cli:train_main", "run (or resume) one RL training job"),
    "evaluate": ("harness.cli:evaluate_main", "evaluate a checkpoint on a benchmark split"),
    "report": ("harness.report.cli:main", "aggregate results: leaderboard, plots, audit, MLflow"),
    "verify": ("verifiers.cli:main", "verify one response; prints the verdict as JSON"),
    "new-objective": ("harness.scaffold:main", "scaffold a new objective file and its test"),
    "check-config": ("harness.cli:check_config_main", "validate a config file and print what is wrong"),
    "benchmarks": ("harness.tasks.specs:main", "list the papers' benchmarks: source, revision, size, metric, availability"),
    "credit": ("harness.credit:main", "each objective's credit per token on one rollout batch of a checkpoint (html, png, json)"),
}


def _resolve(target: str) -> Callable[[list[str]], int]:
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def objectives_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="harness objectives", description=COMMANDS["objectives"][1])
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    args = p.parse_args(argv)
    from harness.objectives import provenance_table

    rows = provenance_table()
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for r in rows:
        print(f"## {r['name']}  —  {r['paper']}")
        for key in ("equation", "exact", "reconstructed", "defaults", "defaults_source", "needs"):
            if r[key]:
                print(f"  {key:15s} {r[key]}")
        print()
    return 0


def _settings(argv: list[str], prog: str) -> dict:
    p = argparse.ArgumentParser(prog=prog)
    p.add_argument("--settings", required=True, help="the job's settings as JSON (Snakemake passes its params)")
    args = p.parse_args(argv)
    return json.loads(args.settings)


def data_main(argv: list[str]) -> int:
    from harness.tasks import write_suite

    s = _settings(argv, "harness data")
    paths = write_suite(s["suite"], s["out_dir"], s.get("world", {}))
    for path in paths:
        print(path)
    return 0


def warmstart_main(argv: list[str]) -> int:
    from harness.train.base_model import build_base_model

    build_base_model(**_settings(argv, "harness warmstart"))
    return 0


def train_main(argv: list[str]) -> int:
    from harness.train.loop import TrainSettings, train

    train(TrainSettings(**_settings(argv, "harness train")))
    return 0


def evaluate_main(argv: list[str]) -> int:
    from harness.evaluate import run_evaluation

    res = run_evaluation(**_settings(argv, "harness evaluate"))
    print(f"{res['objective']} seed {res['seed']} {res['benchmark']}: {res.get('metric', 'accuracy')} {res['accuracy']:.4f} over {res['n']} items, mean length {res['mean_length']:.1f}")
    return 0


def check_config_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="harness check-config")
    p.add_argument("config")
    args = p.parse_args(argv)
    from harness.config import ConfigError, load_config

    try:
        load_config(args.config)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2
    print(f"{args.config}: ok")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: harness COMMAND [ARGS]\n\ncommands:")
        for name, (_, help_) in COMMANDS.items():
            print(f"  {name:15s} {help_}")
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd not in COMMANDS:
        print(f"harness: unknown command {cmd!r}; commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    return int(_resolve(COMMANDS[cmd][0])(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
