"""``python -m harness COMMAND ...``: the same as the ``harness`` console script.

The workflow's rules run ``{sys.executable} -m harness ...`` (workflow/rules/common.smk),
so a job needs the interpreter Snakemake runs under, not a ``harness`` found on PATH.
"""
import sys

from harness.cli import main

sys.exit(main())
