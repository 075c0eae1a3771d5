rule train:
    input:
        "results/base/model",
        f"results/data/{hc.train_suite(config)}/train.jsonl",
        f"results/data/{hc.train_suite(config)}/validation.jsonl",
    output:
        "results/runs/{objective}/seed{seed}/run.json",
        "results/runs/{objective}/seed{seed}/metrics.jsonl",
        directory("results/runs/{objective}/seed{seed}/model"),
    params:
        s=lambda w: settings(hc.train_settings(config, w.objective, int(w.seed))),
    threads: THREADS
    log:
        "results/logs/train/{objective}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{objective}/seed{seed}.tsv"
    shell:
        "harness train --settings {params.s:q} > {log} 2>&1"
