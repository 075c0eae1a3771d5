"""What the integrity monitor costs a training step: the default config, monitor on vs off.

    .venv/bin/python benchmarks/integrity_overhead.py [--model results/base/model] [--steps 6] [--repeats 2]

The issue's budget: the monitor (harness/integrity: detectors on every rewarded completion,
a second opinion on 4 + 4 completions per step in a worker process, the token entropy from
the training pass's log-probs) costs at most 5% of a training step on the default config.

Both sides train the default config's settings (config/config.yaml `train:`: 16 prompts x
G=8, 160 new tokens, two minibatches per batch, GRPO) from the same checkpoint, seed and
prompts, for ``--steps`` steps, ``--repeats`` times each, alternating on and off so a
change in the machine's load hits both. Validation is left out of the timed steps (it is
the same on both sides and would only dilute the ratio). The model: ``--model`` if it is
a checkpoint (results/base/model after the workflow's base_model rule), else the default
config's tiny Llama warm-started ``--warmstart-steps`` steps here (the completions then
have the verbose warm-start shape, so the detectors see realistic text; a random model
would run every completion to the cap).

Prints per side the mean seconds per step over steps 2..N (step 1 carries the judge
worker's start, about half a second, once per run: shown in the whole-run line), the
ratio on/off, and the monitor's own measured time (integrity.jsonl `monitor_s`) as a
share of the step: the latter does not depend on the machine's load drifting between runs.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_MODEL_PATH, REPO, format_table, machine_line  # noqa: E402


def default_config() -> dict:
    import yaml

    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def model_for(path: str | None, scratch: Path, warmstart_steps: int) -> tuple[str, str]:
    """(checkpoint, description): ``path`` when it is one, else a warm start of the default model."""
    if path and (Path(path) / "config.json").exists():
        return path, f"checkpoint {path}"
    from harness.train.base_model import build_base_model

    cfg = default_config()
    warmstart = {k: v for k, v in cfg["warmstart"].items() if k != "suites"} | {"steps": warmstart_steps, "threads": 1}
    build_base_model(
        suites={"math": {"train": str(scratch / "data/train.jsonl"), "validation": str(scratch / "data/validation.jsonl")}},
        out_dir=str(scratch / "base"), model=cfg["model"], warmstart=warmstart, world=cfg["data"]["math"],
        max_new_tokens=int(cfg["train"]["max_new_tokens"]), val_prompts=16,
    )
    return str(scratch / "base" / "model"), f"config/config.yaml model {cfg['model']}, warm-started {warmstart_steps} steps"


def run(model: str, data: Path, out: Path, steps: int, integrity: bool) -> dict[str, float]:
    """One training run of the default config's settings; per-step seconds and monitor seconds."""
    from harness.io import read_jsonl
    from harness.train.loop import TrainSettings, train

    train_cfg = {k: v for k, v in default_config()["train"].items() if k != "suite"}
    train_cfg.update(steps=steps, val_every=10_000, val_prompts=8, ckpt_every=10_000)
    train(TrainSettings(objective="grpo", seed=0, base_model=model, train_data=str(data / "train.jsonl"),
                        validation_data=str(data / "validation.jsonl"), out_dir=str(out), integrity=integrity,
                        threads=1, **train_cfg))
    rows = read_jsonl(out / "metrics.jsonl")
    walls = [r["wall_s"] for r in rows if r["step"] > 0]
    # the last step's wall includes the final validation: measure steps 2..N-1 by differences
    per_step = [b - a for a, b in zip(walls, walls[1:-1])] if len(walls) > 2 else walls
    monitor = [r["monitor_s"] for r in read_jsonl(out / "integrity.jsonl")] if integrity else [0.0] * len(walls)
    return {"step_s": statistics.mean(per_step), "first_s": walls[0], "monitor_s": statistics.mean(monitor[1:-1] or monitor),
            "monitor_first_s": monitor[0], "length": statistics.mean(r["response_length"] for r in rows if r["step"] > 0),
            "accuracy": statistics.mean(r["accuracy_train"] for r in rows if r["step"] > 0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(DEFAULT_MODEL_PATH), help="checkpoint (default: results/base/model)")
    ap.add_argument("--steps", type=int, default=6, help="training steps per run (>= 4; steps 2..N-1 are timed)")
    ap.add_argument("--repeats", type=int, default=2, help="runs per side, alternating on and off")
    ap.add_argument("--warmstart-steps", type=int, default=150, help="warm start when --model is not a checkpoint")
    ap.add_argument("--workdir", default=None,
                    help="keep data, the warm start and the runs here (reused next time); default: a temp dir")
    args = ap.parse_args()

    import torch

    from harness.tasks import write_suite

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(args.workdir or tmp)
        write_suite("math", scratch / "data", default_config()["data"]["math"])
        kept = scratch / "base" / "model"
        model, described = ((str(kept), f"warm start kept in {kept}") if args.workdir and (kept / "config.json").exists()
                            else model_for(args.model, scratch, args.warmstart_steps))
        results: dict[bool, list[dict[str, float]]] = {True: [], False: []}
        for k in range(args.repeats):
            for integrity in ((True, False) if k % 2 == 0 else (False, True)):
                results[integrity].append(run(model, scratch / "data", scratch / f"run-{k}-{integrity}", args.steps, integrity))

    def mean(side: bool, key: str) -> float:
        return statistics.mean(r[key] for r in results[side])

    on, off = mean(True, "step_s"), mean(False, "step_s")
    share = mean(True, "monitor_s") / on
    print(machine_line())
    t = default_config()["train"]
    print(f"model: {described}; default config train settings ({t['prompts_per_step']} prompts x "
          f"G={t['group_size']}, {t['max_new_tokens']} new tokens, {t['updates_per_batch']} minibatches), "
          f"{args.steps} steps x {args.repeats} runs per side; completions {mean(True, 'length'):.0f} tokens on average, "
          f"train accuracy {mean(True, 'accuracy'):.2f}")
    print(format_table(["", "s/step (steps 2..N-1)", "step 1 s", "monitor s/step", "monitor step 1 s"], [
        ["monitor off", f"{off:.3f}", f"{mean(False, 'first_s'):.2f}", "0", "0"],
        ["monitor on", f"{on:.3f}", f"{mean(True, 'first_s'):.2f}", f"{mean(True, 'monitor_s'):.4f}",
         f"{mean(True, 'monitor_first_s'):.2f}"],
    ]))
    print(f"ratio on/off (s/step): {on / off:.3f}  (budget 1.05)")
    print(f"monitor's own time / step: {share:.2%}  (budget 5%; measured inside the run, immune to load drift)")


if __name__ == "__main__":
    main()
