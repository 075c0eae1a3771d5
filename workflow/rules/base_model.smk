rule base_model:
    input:
        [f"results/data/{suite}/{split}.jsonl" for suite in hc.warmstart_suites(config) for split in ("train", "validation")],
        hc.pretrained_input(config),
        sandbox_on_this_node(lambda w: hc.warmstart_suites(config)),
    output:
        directory("results/base/model"),
        "results/base/warmstart.json",
    params:
        s=settings(hc.warmstart_settings(config)),
    threads: int(config["warmstart"].get("threads", THREADS))
    resources:
        gpu=GPU_JOB,
    log:
        "results/logs/base_model.log",
    benchmark:
        "results/benchmarks/base_model.tsv"
    shell:
        "{GPU_PREFIX}{HARNESS} warmstart --settings {params.s:q} > {log} 2>&1"
