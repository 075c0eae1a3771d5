"""The base-model stage: the model RL starts from.

Two kinds:
- built from a config (``model: {hidden_size, layers, heads}``): a tiny Llama with a character
  tokenizer, warm-started (supervised) on a weighted mix of suites' train splits: math with the
  verbose chain-of-thought generator (harness/tasks/math_cot.py), every other suite with its
  items' ``solution`` text;
- pretrained (``model: {pretrained: <HF dir or hub id>}``): loaded as is, then warm-started
  only if ``warmstart.steps`` > 0.

Either way the result is an HF checkpoint at ``out_dir``/model and a ``warmstart.json`` with the
loss curve and the greedy validation accuracy per suite.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from harness.io import atomic_write_json, read_jsonl
from harness.prompts import format_prompt
from harness.model import build_char_tokenizer, build_tiny_llama, count_parameters, load_pretrained, save_checkpoint
from harness.seeding import seed_everything, set_threads
from harness.tasks import math_world
from harness.tasks.math_cot import sft_examples
from harness.train.warmstart import warm_start


def mix_counts(weights: dict[str, float], total: int) -> dict[str, int]:
    """Split ``total`` examples over suites in proportion to ``weights`` (largest remainder).

    >>> mix_counts({"math": 0.5, "code": 0.25, "science": 0.25}, 10)
    {'math': 5, 'code': 3, 'science': 2}
    """
    norm = sum(weights.values())
    if norm <= 0:
        raise ValueError(f"warm-start suite weights must sum to > 0, got {weights}")
    exact = {k: total * w / norm for k, w in weights.items()}
    counts = {k: int(v) for k, v in exact.items()}
    rest = total - sum(counts.values())
    for k in sorted(exact, key=lambda k: (-(exact[k] - counts[k]), list(weights).index(k)))[:rest]:
        counts[k] += 1
    return counts


def warmstart_pairs(
    suites: dict[str, dict[str, Any]], n: int, seed: int, world: dict[str, Any]
) -> list[tuple[str, str]]:
    """``n`` (prompt, solution) pairs mixed over ``suites`` by their ``weight``.

    ``suites``: suite -> {"train": JSONL path, "weight": float}. Math pairs come from the
    verbose generator; other suites' pairs are their items' ``solution`` (drawn with
    replacement). Deterministic given ``seed``.
    """
    counts = mix_counts({k: float(v.get("weight", 1.0)) for k, v in suites.items()}, n)
    pairs: list[tuple[str, str]] = []
    for i, (suite, spec) in enumerate(suites.items()):
        items = read_jsonl(spec["train"])
        if not items:
            raise ValueError(f"warm start: suite {suite!r} has no train items ({spec['train']})")
        if suite == "math":
            pairs += sft_examples(items, counts[suite], seed, math_world(world))
            continue
        missing = [it["id"] for it in items if not it.get("solution")]
        if missing:
            raise ValueError(f"warm start: suite {suite!r} items have no 'solution' text (e.g. {missing[:3]})")
        rng = random.Random(seed * 7919 + i)
        pairs += [(it["prompt"], it["solution"]) for it in (items[rng.randrange(len(items))] for _ in range(counts[suite]))]
    random.Random(seed).shuffle(pairs)
    return pairs


def build_base_model(
    *, suites: dict[str, dict[str, Any]], out_dir: str, model: dict[str, Any], warmstart: dict[str, Any],
    world: dict[str, Any], max_new_tokens: int = 160, val_prompts: int = 363, device: str = "cpu",
    dtype: str = "float32",
) -> dict[str, Any]:
    """Build (or load) the base model, warm-start it, save it as an HF checkpoint at ``out_dir``/model.

    ``suites``: suite -> {"train": JSONL, "validation": JSONL, "weight": float}, the warm-start
    mix. ``device``/``dtype`` come from the config's ``device`` and ``model.dtype`` (the dtype
    acts through ``model``; it is a parameter so that the job's settings name it). ``world`` is the math world (``data.math``), used for the verbose math solutions.
    Writes ``out_dir``/warmstart.json with the loss curve and greedy validation accuracy
    (``val_accuracy_<suite>``, and plain ``val_accuracy`` when there is one suite).
    """
    from harness.train.loop import TrainSettings, validation_accuracy

    set_threads(int(warmstart.get("threads", 1)))
    seed = int(warmstart.get("seed", 0))
    seed_everything(seed)
    if model.get("pretrained"):
        net, tokenizer = load_pretrained(model)
    else:
        tokenizer = build_char_tokenizer()
        net = build_tiny_llama(len(tokenizer), model, tokenizer)
    net.to(device)
    steps, bs = int(warmstart["steps"]), int(warmstart["batch_size"])
    val = {suite: read_jsonl(spec["validation"])[:val_prompts] for suite, spec in suites.items()}
    val = {suite: items for suite, items in val.items() if items}
    probe = TrainSettings(objective="", seed=seed, base_model="", train_data="", validation_data="", out_dir="",
                          max_new_tokens=max_new_tokens, prompt_format=model.get("prompt_format") or {})

    def eval_fn(step: int) -> dict[str, float]:
        row: dict[str, float] = {}
        for suite, items in val.items():
            acc = validation_accuracy(net, tokenizer, items, probe, step)  # probe: greedy (val_samples 0)
            row.update({f"{k}_{suite}": v for k, v in acc.items()})
            if len(val) == 1:
                row.update(acc)
        return row

    if steps > 0:
        fmt = model.get("prompt_format") or {}
        pairs = [(format_prompt(tokenizer, {"prompt": p}, fmt), sol) for p, sol in warmstart_pairs(suites, steps * bs, seed, world)]
        log = warm_start(
            net, tokenizer, pairs, steps=steps, batch_size=bs, lr=float(warmstart["lr"]),
            warmup_steps=int(warmstart.get("warmup_steps", 50)), seed=seed, eval_fn=eval_fn,
            eval_every=max(1, steps // 4),
        )
    else:
        net.eval()
        log = [{"step": 0, **eval_fn(0)}]
    out = Path(out_dir)
    save_checkpoint(net, tokenizer, out / "model")
    summary = {"params": count_parameters(net), "model": model, "warmstart": warmstart,
               "suites": {k: v.get("weight", 1.0) for k, v in suites.items()}, "log": log, "final": log[-1]}
    atomic_write_json(out / "warmstart.json", summary)
    return summary
