# The objective arena: config -> data -> base model -> train -> evaluate -> report.
# Thin on purpose: the rules live in workflow/rules/, the logic in the `harness` package.
from harness.config import validate_config

# The embedded default; `--configfile X.yaml` replaces it whole (no key-by-key merge).
if not config:
    configfile: "config/config.yaml"
validate_config(config, source=", ".join(map(str, workflow.configfiles)) or "config")

include: "workflow/rules/common.smk"


rule all:
    input:
        "results/leaderboard.md",
        "results/audit.md",
        "results/credit/credit.html",

include: "workflow/rules/data.smk"
include: "workflow/rules/pretrained.smk"
include: "workflow/rules/base_model.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/credit.smk"
