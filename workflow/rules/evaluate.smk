def eval_inputs(w):
    s = hc.eval_settings(config, w.objective, int(w.seed), w.benchmark)
    return [s["checkpoint"], s["data"]] + ([s["run_json"]] if s["run_json"] else [])


rule evaluate:
    input:
        eval_inputs,
    output:
        "results/eval/{objective}/seed{seed}/{benchmark}.json",
    params:
        s=lambda w: settings(hc.eval_settings(config, w.objective, int(w.seed), w.benchmark)),
    threads: THREADS
    log:
        "results/logs/eval/{objective}/seed{seed}/{benchmark}.log",
    benchmark:
        "results/benchmarks/eval/{objective}/seed{seed}/{benchmark}.tsv"
    shell:
        "harness evaluate --settings {params.s:q} > {log} 2>&1"
