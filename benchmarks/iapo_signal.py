"""IAPO's early-exit answer entropy: KV reuse vs naive per-prefix recomputation, from one run.

    .venv/bin/python benchmarks/iapo_signal.py [--batch 64] [--max-new-tokens 80] [--model results/base/model]

The batch is a real rollout: the tiny model samples G=8 completions for each of
batch/8 math-world training prompts (temperature 1), exactly as the trainer does. Both
functions then compute, for every completion prefix, the entropy of the next token
after "prefix + answer delimiter": `early_exit_answer_entropy` with one sequence forward
plus one forward of all delimiter blocks over the shared KV cache, and
`naive_early_exit_answer_entropy` with one forward per (sequence, prefix). Prints both
times, the speed-up (target >= 5x) and the largest disagreement on completion tokens.
The KV-reuse figure is the median of `--repeats` runs; the naive one runs once.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_MODEL_PATH, format_table, machine_line, peak_rss_mib, prepare_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64, help="B, completions (a multiple of the group size)")
    ap.add_argument("--group-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=80)
    ap.add_argument("--model", default=str(DEFAULT_MODEL_PATH),
                    help="HF checkpoint (default: the warm start); a random tiny Llama if it does not exist")
    ap.add_argument("--repeats", type=int, default=3, help="runs of the KV-reuse version (median reported)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if args.batch % args.group_size:
        ap.error(f"--batch {args.batch} is not a multiple of --group-size {args.group_size}")

    import torch

    from harness.model import load_checkpoint
    from harness.rollout.hf import generate
    from harness.rollout.signals import early_exit_answer_entropy, naive_early_exit_answer_entropy
    from harness.seeding import seed_everything, set_threads
    from harness.tasks.math_cot import ANSWER_DELIMITER, MathWorld, make_items

    set_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="iapo_signal.") as tmp:
        model_path, model_note = prepare_model(args.model, Path(tmp), args.seed)
        model, tokenizer = load_checkpoint(model_path)
    seed_everything(args.seed)
    prompts = [it["prompt"] for it in make_items("train", MathWorld(), limit=args.batch // args.group_size)]
    r = generate(model, tokenizer, prompts, num_samples=args.group_size, max_new_tokens=args.max_new_tokens)
    delimiter = tokenizer(ANSWER_DELIMITER, add_special_tokens=False)["input_ids"]
    inputs = dict(sequences=r.sequences, prompt_len=r.prompt_len, completion_mask=r.completion_mask,
                  delimiter_ids=delimiter, attention_mask=r.attention_mask)

    kv_times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        fast = early_exit_answer_entropy(model, **inputs)
        kv_times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    slow = naive_early_exit_answer_entropy(model, **inputs)
    naive_s = time.perf_counter() - t0
    kv_s = statistics.median(kv_times)

    mask = r.completion_mask.bool()
    max_diff = float((fast - slow)[mask].abs().max())
    B, T = r.completion_mask.shape
    prefixes = int(mask.sum())
    print(f"iapo_signal: early-exit answer entropy on a sampled rollout, B={B} ({B // args.group_size} prompts x "
          f"G={args.group_size}), prompt {r.prompt_len} tokens (left-padded), completions padded to T={T}, "
          f"mean length {r.lengths.float().mean():.1f} tokens, {prefixes} prefixes, delimiter {ANSWER_DELIMITER!r} "
          f"({len(delimiter)} tokens)")
    print(f"model: {model_note}")
    print(machine_line())
    rows = [
        ["naive (one forward per prefix)", f"{naive_s:.3f}", f"{prefixes}", f"{1000 * naive_s / prefixes:.3f}"],
        ["KV reuse (2 forwards)", f"{kv_s:.3f}", "2", f"{1000 * kv_s / prefixes:.3f}"],
    ]
    print(format_table(["version", "seconds", "forwards", "ms/prefix"], rows))
    print(f"speed-up naive/KV reuse: {naive_s / kv_s:.1f}x (target >= 5x); KV-reuse runs: "
          f"{', '.join(f'{t:.3f}' for t in kv_times)} s")
    print(f"agreement: max |KV - naive| over completion tokens = {max_diff:.2e} nats "
          f"(mean entropy {float(slow[mask].mean()):.3f}); peak RSS {peak_rss_mib():.0f} MiB")
    if not max_diff < 1e-3:
        raise SystemExit(f"the two versions disagree by {max_diff:.3g} nats: the KV-reuse version is wrong")


if __name__ == "__main__":
    main()
