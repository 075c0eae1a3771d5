"""Reports of a comparison: leaderboard (md/html/png), claims audit, MLflow logging.

Reads result files only (never imports harness.train or harness.rollout). Entry point:
``harness.report.cli.main(argv)`` for ``harness report --config ... --results ...``.
"""
from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Same as harness.report.cli.main (imported lazily: matplotlib and MLflow are slow)."""
    from harness.report.cli import main as cli_main

    return cli_main(argv)
