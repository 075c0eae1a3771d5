# Token-credit pictures (harness/credit.py): one fixed rollout batch sampled from the reference
# objective's first-seed checkpoint, and the credit -dL/d log pi(token) every configured objective
# gives each of its tokens (credit.html side by side, credit.png, credit_similarity.csv vs the
# reference). The KL reference is the warm start, as in training.
CREDIT_REFERENCE = config["report"].get("reference_objective", "grpo")
CREDIT_SEED = SEEDS[0]


rule credit:
    input:
        sandbox_on_this_node(lambda w: [hc.train_suite(config)]),
        checkpoint=f"results/runs/{CREDIT_REFERENCE}/seed{CREDIT_SEED}/model",
        run=f"results/runs/{CREDIT_REFERENCE}/seed{CREDIT_SEED}/run.json",
        data=f"results/data/{hc.train_suite(config)}/train.jsonl",
        base="results/base/model",
    output:
        "results/credit/credit.json",
        "results/credit/credit.html",
        "results/credit/credit.png",
        "results/credit/credit_similarity.csv",
        "results/credit/credit_similarity.json",
    params:
        resolved=settings(config),
        objectives=",".join(OBJECTIVES),
        seed=CREDIT_SEED,
    threads: THREADS
    resources:
        gpu=GPU_JOB,
    log:
        "results/logs/credit.log",
    benchmark:
        "results/benchmarks/credit.tsv"
    shell:
        "{GPU_PREFIX}{HARNESS} credit --config-json {params.resolved:q} --checkpoint {input.checkpoint:q} --objectives {params.objectives:q}"
        " --seed {params.seed} --data {input.data:q} --reference-model {input.base:q} --out results/credit > {log} 2>&1"
