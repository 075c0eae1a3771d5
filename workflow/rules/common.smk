import json
from harness import config as hc

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
