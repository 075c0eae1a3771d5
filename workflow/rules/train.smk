rule train:
    input:
        "results/base/model",
        f"results/data/{hc.train_suite(config)}/train.jsonl",
        f"results/data/{hc.train_suite(config)}/validation.jsonl",
        sandbox_on_this_node(lambda w: [hc.train_suite(config)]),
    output:
        "results/runs/{objective}/seed{seed}/run.json",
        "results/runs/{objective}/seed{seed}/metrics.jsonl",
        directory("results/runs/{objective}/seed{seed}/model"),
    params:
        s=lambda w: settings(hc.train_settings(config, w.objective, int(w.seed))),
    threads: THREADS
    resources:
        gpu=GPU_JOB,
    log:
        "results/logs/train/{objective}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{objective}/seed{seed}.tsv"
    shell:
        "{GPU_PREFIX}{LIVE_PREFIX}{HARNESS} train --settings {params.s:q} > {log} 2>&1"
