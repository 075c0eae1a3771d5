rule base_model:
    input:
        "results/data/math/train.jsonl",
        "results/data/math/validation.jsonl",
    output:
        directory("results/base/model"),
        "results/base/warmstart.json",
    params:
        s=settings(hc.warmstart_settings(config)),
    threads: int(config["warmstart"].get("threads", THREADS))
    log:
        "results/logs/base_model.log",
    benchmark:
        "results/benchmarks/base_model.tsv"
    shell:
        "harness warmstart --settings {params.s:q} > {log} 2>&1"
