import json
import os
import sys
from harness import config as hc

# The rules call the `harness` console script of the environment snakemake runs in, so
# `.venv/bin/snakemake` works from a shell where the venv is not activated.
os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])

OBJECTIVES = list(config["objectives"])
SEEDS = [int(s) for s in config["seeds"]]
BENCHMARKS = list(config["benchmarks"])
THREADS = int(config.get("threads", 1))

wildcard_constraints:
    objective="[A-Za-z0-9_]+",
    seed="[0-9]+",
    benchmark="[A-Za-z0-9_]+",


def settings(d):
    """A job's settings as one JSON string (Snakemake reruns a job when its params change)."""
    return json.dumps(d, sort_keys=True)
