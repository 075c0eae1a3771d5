# MLflow (sqlite:///results/mlflow.db, or the config's / environment's tracking server) is written
# last and is not a declared output: a failure to reach it warns but never loses the JSON/markdown
# results, which rebuild it.
rule report:
    input:
        evals=expand("results/eval/{objective}/seed{seed}/{benchmark}.json", objective=OBJECTIVES, seed=SEEDS, benchmark=BENCHMARKS),
        base=expand("results/eval/base/seed0/{benchmark}.json", benchmark=BENCHMARKS),
        runs=expand("results/runs/{objective}/seed{seed}/metrics.jsonl", objective=OBJECTIVES, seed=SEEDS),
        claims=config.get("claims", "config/claims.yaml"),
    output:
        "results/leaderboard.md",
        "results/leaderboard.html",
        "results/audit.md",
        "results/summary.json",
        "results/calibration.json",
        directory("results/plots"),
    params:
        resolved=settings(config),
    log:
        "results/logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    shell:
        "{HARNESS} report --config-json {params.resolved:q} --results results > {log} 2>&1"
