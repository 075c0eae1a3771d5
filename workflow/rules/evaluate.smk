def eval_inputs(w):
    """The checkpoint, its run.json and, for an arena benchmark, its generated split. A papers'
    benchmark (harness/tasks/specs.py) reads a local copy or the hub, which no rule makes: its
    dataset.checksum in the eval JSON says which items it saw."""
    s = hc.eval_settings(config, w.objective, int(w.seed), w.benchmark)
    data = [] if w.benchmark in SPECS else [s["data"]]
    return [s["checkpoint"]] + data + ([s["run_json"]] if s["run_json"] else [])


def eval_suite(w):
    return [benchmark_suite(w.benchmark)]


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
