"""The single RL training loop.

Reads top to bottom: sample G completions per prompt (`sample_groups`: preallocated KV
cache, finished rows dropped, more prompts when the objective drops groups), score them
with the verifier, compute the extra signals the objective asks for (and only those) for
the groups kept, call the objective
from the registry, take an AdamW step, validate every K steps, checkpoint for resume.
The loop never names an objective: it only sees `harness.objectives.get(name)`.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import inspect
import random
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from harness import objectives
from harness.integrity.monitor import IntegrityMonitor  # integrity monitor (issue 19)
from harness.io import atomic_write_json, atomic_write_jsonl, read_jsonl
from harness.model import count_parameters, describe_model, load_checkpoint, save_checkpoint
from harness.rollout.hf import Rollouts, completion_logprobs, concat_rollouts, generate, sample
from harness.prompts import format_prompts
from harness.seeding import seed_everything, set_threads
from harness.tasks.registry import verify_items
from harness.train.state import CheckpointError, load_state, save_state


@dataclass
class TrainSettings:
    """Everything one training job depends on (what Snakemake passes as the job's params)."""

    objective: str          # the entry's name: where results go, how the report names it
    seed: int
    base_model: str
    train_data: str
    validation_data: str
    out_dir: str
    hyperparams: dict[str, Any] = field(default_factory=dict)
    steps: int = 60
    prompts_per_step: int = 8
    group_size: int = 8
    max_new_tokens: int = 160
    temperature: float = 1.0
    lr: float = 2e-5
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    updates_per_batch: int = 1
    val_every: int = 10
    val_prompts: int = 363
    val_samples: int = 0  # 0: greedy validation; k >= 1: avg@k over k draws per item at val_temperature
    val_temperature: float | None = None  # None: the training temperature
    ckpt_every: int = 10
    threads: int = 1
    prompt_format: dict[str, Any] = field(default_factory=dict)  # model.prompt_format (harness/prompts.py)
    # scale (config/gpu.yaml); the defaults are the CPU path the embedded comparison uses
    device: str = "cpu"
    dtype: str = "float32"
    gradient_checkpointing: bool = False
    micro_batch_size: int | None = None  # sequences per forward/backward (whole groups); None: the whole minibatch
    # when the objective drops groups (DAPO's dynamic sampling), sample more prompts, up to this
    # many rounds per step in all, until prompts_per_step groups survive
    max_sampling_rounds: int = 3
    rollout: dict[str, Any] = field(default_factory=dict)  # {"backend": "hf" | "vllm", **engine options}
    answer_delimiter: str = "A: "
    # the registered objective to build (an `objectives:` entry may train another entry's
    # objective under its own name, as the A/A control does); None: ``objective``
    registered_objective: str | None = None
    # independent sampling randomness for the same seed (A/A control): torch is seeded from
    # (seed, seed_stream); the prompt order stays the seed's, as in every paired comparison
    seed_stream: int = 0
    stop_after: int | None = None  # testing aid: exit (like a kill) after this many steps
    # integrity monitor (issue 19, harness/integrity): reward-hacking detectors and a second
    # opinion on the step's rollouts, written to integrity.jsonl; false turns it off
    integrity: bool = True


class PromptStream:
    """Epoch-wise shuffled prompts; its position is part of the resume state."""

    def __init__(self, items: list[dict[str, Any]], seed: int) -> None:
        self.items, self.seed = items, seed
        self.epoch, self.pos = 0, 0
        self._order = self._shuffle()

    def _shuffle(self) -> list[int]:
        order = list(range(len(self.items)))
        random.Random(self.seed * 100_003 + self.epoch).shuffle(order)
        return order

    def take(self, n: int) -> list[dict[str, Any]]:
        out = []
        for _ in range(n):
            if self.pos == len(self._order):
                self.epoch, self.pos = self.epoch + 1, 0
                self._order = self._shuffle()
            out.append(self.items[self._order[self.pos]])
            self.pos += 1
        return out

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pos": self.pos}

    def restore(self, state: dict[str, int]) -> None:
        self.epoch, self.pos = state["epoch"], state["pos"]
        self._order = self._shuffle()


def score(texts: list[str], items: list[dict[str, Any]]) -> torch.Tensor:
    """[len(texts)] verifier scores (1.0 right, 0.0 wrong) of completions against their items
    (`harness.tasks.registry.verify_items`: each by its own domain's verifier; the evaluator
    judges the same way)."""
    return torch.tensor([v.score for v in verify_items(texts, items)], dtype=torch.float32)


VALIDATION_STREAM = 7_919  # offsets the validation draws' seed from every training seed


@torch.no_grad()
def validation_accuracy(model: torch.nn.Module, tokenizer: Any, items: list[dict[str, Any]], s: TrainSettings,
                        step: int) -> dict[str, float]:
    """Validation accuracy and mean completion length on ``items`` at training step ``step``.

    ``s.val_samples`` 0: greedy decoding, one completion per item. k >= 1: k draws per item at
    ``s.val_temperature`` (default: the training temperature), accuracy and length the means
    over all len(items) * k completions (avg@k, the test metric's definition). The draws come
    from a generator seeded by (seed, step) under ``torch.random.fork_rng``: the training
    stream is left exactly as it was, and every objective of a seed draws with the same seed
    at the same step (common random numbers make their curves comparable). ``val_n`` is the
    number of items (the report's convergence margin uses its binomial SE: conservative for
    k > 1, whose mean has a smaller SE)."""
    prompts = format_prompts(tokenizer, items, s.prompt_format)
    if s.val_samples == 0:
        r = generate(model, tokenizer, prompts, max_new_tokens=s.max_new_tokens, greedy=True)
        acc = score(r.texts, items)
        return {"val_accuracy": float(acc.mean()), "val_length": float(r.lengths.float().mean()), "val_n": len(items)}
    k = int(s.val_samples)
    temperature = s.val_temperature if s.val_temperature is not None else s.temperature
    device = next(model.parameters()).device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(VALIDATION_STREAM * 1_000_003 + s.seed * 100_003 + step)
        r = sample(model, tokenizer, prompts, num_samples=k, max_new_tokens=s.max_new_tokens, temperature=temperature)
    acc = score(r.texts, [it for it in items for _ in range(k)])
    return {"val_accuracy": float(acc.mean()), "val_length": float(r.lengths.float().mean()), "val_n": len(items),
            "val_samples": k}


def _sub(r: Rollouts, idx: torch.Tensor) -> Rollouts:
    idx = idx.to(r.sequences.device)
    return Rollouts(r.sequences[idx], r.attention_mask[idx], r.completion_mask[idx], r.prompt_len, [r.texts[i] for i in idx.tolist()])


def micro_batches(groups: torch.Tensor, group_size: int, micro_batch_size: int | None) -> list[torch.Tensor]:
    """Row indices [m] of each micro-batch of a minibatch given as ``groups`` [g, group_size].

    Whole groups per micro-batch (``micro_batch_size`` a multiple of ``group_size``), so group
    statistics stay intact; None or a size >= the minibatch gives one micro-batch.
    """
    if not micro_batch_size or micro_batch_size >= groups.numel():
        return [groups.reshape(-1)]
    per = max(1, micro_batch_size // group_size)
    return [g.reshape(-1) for g in torch.split(groups, per)]


def rollout_backend(s: TrainSettings) -> Any:
    """The rollout backend (``harness.rollout.backends``); None means our HF sampler (`sample`)."""
    from harness.rollout.backends import engine_or_none

    options = dict(s.rollout)
    return engine_or_none(options.pop("backend", "hf"), **options)


def update_row_sets(n_groups: int, s: TrainSettings, device: torch.device | str = "cpu") -> list[list[torch.Tensor]]:
    """The rows of each update of one step: per minibatch (whole groups), its micro-batches' row indices."""
    groups = torch.arange(n_groups * s.group_size, device=device).view(-1, s.group_size)
    return [micro_batches(chunk, s.group_size, s.micro_batch_size)
            for chunk in torch.chunk(groups, min(s.updates_per_batch, n_groups))]


def rollout_signals(
    model: torch.nn.Module, ref_model: torch.nn.Module | None, tokenizer: Any, r: Rollouts, needs: frozenset[str],
    s: TrainSettings, row_sets: list[torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """No-grad signals computed once per rollout batch: only those the objective needs.

    ``row_sets``: the row indices the training passes will run together (every micro-batch
    of every minibatch). The sampling policy's log-probs and entropies are computed over the
    same row sets, so with unchanged weights they equal the training pass's exactly (other
    row sets change the padding and the kernels: up to 2.3e-6 nats of entropy in fp32 and
    4.8e-3 in bf16, benchmarks/tepo_entropy_noise.py), and TEPO's mask sees only real change.
    """
    out: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        if "old_logprobs" in needs or "old_entropy" in needs or s.updates_per_batch > 1:
            with_entropy = "old_entropy" in needs
            sets = row_sets if row_sets else [torch.arange(r.completion_mask.shape[0])]
            passes = [completion_logprobs(model, _sub(r, idx), with_entropy=with_entropy, temperature=s.temperature)
                      for idx in sets]
            rows = torch.cat(sets).to(passes[0][0].device)
            out["old_logprobs"] = passes[0][0].new_zeros(r.completion_mask.shape)
            out["old_logprobs"][rows] = torch.cat([lp for lp, _ in passes])
            if with_entropy:
                out["old_entropy"] = passes[0][1].new_zeros(r.completion_mask.shape)
                out["old_entropy"][rows] = torch.cat([ent for _, ent in passes])
        if "ref_logprobs" in needs:
            assert ref_model is not None
            out["ref_logprobs"], _ = completion_logprobs(ref_model, r, temperature=s.temperature)
        if "answer_entropy" in needs:
            from harness.rollout.signals import early_exit_answer_entropy

            delim = tokenizer(s.answer_delimiter, add_special_tokens=False)["input_ids"]
            out["answer_entropy"] = early_exit_answer_entropy(
                model, r.sequences, r.prompt_len, r.completion_mask, delim, attention_mask=r.attention_mask
            )
    return out


def draw_rollouts(model: torch.nn.Module, tokenizer: Any, prompts: list[str], backend: Any, s: TrainSettings) -> Rollouts:
    """``s.group_size`` completions per prompt (groups contiguous) at ``s.temperature``, from the
    rollout backend (None: our HF sampler `sample`)."""
    draw = sample if backend is None else backend.generate
    return draw(model, tokenizer, prompts, num_samples=s.group_size, max_new_tokens=s.max_new_tokens,
                temperature=s.temperature)


def sample_groups(
    model: torch.nn.Module, tokenizer: Any, stream: PromptStream, objective: objectives.Objective, backend: Any,
    s: TrainSettings, device: torch.device,
) -> tuple[Rollouts, torch.Tensor, torch.Tensor, int]:
    """One step's rollouts: (rollouts [n*G rows], rewards [n*G], groups kept [n], rounds).

    Takes ``prompts_per_step`` prompts and samples G completions each. When the objective's
    `keep_groups` drops some (DAPO's dynamic sampling: groups whose rewards are all equal),
    it takes ``prompts_per_step`` more prompts and samples again, up to
    ``max_sampling_rounds`` rounds, until at least ``prompts_per_step`` groups are kept
    (DAPO, arXiv 2503.14476, Algorithm 1). Every sampled token counts as rollout cost.
    """
    parts: list[Rollouts] = []
    rewards: list[torch.Tensor] = []
    kept: list[torch.Tensor] = []
    rounds = 0
    while rounds < max(1, s.max_sampling_rounds):
        items = stream.take(s.prompts_per_step)
        prompts = format_prompts(tokenizer, items, s.prompt_format)
        r = draw_rollouts(model, tokenizer, prompts, backend, s)
        round_rewards = score(r.texts, [it for it in items for _ in range(s.group_size)]).to(device)
        parts.append(r)
        rewards.append(round_rewards)
        kept.append(objective.keep_groups(round_rewards, s.group_size).to(device))
        rounds += 1
        if int(torch.cat(kept).sum()) >= s.prompts_per_step:
            break
    return concat_rollouts(parts, tokenizer.pad_token_id), torch.cat(rewards), torch.cat(kept), rounds


def mean_metrics(logged: list[dict[str, float]]) -> dict[str, float]:
    """Each key's mean over the dicts that have it (one dict per micro-batch or minibatch)."""
    keys = dict.fromkeys(k for d in logged for k in d)
    return {k: sum(d[k] for d in logged if k in d) / sum(1 for d in logged if k in d) for k in keys}


def sampling_seed(seed: int, seed_stream: int) -> int:
    """The seed of torch/numpy/random for (seed, stream); stream 0 is the seed itself, so
    existing runs keep their numbers. Other streams are far apart from any plain seed."""
    return seed if seed_stream == 0 else seed + 1_000_003 * seed_stream


#: Settings a resume state does not depend on: how far to train (a finished run resumed with
#: more steps continues exactly: the learning rate is constant), where and how often to save.
RESUME_FREE_SETTINGS = frozenset({"steps", "out_dir", "ckpt_every", "stop_after"})


def _digest_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _digest_model_dir(path: Path) -> str:
    """A cheap fingerprint of a checkpoint directory: each file's name, size and mtime (a
    content hash of a multi-GB checkpoint would cost every job seconds to minutes)."""
    h = hashlib.sha256()
    for f in sorted(p for p in Path(path).rglob("*") if p.is_file()):
        st = f.stat()
        h.update(f"{f.relative_to(path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def objective_sources(objective: objectives.Objective) -> list[Path]:
    """The files an objective's loss is written in: its class's module, the modules of its
    base classes and every ``harness.objectives`` module those use (``parts``, a parent
    objective's), followed transitively; the package's ``__init__`` (base class, registry)
    counts, but its attributes are not followed (it imports every objective). Sorted."""
    package = objectives.__name__
    modules = [sys.modules[c.__module__] for c in type(objective).__mro__ if c.__module__.startswith(package)]
    seen: dict[str, types.ModuleType] = {}
    while modules:
        module = modules.pop()
        if module.__name__ in seen:
            continue
        seen[module.__name__] = module
        if module.__name__ == package:
            continue
        for value in vars(module).values():
            used = value if isinstance(value, types.ModuleType) else sys.modules.get(getattr(value, "__module__", None) or "")
            if used is not None and (used.__name__ == package or used.__name__.startswith(package + ".")):
                modules.append(used)
    return sorted(Path(m.__file__) for m in seen.values() if getattr(m, "__file__", None))


def resume_identity(s: TrainSettings, objective: objectives.Objective) -> dict[str, Any]:
    """What a resume state must match to be continued: the entry and seed, every setting
    that shapes the trajectory or its metrics (all but RESUME_FREE_SETTINGS), the inputs'
    fingerprints (data content; the base model's files) and the objective's source files
    (objective_sources: its own and the shared parts it uses), so a rerun after a change of
    config, warm start, data or objective code starts over instead of continuing the old
    run under the new name. JSON-like dict."""
    settings = {k: v for k, v in dataclasses.asdict(s).items() if k not in RESUME_FREE_SETTINGS}
    source = inspect.getsourcefile(type(objective))
    root = Path(objectives.__file__).parent
    return {
        "objective": s.objective,
        "seed": s.seed,
        "settings": settings,
        "inputs": {"base_model": _digest_model_dir(Path(s.base_model)),
                   "train_data": _digest_file(Path(s.train_data)),
                   "validation_data": _digest_file(Path(s.validation_data)),
                   "objective_source": _digest_file(Path(source)) if source else None,
                   "objective_parts": {str(f.relative_to(root)) if f.is_relative_to(root) else str(f): _digest_file(f)
                                       for f in objective_sources(objective) if source is None or f != Path(source)}},
    }


def _identity_difference(found: Any, expected: dict[str, Any]) -> str:
    """Which parts of a resume state's identity differ from this job's, for the log."""
    if not isinstance(found, dict):
        return "no identity"
    names = [k for k in ("objective", "seed") if found.get(k) != expected[k]]
    old, new = found.get("settings") or {}, expected["settings"]
    names += [f"{k} ({old.get(k)!r} -> {new.get(k)!r})" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    old_in = found.get("inputs") or {}
    names += [f"{k} changed" for k, v in expected["inputs"].items() if old_in.get(k) != v]
    return ", ".join(names) if names else "written by an older harness"


def train(s: TrainSettings) -> dict[str, Any]:
    """Run (or resume) one training job; writes metrics.jsonl, model/ and run.json under out_dir."""
    set_threads(s.threads)
    seed_everything(sampling_seed(s.seed, s.seed_stream))
    out = Path(s.out_dir)
    state_dir = out / "state"
    device = torch.device(s.device)
    model, tokenizer = load_checkpoint(s.base_model, dtype=s.dtype)
    model.to(device)
    if s.gradient_checkpointing:
        # transformers 5.2x renamed it; the old name still works there, with a FutureWarning
        (getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable)()
    backend = rollout_backend(s)
    objective = objectives.get(s.registered_objective or s.objective, **s.hyperparams)
    needs = objective.required_signals()
    ref_model = copy.deepcopy(model).eval() if "ref_logprobs" in needs else None
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay, betas=(0.9, 0.99))
    stream = PromptStream(read_jsonl(s.train_data), s.seed)
    val_items = read_jsonl(s.validation_data)[: s.val_prompts]
    # integrity monitor (issue 19): None when train.integrity is false
    monitor = IntegrityMonitor(out / "integrity.jsonl", max_new_tokens=s.max_new_tokens, seed=s.seed) if s.integrity else None

    rows: list[dict[str, Any]] = []
    start, wall0, tokens = 0, 0.0, 0
    identity = resume_identity(s, objective)
    if (state_dir / "state.pt").exists():
        try:
            st = load_state(state_dir, model, opt, expect=identity)
        except CheckpointError as error:
            if error.found_identity is None:
                raise
            # A state of another configuration (a rerun after a change): continuing it would
            # report the old run under the new settings. Start over; the state is overwritten.
            print(f"{s.objective} seed {s.seed}: the resume state in {state_dir} was written under other "
                  f"settings ({_identity_difference(error.found_identity, identity)}); starting over", flush=True)
            st = None  # load_state checks the identity before touching the model, optimizer or RNGs
    else:
        st = None
    if st is not None:
        start, rows, wall0, tokens = st["step"], st["rows"], st["wall_s"], st["rollout_tokens"]
        stream.restore(st["stream"])
        if monitor:  # integrity monitor (issue 19): keep its rows up to the resumed step
            monitor.resume(start)
        print(f"resuming {s.objective} seed {s.seed} from step {start} ({state_dir / 'state.pt'})", flush=True)
    else:
        rows.append({"step": 0, "rollout_tokens": 0, "wall_s": 0.0, **validation_accuracy(model, tokenizer, val_items, s, 0)})

    t_start = time.time() - wall0
    model.train()
    bar = tqdm(range(start, s.steps), desc=f"{s.objective} seed {s.seed}", unit="step", initial=start, total=s.steps, mininterval=2.0)
    for step in bar:
        prompts_of_step = copy.copy(stream)  # integrity monitor (issue 19): replays the prompts sample_groups takes
        r, rewards, keep_groups, rounds = sample_groups(model, tokenizer, stream, objective, backend, s, device)
        tokens += int(r.lengths.sum())
        # the groups trained on: the first prompts_per_step that survive the objective's filter
        used = keep_groups.nonzero().squeeze(-1)[: s.prompts_per_step]
        chosen = (used[:, None] * s.group_size + torch.arange(s.group_size, device=used.device)).reshape(-1)
        all_rollouts, all_rewards = r, rewards
        r, rewards = _sub(r, chosen), rewards[chosen.to(rewards.device)]  # from here on, only the used groups
        # minibatches are whole groups, so group statistics stay intact
        updates = update_row_sets(int(used.numel()), s, device) if used.numel() else []
        signals = (rollout_signals(model, ref_model, tokenizer, r, needs, s, [i for m in updates for i in m])
                   if used.numel() else {})

        metrics: dict[str, float] = {}
        # every minibatch's and micro-batch's metrics, averaged below: a mechanism that acts
        # only on later minibatches (TEPO's entropy mask) must not be hidden by the first one
        logged: list[dict[str, float]] = []
        if used.numel():
            for micro in updates:
                chunk = torch.cat(micro)
                # several micro-batches: each normalises by the whole minibatch's counts, so the
                # sum of their losses (and gradients) is the minibatch's
                full = {} if len(micro) == 1 else {
                    "num_sequences": int(chunk.numel()),
                    "num_tokens": float(r.completion_mask[chunk.reshape(-1).to(r.completion_mask.device)].sum()),
                }
                opt.zero_grad(set_to_none=True)
                loss_sum = 0.0
                for idx in micro:
                    sub = _sub(r, idx)
                    logprobs, entropy = completion_logprobs(model, sub, with_entropy="entropy" in needs, temperature=s.temperature)
                    batch = objectives.RolloutBatch(
                        logprobs=logprobs,
                        old_logprobs=signals["old_logprobs"][idx] if "old_logprobs" in signals else logprobs.detach(),
                        mask=sub.completion_mask,
                        rewards=rewards[idx],
                        group_size=s.group_size,
                        ref_logprobs=signals["ref_logprobs"][idx] if "ref_logprobs" in signals else None,
                        entropy=entropy,
                        old_entropy=signals["old_entropy"][idx] if "old_entropy" in signals else None,
                        extras={
                            "max_new_tokens": s.max_new_tokens,
                            "completion_ids": sub.completion_ids,
                            **({"answer_entropy": signals["answer_entropy"][idx]} if "answer_entropy" in signals else {}),
                        },
                        **full,
                    )
                    loss, micro_metrics = objective.loss(batch)
                    if monitor:  # integrity monitor (issue 19): token entropy from the sampled tokens' log-probs
                        monitor.observe_logprobs(logprobs, sub.completion_mask)
                    loss.backward()
                    loss_sum += float(loss.detach())
                    logged.append(micro_metrics)
                grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
                opt.step()
                logged.append({"loss": loss_sum, "grad_norm": float(grad_norm)})
            metrics = mean_metrics(logged)
        shaped = objective.shape_rewards(
            objectives.RolloutBatch(
                logprobs=torch.zeros_like(all_rollouts.completion_mask),
                old_logprobs=torch.zeros_like(all_rollouts.completion_mask), mask=all_rollouts.completion_mask,
                rewards=all_rewards, group_size=s.group_size, extras={"max_new_tokens": s.max_new_tokens},
            )
        )
        integrity = (monitor.observe(step + 1, prompts_of_step.take(rounds * s.prompts_per_step), all_rollouts.texts,
                                     all_rollouts.lengths, all_rewards) if monitor else {})  # integrity monitor (issue 19)
        row = {
            "step": step + 1,
            **metrics,
            "reward_mean": float(shaped.mean()),
            "accuracy_train": float(all_rewards.mean()),
            "response_length": float(all_rollouts.lengths.float().mean()),
            "groups_kept": int(used.numel()),
            # groups the objective's filter refused (DAPO's dynamic sampling), over all sampling rounds
            "groups_dropped": int(keep_groups.numel() - keep_groups.sum()),
            **({"sampling_rounds": rounds} if rounds > 1 else {}),
            "rollout_tokens": tokens,
            "wall_s": time.time() - t_start,
            **integrity,
        }
        if (step + 1) % s.val_every == 0 or step + 1 == s.steps:
            model.eval()
            row.update(validation_accuracy(model, tokenizer, val_items, s, step + 1))
            model.train()
            bar.write(f"{s.objective} seed {s.seed} step {step + 1}: val_accuracy={row['val_accuracy']:.3f} val_length={row['val_length']:.1f}")
        rows.append(row)
        bar.set_postfix(acc=f"{row['accuracy_train']:.2f}", len=f"{row['response_length']:.0f}")
        if (step + 1) % s.ckpt_every == 0 and step + 1 < s.steps:
            if monitor:  # integrity monitor (issue 19): written before the state, so it never lags it
                monitor.write()
            save_state(state_dir, model, opt, step=step + 1, rows=rows, wall_s=time.time() - t_start,
                       rollout_tokens=tokens, stream=stream.state(), identity=identity)
            atomic_write_jsonl(out / "metrics.jsonl", rows)
        if s.stop_after is not None and step + 1 >= s.stop_after:
            raise SystemExit(f"stopped after {s.stop_after} steps (stop_after)")

    model.eval()
    save_checkpoint(model, tokenizer, out / "model")
    atomic_write_jsonl(out / "metrics.jsonl", rows)
    if monitor:  # integrity monitor (issue 19)
        monitor.write()
    summary = {
        "objective": s.objective,
        "registered_objective": s.registered_objective or s.objective,
        "seed": s.seed,
        "seed_stream": s.seed_stream,
        "hyperparams": objective.hyperparams(),
        "config": {k: v for k, v in vars(s).items() if k not in ("hyperparams", "stop_after")},
        "steps": s.steps,
        "wall_s": rows[-1]["wall_s"],
        "rollout_tokens": tokens,
        "model": {"name": describe_model(model), "params": count_parameters(model)},
        "needs": sorted(needs),
        "mechanism": list(objective.mechanism),
        "rollout_backend": "hf" if backend is None else getattr(backend, "name", type(backend).__name__),
    }
    atomic_write_json(out / "run.json", summary)
    return summary
