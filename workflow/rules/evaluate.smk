def eval_inputs(w):
    s = hc.eval_settings(config, w.objective, int(w.seed), w.benchmark)
    return [s["checkpoint"], s["data"]] + ([s["run_json"]] if s["run_json"] else [])


def eval_suite(w):
    return [ALL_BENCHMARKS[w.benchmark][0]]


rule evaluate:
    input:
        eval_inputs,
        sandbox_on_this_node(eval_suite),
    output:
        "results/eval/{objective}/seed{seed}/{benchmark}.json",
    params:
        s=lambda w: settings(hc.eval_settings(config, w.objective, int(w.seed), w.benchmark)),
    threads: THREADS
    resources:
        gpu=GPU_JOB,
    log:
        "results/logs/eval/{objective}/seed{seed}/{benchmark}.log",
    benchmark:
        "results/benchmarks/eval/{objective}/seed{seed}/{benchmark}.tsv"
    shell:
        "{GPU_PREFIX}{HARNESS} evaluate --settings {params.s:q} > {log} 2>&1"
