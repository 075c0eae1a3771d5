"""TEPO's entropy-mask margin: float noise between the trainer's two entropy passes vs one real update.

    .venv/bin/python benchmarks/tepo_entropy_noise.py [--model results/base/model] [--dtypes float32 bfloat16]

TEPO's KL mask acts on tokens whose entropy fell: H_theta (the training pass, with grad,
one minibatch at a time) below H_old (one no-grad pass over the whole rollout batch,
`harness.train.loop.rollout_signals`). The two passes see the rows in different batches,
hence different padding and bucket shapes, so even with the same parameters they differ
by float noise. This script measures that noise on the default config's model, as the
trainer does it:

1. the model: ``--model`` if it is a checkpoint, else the default config's tiny Llama
   warm-started as config/config.yaml says (``--warmstart-steps``, 450 there; minutes);
2. a rollout batch like one training step: ``--prompts`` train prompts x G, temperature 1;
3. per dtype: H_old in one no-grad pass; then, with the SAME parameters, H_theta with grad
   on the whole batch, on minibatches of half the groups (train.updates_per_batch 2) and
   on single groups (micro-batches); the difference is pure noise;
4. one real update as the trainer makes it (TEPO's loss on the first minibatch, AdamW at
   ``--lr``, grad clip 1.0) and H_theta on the second minibatch: a real change.

Prints, per pass, the largest |H_theta - H_old| (nats and as a share of H_old) and the
share of tokens each margin calls "falling" (noise rows: should be 0), with TEPO's
defaults among the margins.
"""
from __future__ import annotations

import argparse
import copy
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_MODEL_PATH, REPO, format_table, machine_line  # noqa: E402


def default_config() -> dict:
    import yaml

    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def warm_started_model(scratch: Path, steps: int) -> tuple[str, str]:
    """(checkpoint, description): the default config's model warm-started ``steps`` steps on the
    math suite already written under ``scratch``/data."""
    from harness.train.base_model import build_base_model

    cfg = default_config()
    world = cfg["data"]["math"]
    warmstart = {k: v for k, v in cfg["warmstart"].items() if k != "suites"} | {"steps": steps, "threads": 1}
    build_base_model(
        suites={"math": {"train": str(scratch / "data/train.jsonl"), "validation": str(scratch / "data/validation.jsonl")}},
        out_dir=str(scratch / "base"), model=cfg["model"], warmstart=warmstart, world=world,
        max_new_tokens=int(cfg["train"]["max_new_tokens"]), val_prompts=16,
    )
    return str(scratch / "base" / "model"), f"config/config.yaml model {cfg['model']}, warm-started {steps} steps"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(DEFAULT_MODEL_PATH),
                    help="HF checkpoint (default: the warm start); if it does not exist, warm-start one")
    ap.add_argument("--warmstart-steps", type=int, default=450, help="warm-start steps when there is no checkpoint")
    ap.add_argument("--prompts", type=int, default=8, help="prompts of the rollout batch (train.prompts_per_step)")
    ap.add_argument("--group-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=160)
    ap.add_argument("--lr", type=float, default=3e-5, help="the real update's learning rate (train.lr)")
    ap.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch

    from harness import objectives
    from harness.io import read_jsonl
    from harness.model import load_checkpoint
    from harness.objectives import parts
    from harness.prompts import format_prompts
    from harness.rollout.hf import Rollouts, completion_logprobs, sample
    from harness.seeding import seed_everything, set_threads
    from harness.tasks import write_suite
    from harness.train.loop import score

    set_threads(1)
    tepo = objectives.get("tepo")
    margins = {  # name -> (atol, rtol)
        "none": (0.0, 0.0),
        "old 1e-6 nats": (1e-6, 0.0),
        f"default {tepo.entropy_atol:g}+{tepo.entropy_rtol:g}*H": (tepo.entropy_atol, tepo.entropy_rtol),
        "1e-3*H": (0.0, 1e-3),
        "bf16 0.25*H": (0.0, 0.25),
    }
    G = args.group_size

    def rows_of(r: Rollouts, idx: torch.Tensor) -> Rollouts:
        return Rollouts(r.sequences[idx], r.attention_mask[idx], r.completion_mask[idx], r.prompt_len,
                        [r.texts[i] for i in idx.tolist()])

    with tempfile.TemporaryDirectory(prefix="tepo_entropy_noise.") as tmp:
        write_suite("math", Path(tmp) / "data", default_config()["data"]["math"])
        if (Path(args.model) / "config.json").exists():
            path, note = args.model, f"checkpoint {args.model}"
        else:
            path, note = warm_started_model(Path(tmp), args.warmstart_steps)
        model, tokenizer = load_checkpoint(path)
        items = read_jsonl(Path(tmp) / "data" / "train.jsonl")[: args.prompts]
        seed_everything(args.seed)
        r = sample(model, tokenizer, format_prompts(tokenizer, items, {}), num_samples=G,
                   max_new_tokens=args.max_new_tokens, temperature=1.0)
        rewards = score(r.texts, [it for it in items for _ in range(G)])
        checkpoints = {dtype: load_checkpoint(path, dtype=dtype)[0] for dtype in args.dtypes}

    B = r.sequences.shape[0]
    groups = torch.arange(B).view(-1, G)
    halves = [c.reshape(-1) for c in torch.chunk(groups, 2)]
    table, notes = [], []
    for dtype, model in checkpoints.items():
        model.train()
        ref = copy.deepcopy(model).eval()
        with torch.no_grad():
            old_lp, old_h = completion_logprobs(model, r, with_entropy=True)
            ref_lp, _ = completion_logprobs(ref, r)
        m = r.completion_mask.bool()
        notes.append(f"{dtype}: {int(m.sum())} completion tokens, H_old median {old_h[m].median():.4f} nats, "
                     f"90th percentile {torch.quantile(old_h[m], 0.9):.3f}")

        def row(label: str, drop: torch.Tensor, h_old: torch.Tensor) -> list[str]:
            """drop = H_old - H_theta on completion tokens."""
            rel = drop.abs() / h_old.clamp(min=1e-30)
            shares = [f"{float((drop > a + rt * h_old).float().mean()):.4f}" for a, rt in margins.values()]
            return [f"{dtype} {label}", str(drop.numel()), f"{float(drop.abs().max()):.2e}", f"{float(rel.max()):.2e}",
                    f"{float(rel.median()):.2e}", f"{float(torch.quantile(rel, 0.9)):.2e}", *shares]

        for label, chunks in [("noise: whole batch", [groups.reshape(-1)]), ("noise: minibatches", halves),
                              ("noise: single groups", list(groups))]:
            drops, olds = [], []
            for idx in chunks:
                _, h = completion_logprobs(model, rows_of(r, idx), with_entropy=True)  # with grad, as in training
                mm = r.completion_mask[idx].bool()
                drops.append((old_h[idx] - h.detach())[mm])
                olds.append(old_h[idx][mm])
            table.append(row(label, torch.cat(drops), torch.cat(olds)))

        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0, betas=(0.9, 0.99))
        first, second = halves
        sub = rows_of(r, first)
        lp, h = completion_logprobs(model, sub, with_entropy=True)
        batch = objectives.RolloutBatch(
            logprobs=lp, old_logprobs=old_lp[first], mask=sub.completion_mask, rewards=rewards[first], group_size=G,
            ref_logprobs=ref_lp[first], entropy=h, old_entropy=old_h[first],
        )
        loss, metrics = tepo.loss(batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            _, h2 = completion_logprobs(model, rows_of(r, second), with_entropy=True)
        mm = r.completion_mask[second].bool()
        table.append(row(f"real: after 1 update (lr {args.lr:g})", (old_h[second] - h2)[mm], old_h[second][mm]))
        adv = parts.group_normalised_advantage(rewards[second], G)[:, None].expand_as(mm)[mm]
        drop = (old_h[second] - h2)[mm]
        a, rt = tepo.entropy_atol, tepo.entropy_rtol
        notes.append(f"{dtype}: kl_mask_frac on the first minibatch (same parameters, TEPO defaults) "
                     f"{metrics['kl_mask_frac']:.4f}; after the update, falling tokens with A > 0 under the default "
                     f"margin: {float(((drop > a + rt * old_h[second][mm]) & (adv > 0)).float().mean()):.4f} of all tokens")

    print(f"tepo_entropy_noise: H_old (one no-grad pass over B={B}: {args.prompts} prompts x G={G}) against "
          f"H_theta (with grad) on other row sets, same parameters (noise) and after one update (real)")
    print(f"model: {note}")
    print(machine_line())
    print(format_table(["pass", "tokens", "max |dH| nats", "max |dH|/H_old", "median |dH|/H_old", "p90 |dH|/H_old",
                        *[f"falling: {k}" for k in margins]], table))
    for line in notes:
        print(line)


if __name__ == "__main__":
    main()
