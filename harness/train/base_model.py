"""The base-model stage: a tiny Llama from a config, warm-started on verbose solutions."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.io import atomic_write_json, read_jsonl
from harness.model import build_char_tokenizer, build_tiny_llama, count_parameters, save_checkpoint
from harness.seeding import seed_everything, set_threads
from harness.tasks import math_world
from harness.tasks.math_cot import sft_examples
from harness.train.warmstart import warm_start


def build_base_model(
    *, train_data: str, validation_data: str, out_dir: str, model: dict[str, Any], warmstart: dict[str, Any],
    world: dict[str, Any], max_new_tokens: int = 160, val_prompts: int = 363,
) -> dict[str, Any]:
    """Train the warm start and save it as an HF checkpoint at ``out_dir``/model.

    Writes ``out_dir``/warmstart.json with the loss curve and greedy validation accuracy.
    """
    from harness.train.loop import TrainSettings, greedy_accuracy

    set_threads(int(warmstart.get("threads", 1)))
    seed = int(warmstart.get("seed", 0))
    seed_everything(seed)
    tokenizer = build_char_tokenizer()
    net = build_tiny_llama(len(tokenizer), model, tokenizer)
    items = read_jsonl(train_data)
    steps, bs = int(warmstart["steps"]), int(warmstart["batch_size"])
    pairs = sft_examples(items, steps * bs, seed, math_world(world))
    val_items = read_jsonl(validation_data)[:val_prompts]
    probe = TrainSettings(objective="", seed=seed, base_model="", train_data="", validation_data="", out_dir="", max_new_tokens=max_new_tokens)

    def eval_fn(step: int) -> dict[str, float]:
        return greedy_accuracy(net, tokenizer, val_items, probe)

    log = warm_start(
        net, tokenizer, pairs, steps=steps, batch_size=bs, lr=float(warmstart["lr"]),
        warmup_steps=int(warmstart.get("warmup_steps", 50)), seed=seed, eval_fn=eval_fn,
        eval_every=max(1, steps // 4),
    )
    out = Path(out_dir)
    save_checkpoint(net, tokenizer, out / "model")
    summary = {"params": count_parameters(net), "model": model, "warmstart": warmstart, "log": log, "final": log[-1]}
    atomic_write_json(out / "warmstart.json", summary)
    return summary
