"""Our GRPO trainer vs TRL's GRPOTrainer on the same work, from one run.

    .venv/bin/python benchmarks/trainer_vs_trl.py [--steps 10] [--model results/base/model]

Both sides get the same checkpoint, the same prompts in the same order (the math world's
train split, ordered as our PromptStream would serve them), G=8 samples of 16 prompts per
step, the same token cap, temperature 1.0 with no top-k/top-p, the same reward (our math
verifier), GRPO with beta 0 and one update per batch, AdamW with the same lr, betas and
clipping, constant lr, and one torch thread. Each side runs in its own subprocess, one
after the other, so peak RSS (ru_maxrss) is per side. Steps/s and rollout tokens/s leave
out the first step (warm-up); whole-run seconds, including it, are printed too.

Where the time goes is printed for both sides: generation (TRL's HF generate call, our
`sample`),
scoring (the math verifier, whose workers are started before either side trains) and
update + rest (log-prob forward, backward, optimiser, bookkeeping), plus process CPU
seconds per step, which is steadier than wall clock when the machine is shared.

TRL is given its best fair settings for this CPU: bf16 off (CPU bf16 matmuls are ~100x
slower here), gradient checkpointing off, loss_type="grpo", beta 0 (no reference model),
num_iterations 1 and generation aligned with the optimiser step (so it skips the old
log-prob pass, as we do), no logging, saving, evaluation or progress bar. In trl 1.16
`per_device_train_batch_size` counts completions: 16 prompts x 8 = 128.

Our loop runs unchanged through `harness.train.loop.train`; the benchmark only wraps the
loop module's `sample`, `generate` and `score` names to clock them. It samples with its own
KV-cache loop (`harness.rollout.hf.sample`, finished rows dropped), validates greedily with
HF generate on one prompt at step 0 and after the last step, outside the timed steps, and
saves the final model (in a temp dir), counted only in "whole run".
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_MODEL_PATH, REPO, format_table, machine_line, peak_rss_mib, prepare_model  # noqa: E402

if TYPE_CHECKING:
    from harness.train.loop import TrainSettings

RESULT_TAG = "BENCH_RESULT "
Result = TypeVar("Result")


def settings_from(args: argparse.Namespace, work: Path, out_dir: Path) -> TrainSettings:
    """Our TrainSettings for this comparison (validation reduced to one prompt, no checkpoints)."""
    from harness.train.loop import TrainSettings

    return TrainSettings(
        objective="grpo", seed=args.seed, base_model=args.model_path,
        train_data=str(work / "train.jsonl"), validation_data=str(work / "validation.jsonl"), out_dir=str(out_dir),
        hyperparams={"eps": 0.2, "beta": 0.0}, steps=args.steps, prompts_per_step=args.prompts,
        group_size=args.group_size, max_new_tokens=args.max_new_tokens, temperature=1.0, lr=args.lr,
        weight_decay=0.0, grad_clip=1.0, updates_per_batch=1,
        # the loop validates at step 0 and at the last step: one prompt, outside the timed window
        val_every=10**9, val_prompts=1, ckpt_every=10**9, threads=args.threads,
    )


class StepClock:
    """Step boundaries (wall and process CPU time) and per-step generation / scoring seconds.

    ``boundaries[k]`` is the end of step k+1; the rates cover steps 2..N, so step 1 (warm-up:
    first allocations, lazy imports) stays out.
    """

    def __init__(self) -> None:
        self.boundaries: list[tuple[float, float]] = []
        self.generation_s: list[float] = []
        self.scoring_s: list[float] = []
        self.tokens: list[int] = []

    def mark(self) -> None:
        self.boundaries.append((time.perf_counter(), time.process_time()))

    def timed(self, into: list[float], fn: Callable[..., Result], *a: Any, **k: Any) -> Result:
        t0 = time.perf_counter()
        out = fn(*a, **k)
        into.append(time.perf_counter() - t0)
        return out

    def figures(self, steps: int) -> dict[str, float]:
        if len(self.boundaries) != steps or len(self.generation_s) != steps or len(self.scoring_s) != steps:
            raise RuntimeError(f"clocked {len(self.boundaries)} steps, {len(self.generation_s)} generations and "
                               f"{len(self.scoring_s)} scorings; expected {steps} of each")
        (w0, c0), (w1, c1) = self.boundaries[0], self.boundaries[-1]
        n, span = steps - 1, w1 - w0
        gen, scoring = sum(self.generation_s[1:]) / n, sum(self.scoring_s[1:]) / n
        return {"steps_per_s": n / span, "tokens_per_s": sum(self.tokens[1:]) / span, "cpu_s_per_step": (c1 - c0) / n,
                "generation_s_per_step": gen, "scoring_s_per_step": scoring,
                "update_s_per_step": span / n - gen - scoring, "timed_steps": n, "timed_s": span,
                "mean_completion_tokens": sum(self.tokens) / len(self.tokens)}


def run_ours(args: argparse.Namespace, work: Path) -> dict[str, float]:
    """Our loop, unchanged; the clock wraps the loop module's `sample`, `generate` and `score`.

    A training step starts with its sampling call (`sample`), so the start of step k+1's
    sampling ends step k; the last step ends where the loop starts its closing (greedy,
    one-prompt, `generate`) validation. Validation calls are not counted as generation.
    """
    from harness.train import loop

    clock = StepClock()
    real_sample, real_generate, real_score = loop.sample, loop.generate, loop.score
    in_training = {"now": False}

    def clocked_sample(*a: Any, **k: Any) -> Any:
        in_training["now"] = True
        if clock.generation_s:
            clock.mark()  # the end of the previous step
        r = clock.timed(clock.generation_s, real_sample, *a, **k)
        clock.tokens.append(int(r.lengths.sum()))
        return r

    def clocked_generate(*a: Any, **k: Any) -> Any:  # greedy validation only
        in_training["now"] = False
        if clock.generation_s and len(clock.boundaries) == args.steps - 1:
            clock.mark()  # the end of the last step
        return real_generate(*a, **k)

    def clocked_score(*a: Any, **k: Any) -> Any:
        return clock.timed(clock.scoring_s, real_score, *a, **k) if in_training["now"] else real_score(*a, **k)

    loop.sample, loop.generate, loop.score = clocked_sample, clocked_generate, clocked_score
    t0 = time.perf_counter()
    loop.train(settings_from(args, work, work / "ours"))
    whole = time.perf_counter() - t0
    clock.boundaries = clock.boundaries[: args.steps]
    return {**clock.figures(args.steps), "whole_run_s": whole}


def run_trl(args: argparse.Namespace, work: Path) -> dict[str, float]:
    """TRL's GRPOTrainer; the clock is a callback (step ends) plus wraps of its sampling call and our reward."""
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from harness.io import read_jsonl
    from harness.model import load_checkpoint
    from harness.train.loop import PromptStream
    from verifiers import verify_batch

    torch.set_num_threads(args.threads)
    model, tokenizer = load_checkpoint(args.model_path)
    # the prompts our trainer takes, in its order; TRL reads them unshuffled, 16 per step
    order = PromptStream(read_jsonl(work / "train.jsonl"), args.seed).take(args.prompts * args.steps)
    dataset = Dataset.from_list([{"prompt": it["prompt"], "answer": it["answer"]} for it in order])
    clock = StepClock()

    def math_reward(prompts: list[str], completions: list[str], completion_ids: list[list[int]], answer: list[str],
                    **_: Any) -> list[float]:
        clock.tokens.append(sum(len(c) for c in completion_ids))  # EOS included, as our lengths
        verdicts = clock.timed(clock.scoring_s, verify_batch, "math", completions, answer)
        return [v.score for v in verdicts]

    class StepEnds(TrainerCallback):
        def on_step_end(self, *_: Any, **__: Any) -> None:
            clock.mark()

    config = GRPOConfig(
        output_dir=str(work / "trl"), use_cpu=True, bf16=False, fp16=False, gradient_checkpointing=False,
        loss_type="grpo", beta=0.0, num_iterations=1, epsilon=0.2, scale_rewards="group",
        per_device_train_batch_size=args.prompts * args.group_size, gradient_accumulation_steps=1,
        num_generations=args.group_size, max_completion_length=args.max_new_tokens,
        temperature=1.0, top_p=1.0, top_k=0, learning_rate=args.lr, lr_scheduler_type="constant", warmup_steps=0,
        optim="adamw_torch", adam_beta1=0.9, adam_beta2=0.99, weight_decay=0.0, max_grad_norm=1.0,
        max_steps=args.steps, shuffle_dataset=False, seed=args.seed, dataloader_num_workers=0,
        report_to="none", logging_strategy="no", save_strategy="no", eval_strategy="no", disable_tqdm=True,
        log_completions=False,
    )
    t0 = time.perf_counter()
    trainer = GRPOTrainer(model=model, reward_funcs=math_reward, args=config, train_dataset=dataset,
                          processing_class=tokenizer, callbacks=[StepEnds()])
    real_sampling = trainer._generate_single_turn  # HF generate + EOS masking, TRL's rollout

    def clocked_sampling(*a: Any, **k: Any) -> Any:
        return clock.timed(clock.generation_s, real_sampling, *a, **k)

    trainer._generate_single_turn = clocked_sampling
    trainer.train()
    whole = time.perf_counter() - t0
    return {**clock.figures(args.steps), "whole_run_s": whole}


def run_side(args: argparse.Namespace) -> None:
    """Child process: one side, then its figures and peak RSS as one tagged JSON line."""
    import torch

    from verifiers.math_verifier import math_pool

    torch.set_num_threads(args.threads)
    math_pool().warm()  # start the verifier's workers now, not inside either side's timed steps
    work = Path(args.workdir)
    figures = run_ours(args, work) if args.side == "ours" else run_trl(args, work)
    figures["peak_rss_mib"] = peak_rss_mib()
    print(RESULT_TAG + json.dumps(figures), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10, help="training steps per side (the first is warm-up)")
    ap.add_argument("--model", default=str(DEFAULT_MODEL_PATH),
                    help="HF checkpoint (default: the warm start); a random tiny Llama if it does not exist")
    ap.add_argument("--prompts", type=int, default=16, help="prompts per step")
    ap.add_argument("--group-size", type=int, default=8, help="G, completions per prompt")
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per side")
    ap.add_argument("--side", choices=["ours", "trl"], help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    ap.add_argument("--model-path", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.steps < 2:
        ap.error("--steps must be at least 2 (the first step is left out of the rates)")
    if args.side:
        run_side(args)
        return

    from harness.io import atomic_write_jsonl
    from harness.tasks.math_cot import MathWorld, make_items

    with tempfile.TemporaryDirectory(prefix="trainer_vs_trl.") as tmp:
        work = Path(tmp)
        args.model_path, model_note = prepare_model(args.model, work)
        world = MathWorld()
        atomic_write_jsonl(work / "train.jsonl", make_items("train", world))
        atomic_write_jsonl(work / "validation.jsonl", make_items("validation", world, limit=1))
        results = {}
        for side in ("trl", "ours"):
            cmd = [sys.executable, __file__, "--side", side, "--workdir", str(work), "--model-path", args.model_path,
                   "--steps", str(args.steps), "--prompts", str(args.prompts), "--group-size", str(args.group_size),
                   "--max-new-tokens", str(args.max_new_tokens), "--lr", str(args.lr), "--seed", str(args.seed),
                   "--threads", str(args.threads)]
            env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TQDM_DISABLE": "1"}
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
            tagged = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_TAG)]
            if proc.returncode != 0 or not tagged:
                sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
                raise SystemExit(f"the {side} side failed (exit {proc.returncode})")
            results[side] = json.loads(tagged[-1][len(RESULT_TAG):])
            results[side]["process_s"] = time.perf_counter() - t0

    ours, trl = results["ours"], results["trl"]
    print(f"trainer_vs_trl: GRPO, {args.steps} steps per side ({args.steps - 1} timed after one warm-up step), "
          f"{args.prompts} prompts x G={args.group_size}, max {args.max_new_tokens} new tokens, lr {args.lr}, "
          f"{args.threads} torch thread each, sides run one after the other (TRL first)")
    print(f"model: {model_note}")
    print(machine_line())
    print("TRL settings: GRPOConfig(use_cpu=True, bf16=False, gradient_checkpointing=False, loss_type='grpo', beta=0.0, "
          f"num_iterations=1, per_device_train_batch_size={args.prompts * args.group_size}, "
          f"num_generations={args.group_size}, max_completion_length={args.max_new_tokens}, temperature=1.0, top_k=0, "
          "top_p=1.0, optim='adamw_torch', adam_beta2=0.99, lr_scheduler_type='constant', max_grad_norm=1.0, "
          "shuffle_dataset=False, no logging/saving/eval); generation via HF generate (KV cache), "
          "old log-probs skipped (on-policy)")
    def row(name: str, key: str, fmt: str, better: str, scale=lambda v: v) -> list[str]:  # noqa: ANN001
        t, o = scale(trl[key]), scale(ours[key])
        return [name, format(t, fmt), format(o, fmt), f"{o / t:.2f}x", better]

    rows = [
        row("steps/s", "steps_per_s", ".3f", "higher"),
        row("s/step", "steps_per_s", ".2f", "lower", lambda v: 1 / v),
        row("  of which generation s/step", "generation_s_per_step", ".2f", "lower"),
        row("  of which scoring s/step", "scoring_s_per_step", ".3f", "lower"),
        row("  of which update + rest s/step", "update_s_per_step", ".2f", "lower"),
        row("process CPU s/step", "cpu_s_per_step", ".2f", "lower"),
        row("rollout tokens/s", "tokens_per_s", ".0f", "higher"),
        row("mean completion tokens/step", "mean_completion_tokens", ".0f", "(same work)"),
        row("peak RSS MiB", "peak_rss_mib", ".0f", "lower"),
        row("whole run s (setup + all steps)", "whole_run_s", ".1f", "lower"),
        row("process s (+ imports, exit)", "process_s", ".1f", "lower"),
    ]
    print(format_table(["figure", "TRL GRPOTrainer", "ours", "ours/TRL", "better"], rows))
    print("timed: steps 2..N, wall clock; process CPU s/step is the main process's user+sys time over the same "
          "steps (steadier than wall clock on a shared machine). Generation: TRL's HF generate call, our `sample`; "
          "scoring: the math verifier (workers started before training on both sides); update + rest: everything "
          "else in the step. "
          "Peak RSS: each side's subprocess ru_maxrss (the verifier's worker processes not included).")


if __name__ == "__main__":
    main()
