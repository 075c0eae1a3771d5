"""Evaluate a checkpoint on a benchmark split: greedy decoding, verifier scores, one JSON.

The eval JSON (results/eval/{objective}/seed{seed}/{benchmark}.json) keeps every item's
score and length, in the benchmark's fixed item order, so comparisons pair by item.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from harness.io import atomic_write_json, read_json, read_jsonl
from harness.metrics.definitions import accuracy, mean_length, mean_length_correct
from harness.model import count_parameters, describe_model, load_checkpoint
from harness.prompts import format_prompts
from harness.rollout.hf import generate
from harness.seeding import seed_everything, set_threads
from harness.tasks.registry import verify_items


def evaluate_checkpoint(
    checkpoint: str | Path,
    items: list[dict[str, Any]],
    *,
    max_new_tokens: int,
    batch_size: int,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Greedy-decode every item and verify it. Returns per-item records and the responses."""
    model, tok = load_checkpoint(checkpoint)
    return evaluate_model(model, tok, items, max_new_tokens=max_new_tokens, batch_size=batch_size,
                          label=Path(checkpoint).parent.name)


def evaluate_model(
    model: torch.nn.Module,
    tok: Any,
    items: list[dict[str, Any]],
    *,
    max_new_tokens: int,
    batch_size: int,
    label: str = "",
    prompt_format: dict[str, Any] | None = None,
    backend: Any = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """``evaluate_checkpoint`` on a model already in memory (prompts as ``harness.prompts`` formats them)."""
    records: list[dict[str, Any]] = []
    texts: list[str] = []
    for start in tqdm(range(0, len(items), batch_size), desc=f"eval {label}", unit="batch", mininterval=2.0):
        chunk = items[start : start + batch_size]
        with torch.no_grad():
            r = (backend.generate if backend is not None else generate)(
                model, tok, format_prompts(tok, chunk, prompt_format), max_new_tokens=max_new_tokens, greedy=True)
        verdicts = verify_items(r.texts, chunk)
        for it, v, n, text in zip(chunk, verdicts, r.lengths.tolist(), r.texts):
            records.append({"id": it["id"], "score": v.score, "status": v.status, "length": int(n)})
            texts.append(text)
    return records, texts


def run_evaluation(
    *, checkpoint: str, data: str, out: str, objective: str, seed: int, benchmark: str,
    max_new_tokens: int, batch_size: int, threads: int = 1, run_json: str | None = None,
    prompt_format: dict[str, Any] | None = None, device: str = "cpu", dtype: str = "float32", backend: str = "hf",
) -> dict[str, Any]:
    """Evaluate and write the eval JSON atomically; returns it."""
    set_threads(threads)
    seed_everything(seed)
    items = read_jsonl(data)
    model, tok = load_checkpoint(checkpoint, dtype=dtype)
    model.to(device)
    from harness.rollout.backends import engine_or_none

    engine = engine_or_none(backend)
    records, _ = evaluate_model(model, tok, items, max_new_tokens=max_new_tokens, batch_size=batch_size,
                                label=Path(checkpoint).parent.name, prompt_format=prompt_format, backend=engine)
    scores = [r["score"] for r in records]
    lengths = [r["length"] for r in records]
    steps = int(read_json(run_json)["steps"]) if run_json else 0
    result = {
        "objective": objective,
        "seed": seed,
        "benchmark": benchmark,
        "domain": items[0]["domain"] if items else "",
        "checkpoint": str(checkpoint),
        "n": len(records),
        "accuracy": accuracy(scores),
        "mean_length": mean_length(lengths),
        "mean_length_correct": mean_length_correct(lengths, scores),
        "items": records,
        "decoding": {"greedy": True, "max_new_tokens": max_new_tokens, **({"prompt_format": prompt_format} if prompt_format else {})},
        "model": {"name": describe_model(model), "params": count_parameters(model)},
        "steps": steps,
    }
    atomic_write_json(out, result)
    return result
