"""The integrity monitor: catch reward hacking and verifier disagreement while training.

    detectors.py     small pure functions over one completion (a rewarded answer that
                     restates the prompt, several candidate answers, ...)
    judge.py         the second opinion: an independent judge of a completion
    _judge_worker.py the judge's killable worker process (math-verify runs there, and the
                     code judge starts its sandboxes from there)
    code_judge.py    the code second opinion: the item's tests on a second sandbox path
    _code_judge_sandboxed.py  its two programs that run inside bubblewrap (tests, candidate)
    monitor.py       ``IntegrityMonitor``: what the training loop calls on the rollouts it
                     already has; writes runs/{objective}/seed{seed}/integrity.jsonl

The report side (reward/accuracy divergence, length and entropy collapse, the leaderboard
column and results/integrity.md) lives in harness/report/integrity.py and reads only the
files written here. This package imports neither the trainer nor the report, and nothing
heavier than the standard library at import time (the judge's worker imports it too).
"""
