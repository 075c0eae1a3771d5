"""Load and validate a comparison config; derive each job's settings from it.

Validation happens before any job runs (the Snakefile calls ``validate_config``):
unknown keys, wrong types, out-of-range values, unknown objectives or benchmarks and
hyperparameters an objective does not take all fail with a message that names the
file, the key and what is allowed.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"

from harness.tasks.registry import BENCHMARKS  # noqa: E402  name -> (suite, split)
from harness.tasks.specs import SPECS  # noqa: E402  the papers' benchmarks: name -> BenchmarkSpec


class ConfigError(ValueError):
    """A config that cannot run; the message names file, key and allowed values."""


def _key_path(err: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in err.absolute_path) or "(top level)"


def _describe(err: jsonschema.ValidationError, schema: dict[str, Any]) -> str:
    key = _key_path(err)
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed)) if isinstance(err.instance, dict) else []
        where = f"under '{key}'" if err.absolute_path else "at the top level"
        return f"unknown key(s) {extra} {where}; allowed: {allowed}"
    if err.validator == "required":
        return f"'{key}' is missing a required key: {err.message}"
    return f"key '{key}': {err.message}"


def load_schema() -> dict[str, Any]:
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        return yaml.safe_load(f)


def validate_config(config: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """Check ``config`` against the schema and the registries; returns it with defaults filled."""
    from harness import objectives

    schema = load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = "\n".join(f"  - {_describe(e, schema)}" for e in errors)
        raise ConfigError(f"{source}: invalid config:\n{lines}")
    known = objectives.available()
    problems = []
    for name in config["objectives"]:
        registered, hp, _ = objective_entry(config, name)
        if registered not in known:
            where = f"objectives.{name}" + (".objective" if registered != name else "")
            problems.append(f"{where}: unknown objective {registered!r}; available: {known}")
            continue
        problems += _check_hyperparams(registered, hp, entry=name)
    for b in config["benchmarks"]:
        if b not in BENCHMARKS and b not in SPECS:
            problems.append(f"benchmarks: unknown benchmark '{b}'; available: {sorted(BENCHMARKS)} (arena) and "
                            f"{sorted(SPECS)} (the papers', harness/tasks/specs.py)")
    problems += _check_eval_sampling(config)
    problems += _check_data_blocks(config)
    problems += _check_suites_and_model(config)
    m = config["data"].get("math", {})
    if m.get("min_terms", 2) > m.get("max_terms", 3):
        problems.append("data.math.min_terms must be <= data.math.max_terms")
    if m.get("lo", 1) > m.get("hi", 19):
        problems.append("data.math.lo must be <= data.math.hi")
    t = config["train"]
    if t.get("micro_batch_size") and t["micro_batch_size"] % t["group_size"]:
        problems.append(f"train.micro_batch_size ({t['micro_batch_size']}) must be a multiple of train.group_size ({t['group_size']}): micro-batches are whole groups")
    if t.get("updates_per_batch", 1) > t["prompts_per_step"]:
        problems.append("train.updates_per_batch must be <= train.prompts_per_step (minibatches are whole groups)")
    ref = config["report"].get("reference_objective", "grpo")
    if ref not in config["objectives"]:
        problems.append(f"report.reference_objective '{ref}' is not among objectives {sorted(config['objectives'])}")
    else:
        problems += _check_calibration(config, ref)
    if problems:
        raise ConfigError(f"{source}: invalid config:\n" + "\n".join(f"  - {p}" for p in problems))
    return config


def _check_eval_sampling(config: dict[str, Any]) -> list[str]:
    """`eval.sampling` names papers' benchmarks of this config, and each entry is one that
    `harness.evaluate.sampling_configs` accepts (greedy exactly at temperature 0, with k = 1)."""
    sampling = config["eval"].get("sampling") or {}
    problems = []
    for name, entries in sampling.items():
        if name not in config["benchmarks"]:
            problems.append(f"eval.sampling.{name}: '{name}' is not among benchmarks {list(config['benchmarks'])}; "
                            "add it there or remove its sampling")
        elif name not in SPECS:
            problems.append(f"eval.sampling.{name}: '{name}' is an arena benchmark; sampling configs are for the "
                            f"papers' benchmarks {sorted(SPECS)} (arena ones sample with eval.samples/temperature)")
        else:
            from harness.evaluate import sampling_configs  # imports torch/transformers: only when needed

            try:
                sampling_configs(SPECS[name], entries, int(config["eval"]["max_new_tokens"]))
            except ValueError as e:
                msg = str(e)  # "<name>: sampling[i]: ..." -> "eval.sampling.<name>[i]: ..."
                problems.append(msg.replace(f"{name}: sampling[", f"eval.sampling.{name}[", 1)
                                if msg.startswith(f"{name}: sampling[") else f"eval.sampling.{name}: {msg}")
    return problems


def _check_data_blocks(config: dict[str, Any]) -> list[str]:
    """Every benchmark's suite must be generable; embedded worlds reject unknown keys now."""
    from harness.tasks import math_world
    from harness.tasks.code_synth import code_world
    from harness.tasks.science import science_world

    builders = {"math": math_world, "code": code_world, "science": science_world}
    problems = []
    for suite, world in config["data"].items():
        if suite not in {s for s, _ in BENCHMARKS.values()}:
            problems.append(f"data.{suite}: unknown suite; available: {sorted({s for s, _ in BENCHMARKS.values()})}")
        elif suite in builders:
            try:
                builders[suite]({k: v for k, v in (world or {}).items() if k != "limit"})
            except (TypeError, ValueError) as e:
                msg = str(e)
                problems.append(msg if msg.startswith(f"data.{suite}") else f"data.{suite}: {msg}")
    return problems


def _check_suites_and_model(config: dict[str, Any]) -> list[str]:
    """Warm-start and RL suites exist and have train data; the model is built or pretrained."""
    from harness.tasks.registry import SUITES

    problems = []
    for suite in warmstart_suites(config):
        if suite not in SUITES:
            problems.append(f"warmstart.suites.{suite}: unknown suite; available: {sorted(SUITES)}")
        elif suite == "humaneval":
            problems.append("warmstart.suites.humaneval: HumanEval has a test split only; it cannot be trained on")
    suite = train_suite(config)
    if suite not in SUITES:
        problems.append(f"train.suite: unknown suite {suite!r}; available: {sorted(SUITES)}")
    elif suite == "humaneval":
        problems.append("train.suite: HumanEval has a test split only; it cannot be trained on")
    model = config["model"]
    built = [k for k in ("hidden_size", "layers", "heads") if k in model]
    if model.get("pretrained"):
        if built:
            problems.append(f"model: give either 'pretrained' or a size to build ({built}), not both")
    elif len(built) < 3:
        missing = sorted({"hidden_size", "layers", "heads"} - set(built))
        problems.append(f"model: missing {missing} (or give 'pretrained': an HF model directory or hub id)")
    elif int(config["warmstart"]["steps"]) < 1:
        problems.append("warmstart.steps: a model built from a config needs at least 1 warm-start step")
    return problems


def _check_hyperparams(name: str, hp: dict[str, Any], entry: str | None = None) -> list[str]:
    """Build the objective once so its own checks (eps_high >= eps_low, ...) run now."""
    from harness import objectives

    problems, where = [], f"objectives.{entry or name}"
    try:
        objectives.get(name, **hp)
    except TypeError as e:
        cls = objectives._REGISTRY[name]
        params = [p for p in inspect.signature(cls).parameters if p not in ("self", "kwargs")]
        problems.append(f"{where}: {e}; allowed hyperparameters: {params} (and {list(ENTRY_KEYS)})")
    except ValueError as e:
        problems.append(f"{where}: {e}")
    return problems


#: Keys of an `objectives:` entry that are not hyperparameters of the objective's class.
#: - objective: the registered objective the entry trains (default: the entry's own name), so
#:   one objective can be trained twice under two names (the A/A control);
#: - seed_stream: an integer that gives the entry sampling randomness independent of the other
#:   entries with the same seed (default 0). The prompt order stays the seed's, as for every
#:   paired comparison; only the sampling and initialisation stream changes.
ENTRY_KEYS = ("objective", "seed_stream")


def objective_entry(config: dict[str, Any], name: str) -> tuple[str, dict[str, Any], int]:
    """(registered objective, its hyperparameters, seed stream) of the `objectives.<name>` entry."""
    hp = dict(config["objectives"][name] or {})
    registered = str(hp.pop("objective", name))
    seed_stream = int(hp.pop("seed_stream", 0))
    return registered, hp, seed_stream


def calibration_controls(config: dict[str, Any]) -> dict[str, str]:
    """{"null_control": name, "positive_control": name} of the configured controls (may be empty)."""
    return {k: v for k, v in (config.get("calibration") or {}).items() if v}


def _check_calibration(config: dict[str, Any], ref: str) -> list[str]:
    """The A/A control trains the reference objective again with another seed stream; the
    positive control is a separate entry. Both must be trained entries of `objectives:`."""
    controls = calibration_controls(config)
    problems = [f"calibration.{k}: '{v}' is not among objectives {sorted(config['objectives'])}"
                for k, v in controls.items() if v not in config["objectives"]]
    null = controls.get("null_control")
    if null and null in config["objectives"]:
        ref_obj, ref_hp, ref_stream = objective_entry(config, ref)
        obj, hp, stream = objective_entry(config, null)
        if (obj, hp) != (ref_obj, ref_hp):
            problems.append(f"calibration.null_control: '{null}' must train the reference objective '{ref}' "
                            f"with the same hyperparameters (got objective {obj!r} {hp} vs {ref_obj!r} {ref_hp})")
        if stream == ref_stream:
            problems.append(f"calibration.null_control: '{null}' needs a seed_stream different from '{ref}' "
                            f"({ref_stream}); with the same stream it would repeat the reference exactly")
    positive = controls.get("positive_control")
    if positive and positive == null:
        problems.append("calibration: null_control and positive_control must be different entries")
    return problems


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file and validate it."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    try:
        with open(path, encoding="utf-8") as f:
            config = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    return validate_config(config, source=str(path))


# ---------------------------------------------------------------- job settings
# Each job gets exactly the part of the config it depends on, as Snakemake params: a change
# to one objective's hyperparameters reruns that objective's jobs and nothing else.

RESULTS = "results"


def data_settings(config: dict[str, Any], suite: str) -> dict[str, Any]:
    return {"suite": suite, "out_dir": f"{RESULTS}/data/{suite}", "world": config["data"].get(suite, {})}


def warmstart_suites(config: dict[str, Any]) -> dict[str, float]:
    """Suite -> sampling weight of the supervised warm start (default: the RL suite alone)."""
    return dict(config["warmstart"].get("suites") or {train_suite(config): 1.0})


def train_suite(config: dict[str, Any]) -> str:
    """The suite whose train split RL samples prompts from and whose validation split it tracks."""
    return str(config["train"].get("suite", "math"))


def pretrained_input(config: dict[str, Any]) -> list[str]:
    """The pretrained model directory as a workflow input when a rule of this project makes it
    (under models/); a hub id or an outside path is not a file Snakemake tracks."""
    name = str(config["model"].get("pretrained") or "")
    return [name.rstrip("/")] if name.startswith("models/") else []


def warmstart_settings(config: dict[str, Any]) -> dict[str, Any]:
    return {
        "suites": {
            suite: {
                "train": f"{RESULTS}/data/{suite}/train.jsonl",
                "validation": f"{RESULTS}/data/{suite}/validation.jsonl",
                "weight": float(weight),
            }
            for suite, weight in warmstart_suites(config).items()
        },
        "out_dir": f"{RESULTS}/base",
        "model": config["model"],
        "warmstart": {k: v for k, v in config["warmstart"].items() if k != "suites"},
        "world": config["data"].get("math", {}),
        "max_new_tokens": config["train"]["max_new_tokens"],
        "val_prompts": config["train"].get("val_prompts", 363),
        **scale_settings(config),
    }


def train_settings(config: dict[str, Any], objective: str, seed: int) -> dict[str, Any]:
    suite = train_suite(config)
    return {
        **{k: v for k, v in config["train"].items() if k != "suite"},
        "objective": objective,
        "seed": int(seed),
        **_entry_settings(config, objective),
        "base_model": f"{RESULTS}/base/model",
        "train_data": f"{RESULTS}/data/{suite}/train.jsonl",
        "validation_data": f"{RESULTS}/data/{suite}/validation.jsonl",
        "out_dir": f"{RESULTS}/runs/{objective}/seed{seed}",
        "threads": int(config.get("threads", 1)),
        **scale_settings(config, with_prompt_format=True),
        **({"gradient_checkpointing": True} if config["model"].get("gradient_checkpointing") else {}),
        **({"rollout": config["rollout"]} if config.get("rollout") else {}),
    }


def _entry_settings(config: dict[str, Any], name: str) -> dict[str, Any]:
    """The hyperparameters of entry ``name``, plus its registered objective and seed stream
    only where they differ from the defaults (so existing jobs' params, and Snakemake's
    rerun decisions, stay as they were)."""
    registered, hp, seed_stream = objective_entry(config, name)
    return {"hyperparams": hp,
            **({"registered_objective": registered} if registered != name else {}),
            **({"seed_stream": seed_stream} if seed_stream else {})}


def scale_settings(config: dict[str, Any], *, with_prompt_format: bool = False) -> dict[str, Any]:
    """Device and dtype of a job (and, if asked, the model's prompt format), only where they
    differ from CPU / float32 / raw prompts (so the embedded comparison's job settings, and its
    Snakemake params, stay as they were)."""
    out: dict[str, Any] = {}
    if with_prompt_format and config["model"].get("prompt_format"):
        out["prompt_format"] = config["model"]["prompt_format"]
    if config.get("device", "cpu") != "cpu":
        out["device"] = config["device"]
    if config["model"].get("dtype", "float32") != "float32":
        out["dtype"] = config["model"]["dtype"]
    return out


def checkpoint_of(objective: str, seed: int) -> str:
    """The model directory an (objective, seed) evaluation reads; "base" is the warm start."""
    return f"{RESULTS}/base/model" if objective == "base" else f"{RESULTS}/runs/{objective}/seed{seed}/model"


def eval_settings(config: dict[str, Any], objective: str, seed: int, benchmark: str) -> dict[str, Any]:
    """Settings of one evaluation (harness.evaluate.run_evaluation). An arena benchmark reads its
    generated split (results/data/<suite>/<split>.jsonl) and samples per eval.samples; a papers'
    benchmark (harness/tasks/specs.py) reads its local copy <eval.benchmark_dir>/<name> (None:
    the copy under $HARNESS_BENCHMARK_DIR, else the hub) and is scored under eval.sampling.<name>
    when given (else the spec's paper setting)."""
    ev = config["eval"]
    common = {
        "checkpoint": checkpoint_of(objective, seed),
        "out": f"{RESULTS}/eval/{objective}/seed{seed}/{benchmark}.json",
        "objective": objective,
        "seed": int(seed),
        "benchmark": benchmark,
        "max_new_tokens": ev["max_new_tokens"],
        "batch_size": ev["batch_size"],
        "threads": int(config.get("threads", 1)),
        "run_json": None if objective == "base" else f"{RESULTS}/runs/{objective}/seed{seed}/run.json",
        **scale_settings(config, with_prompt_format=True),
        **({"backend": ev["backend"]} if ev.get("backend", "hf") != "hf" else {}),
    }
    if benchmark in SPECS:
        sampling = (ev.get("sampling") or {}).get(benchmark)
        return {
            **common,
            "data": f"{ev['benchmark_dir'].rstrip('/')}/{benchmark}" if ev.get("benchmark_dir") else None,
            **({"sampling": sampling} if sampling is not None else {}),
        }
    suite, split = BENCHMARKS[benchmark]
    return {
        **common,
        "data": f"{RESULTS}/data/{suite}/{split}.jsonl",
        **({"samples": int(ev["samples"]), "temperature": float(ev.get("temperature", 1.0))}
           if ev.get("samples") else {}),
    }
