rule data:
    output:
        expand("results/data/{{suite}}/{split}.jsonl", split=["train", "validation", "test"]),
    params:
        s=lambda w: settings(hc.data_settings(config, w.suite)),
    log:
        "results/logs/data/{suite}.log",
    benchmark:
        "results/benchmarks/data/{suite}.tsv"
    shell:
        "{HARNESS} data --settings {params.s:q} > {log} 2>&1"
