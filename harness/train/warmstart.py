"""Supervised warm start: teach the tiny model the verbose chain-of-thought format.

Loss on completion tokens only (the prompt is context). Deterministic given the seed.
"""
from __future__ import annotations

import math
import random
import time
from typing import Any, Callable

import torch
from tqdm import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase


def collate_sft(
    tokenizer: PreTrainedTokenizerBase, pairs: list[tuple[str, str]]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(prompt, solution) pairs -> input_ids [N, L], attention_mask [N, L], labels [N, L].

    Right-padded; labels are -100 on prompt and padding, so only the solution and its EOS
    are learned.
    """
    rows, label_rows = [], []
    for prompt, solution in pairs:
        p = tokenizer(prompt)["input_ids"]
        s = tokenizer(solution, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        rows.append(p + s)
        label_rows.append([-100] * len(p) + s)
    L = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id
    ids = torch.full((len(rows), L), pad, dtype=torch.long)
    labels = torch.full((len(rows), L), -100, dtype=torch.long)
    attn = torch.zeros((len(rows), L), dtype=torch.long)
    for i, (r, lab) in enumerate(zip(rows, label_rows)):
        ids[i, : len(r)] = torch.tensor(r)
        labels[i, : len(lab)] = torch.tensor(lab)
        attn[i, : len(r)] = 1
    return ids, attn, labels


def warm_start(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: list[tuple[str, str]],
    *,
    steps: int,
    batch_size: int,
    lr: float,
    warmup_steps: int,
    seed: int,
    eval_fn: Callable[[int], dict[str, float]] | None = None,
    eval_every: int = 0,
) -> list[dict[str, Any]]:
    """Train ``steps`` AdamW steps with a warmup + cosine schedule; returns the log rows."""
    rng = random.Random(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.01)

    def lr_at(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, steps - warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    model.train()
    log: list[dict[str, Any]] = []
    t0 = time.time()
    bar = tqdm(range(steps), desc="warm start", unit="step", mininterval=2.0)
    for step in bar:
        batch = [pairs[rng.randrange(len(pairs))] for _ in range(batch_size)]
        ids, attn, labels = collate_sft(tokenizer, batch)
        out = model(input_ids=ids, attention_mask=attn, labels=labels, use_cache=False)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        row: dict[str, Any] = {"step": step + 1, "loss": float(out.loss.detach()), "wall_s": time.time() - t0}
        if eval_fn is not None and eval_every and ((step + 1) % eval_every == 0 or step + 1 == steps):
            model.eval()
            row.update(eval_fn(step + 1))
            model.train()
            bar.write(f"warm start step {step + 1}: " + ", ".join(f"{k}={v:.3f}" for k, v in row.items() if k != "step"))
        log.append(row)
        bar.set_postfix(loss=f"{row['loss']:.3f}")
    model.eval()
    return log
