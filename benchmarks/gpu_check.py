"""The GPU path, checked in one run: ready for a machine with a CUDA device and no network.

    python benchmarks/gpu_check.py                 # on a CUDA machine (under 8 minutes on one GPU)
    python benchmarks/gpu_check.py --device cpu    # anywhere: the same checks, tiny, in fp32

Everything is built from configs (no downloads). Each check prints PASS, FAIL or SKIP with
its figure; the exit code is 1 if any check FAILs (0 otherwise, SKIPs included):

1. fast paths vs HF's forward (``harness/rollout/kvdecode.py``), on a Qwen2-architecture
   model (grouped KV heads, q/k/v bias) in bf16 on CUDA: the KV-cache decoder's log-probs at
   every step of a teacher-forced completion, and the shared-prompt log-prob forward's
   log-probs and gradient, against HF's forward over prompt + completion. Tolerance: in bf16
   the two paths round intermediate tensors at different points, so each is measured against
   an fp32 forward of the same weights and the fast path's error may be at most 1.5 x HF's own
   bf16 error (+ 0.01 nats max, 0.001 mean, 0.001 relative gradient error); in fp32 (CPU)
   the fast path must equal HF's forward within 1e-4 nats and 1e-4 relative gradient error.
2. training: a warm-started Llama (char-level math, ``harness.train.base_model``) trained a
   few RL steps by two objectives (grpo, length_penalty_control) through
   ``harness.train.loop.train`` with bf16, gradient checkpointing and the vLLM rollout
   backend when vLLM is installed (HF's otherwise): finite losses, parameters moved, the
   rollout backend actually used. Rewards are the verifier's; in a group the verifier cannot
   separate (a short warm start answers few items right) the shorter half of the group is
   rewarded, so every step has a learning signal: this checks the mechanics, not learning.
3. vLLM weight sync (vLLM installed): an engine built from a checkpoint, then the model's
   weights perturbed in place; vLLM's greedy completions must follow the perturbed weights
   (HF's greedy of them), not the checkpoint's.
4. throughput: rollout tokens/s (the KV-cache sampler; vLLM too when installed) and training
   tokens/s (forward + backward, gradient checkpointing) on a Qwen2.5-0.5B-shaped model,
   and MFU = 8 N tokens/s / the device's dense bf16 peak.

Without CUDA the bf16 parts, vLLM and MFU are skipped, each with its reason, and the rest
runs tiny in fp32 (tests/test_gpu_path_check.py runs it so on CPU).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.io import read_jsonl  # noqa: E402
from harness.model import count_parameters  # noqa: E402
from harness.rollout import kvdecode  # noqa: E402
from harness.rollout.hf import Rollouts, completion_logprobs, position_ids_from_mask  # noqa: E402

#: How close a fast path must be. In fp32 it must equal HF's forward (absolute tolerances).
#: In bf16 both paths round intermediate tensors at different points, so neither equals the
#: other; each is compared with an fp32 forward of the same weights, and the fast path's
#: error must be at most ERROR_RATIO x HF's own bf16 error, plus the absolute slack.
ERROR_RATIO = 1.5
SLACK = {
    torch.bfloat16: {"max_nats": 1e-2, "mean_nats": 1e-3, "grad_rel": 1e-3},
    torch.float32: {"max_nats": 1e-4, "mean_nats": 1e-5, "grad_rel": 1e-4},
}
#: dense bf16 peak FLOP/s by device name fragment (vendor data sheets, no sparsity)
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "B200": 2250e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12,
             "L4": 121e12, "A6000": 155e12}
BUDGET_S = 480.0


@dataclass(frozen=True)
class Sizes:
    parity: dict           # the Qwen2 model of the fast-path check
    parity_batch: tuple    # prompts, group size, prompt length, completion length
    base: dict             # the warm-started Llama that RL trains
    warm_steps: int
    warm_batch: int
    rl_steps: int
    prompts: int
    group: int
    new_tokens: int
    throughput: dict       # the model of the throughput figures
    tp_batch: tuple        # prompts, group size, prompt length, new tokens, training micro-batch


GPU = Sizes(
    parity=dict(hidden_size=1024, intermediate_size=2816, num_hidden_layers=8, num_attention_heads=16,
                num_key_value_heads=4, vocab_size=4096),
    parity_batch=(8, 4, 48, 64),
    base={"hidden_size": 512, "layers": 8, "heads": 8, "kv_heads": 4, "intermediate_size": 1536, "max_positions": 256},
    warm_steps=400, warm_batch=64, rl_steps=4, prompts=16, group=8, new_tokens=64,
    throughput=dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                    num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    tp_batch=(16, 8, 128, 256, 16),
)
CPU = Sizes(
    parity=dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, vocab_size=40),
    parity_batch=(3, 2, 7, 6),
    base={"hidden_size": 32, "layers": 2, "heads": 2},
    warm_steps=20, warm_batch=16, rl_steps=2, prompts=2, group=4, new_tokens=16,
    throughput=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, vocab_size=512),
    tp_batch=(2, 4, 16, 16, 8),
)


class Report:
    def __init__(self) -> None:
        self.failed = False
        self.figures: dict[str, object] = {}

    def line(self, status: str, name: str, detail: str) -> None:
        self.failed |= status == "FAIL"
        print(f"{status:4s}  {name}: {detail}", flush=True)

    def check(self, ok: bool, name: str, detail: str) -> None:
        self.line("PASS" if ok else "FAIL", name, detail)

    def skip(self, name: str, why: str) -> None:
        self.line("SKIP", name, why)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def qwen2(cfg: dict, device: torch.device, dtype: torch.dtype, *, bias_sd: float = 0.5) -> torch.nn.Module:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(max_position_embeddings=2048, pad_token_id=0, eos_token_id=2, attn_implementation="sdpa",
                         initializer_range=0.05, **cfg)
    model = Qwen2ForCausalLM(config)
    with torch.no_grad():  # Qwen2's q/k/v projections carry a bias: make it matter
        for layer in model.model.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                proj.bias.normal_(0, bias_sd)
    return model.to(device=device, dtype=dtype).eval()


def left_padded_prompts(n: int, length: int, vocab: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    ids = torch.zeros(n, length, dtype=torch.long)
    attn = torch.zeros(n, length, dtype=torch.long)
    for i in range(n):
        k = int(torch.randint(max(1, length // 3), length + 1, (1,), generator=g))
        ids[i, length - k:] = torch.randint(3, vocab, (k,), generator=g)
        attn[i, length - k:] = 1
    return ids.to(device), attn.to(device)


# ---------------------------------------------------------------- 1. fast paths vs HF

def check_fast_paths(report: Report, device: torch.device, dtype: torch.dtype, sizes: Sizes) -> None:
    """The KV-cache decoder and the shared-prompt log-prob forward against HF's forward, each
    measured against an fp32 forward of the same weights (see ERROR_RATIO, SLACK)."""
    slack = SLACK[dtype]
    label = f"{str(dtype).removeprefix('torch.')} on {device.type}"
    model = qwen2(sizes.parity, device, dtype)
    reference = qwen2(sizes.parity, device, dtype).float()  # the same rounded weights, fp32 arithmetic
    n, group, P, T = sizes.parity_batch
    prompts, prompt_mask = left_padded_prompts(n, P, model.config.vocab_size, device)
    ids, attn = prompts.repeat_interleave(group, 0), prompt_mask.repeat_interleave(group, 0)  # groups share a prompt
    B = ids.shape[0]
    completion = torch.randint(3, model.config.vocab_size, (B, T), generator=torch.Generator().manual_seed(1)).to(device)
    seq, mask = torch.cat([ids, completion], 1), torch.cat([attn, torch.ones_like(completion)], 1)

    def hf_logprobs(net: torch.nn.Module) -> torch.Tensor:
        """HF: one forward over prompt + completion; log-probs [B, T, V] predicting each completion token."""
        with torch.no_grad():
            logits = net(input_ids=seq, attention_mask=mask, position_ids=position_ids_from_mask(mask)).logits
        return torch.log_softmax(logits[:, P - 1:P - 1 + T].float(), -1)

    exact, hf = hf_logprobs(reference), hf_logprobs(model)
    # the KV-cache decoder, teacher-forced to the same completion
    steps: list[torch.Tensor] = []
    step = iter(range(T))
    kvdecode.decode(model, ids, attn, max_new_tokens=T, choose=lambda logits: completion[:, next(step)],
                    eos_token_id=2, pad_token_id=0, on_logits=lambda logits: steps.append(logits.float()))
    fast = torch.log_softmax(torch.stack(steps, 1), -1)
    compare(report, f"KV-cache decode vs HF forward ({label})", fast, hf, exact, slack, f"{B} rows x {T} steps")

    # the shared-prompt log-prob forward (training), values and gradient
    rollouts = Rollouts(seq, mask, torch.ones(B, T, device=device), P, [""] * B)

    def logprobs_and_grad(net: torch.nn.Module, share: bool) -> tuple[torch.Tensor, torch.Tensor]:
        net.zero_grad(set_to_none=True)
        lp, _ = completion_logprobs(net, rollouts, share_prompts=share)
        lp.float().sum().backward()
        grad = torch.cat([p.grad.double().flatten() for p in net.parameters() if p.grad is not None])
        return lp.detach().float(), grad

    fast_lp, fast_grad = logprobs_and_grad(model, True)
    hf_lp, hf_grad = logprobs_and_grad(model, False)  # through HF's forward
    exact_lp, exact_grad = logprobs_and_grad(reference, False)
    compare(report, f"shared-prompt log-prob forward vs HF ({label})", fast_lp, hf_lp, exact_lp, slack,
            f"{B} rows x {T} tokens")
    fast_rel = float((fast_grad - exact_grad).norm() / exact_grad.norm())
    hf_rel = float((hf_grad - exact_grad).norm() / exact_grad.norm())
    allowed = ERROR_RATIO * hf_rel + slack["grad_rel"]
    cos = float(fast_grad @ hf_grad / (fast_grad.norm() * hf_grad.norm()))
    report.check(fast_rel <= allowed, f"shared-prompt gradient vs HF ({label})",
                 f"relative error vs fp32 {fast_rel:.2e} (HF's own {hf_rel:.2e}; allowed {allowed:.2e}), "
                 f"cosine with HF's {cos:.6f}")
    del model, reference


def compare(report: Report, name: str, fast: torch.Tensor, hf: torch.Tensor, exact: torch.Tensor,
            slack: dict, what: str) -> None:
    """PASS when the fast path's error against ``exact`` (fp32) is at most ERROR_RATIO x HF's plus slack."""
    fast_err, hf_err = (fast - exact).abs(), (hf - exact).abs()
    max_ok = float(fast_err.max()) <= ERROR_RATIO * float(hf_err.max()) + slack["max_nats"]
    mean_ok = float(fast_err.mean()) <= ERROR_RATIO * float(hf_err.mean()) + slack["mean_nats"]
    report.check(max_ok and mean_ok, name,
                 f"|log p - fp32| max {fast_err.max():.2e} / mean {fast_err.mean():.2e} "
                 f"(HF's own: {hf_err.max():.2e} / {hf_err.mean():.2e}; allowed {ERROR_RATIO:g}x + "
                 f"{slack['max_nats']:g} / {slack['mean_nats']:g}); vs HF max {(fast - hf).abs().max():.2e}, over {what}")


# ---------------------------------------------------------------- 2. training

def warm_base(work: Path, device: torch.device, sizes: Sizes) -> Path:
    from harness.tasks import write_suite
    from harness.train.base_model import build_base_model

    world = {"lo": 1, "hi": 9, "min_terms": 2, "max_terms": 3}
    write_suite("math", work / "data", world)
    t0 = time.perf_counter()
    summary = build_base_model(
        suites={"math": {"train": str(work / "data/train.jsonl"), "validation": str(work / "data/validation.jsonl")}},
        out_dir=str(work / "base"), model=sizes.base,
        warmstart={"steps": sizes.warm_steps, "batch_size": sizes.warm_batch, "lr": 3e-3, "warmup_steps": 10,
                   "seed": 0, "threads": 1},
        world=world, max_new_tokens=48, val_prompts=64, device=str(device))
    print(f"      warm start: {summary['params']:,} parameters, {sizes.warm_steps} steps in "
          f"{time.perf_counter() - t0:.0f} s, greedy validation accuracy {summary['final'].get('val_accuracy', 0):.2f}",
          flush=True)
    return work / "base" / "model"


def spread_scores(real, group: int):
    """``harness.train.loop.score`` with a spread in every group: the verifier's scores, and in
    a group where they are all equal, 1 for the shorter half of its completions."""
    def score(texts: list[str], items: list[dict]) -> torch.Tensor:
        scores = real(texts, items).clone()
        for start in range(0, len(texts), group):
            chunk = scores[start:start + group]
            if chunk.numel() > 1 and bool((chunk == chunk[0]).all()):
                lengths = torch.tensor([len(t) for t in texts[start:start + group]], dtype=torch.float)
                shorter = torch.argsort(lengths, stable=True)[: chunk.numel() // 2]
                chunk.zero_()
                chunk[shorter.to(chunk.device)] = 1.0
        return scores
    return score


def check_training(report: Report, work: Path, base: Path, device: torch.device, dtype: torch.dtype,
                   sizes: Sizes, use_vllm: bool) -> None:
    from safetensors.torch import load_file

    import harness.train.loop as loop
    from harness.train.loop import TrainSettings, train

    loop.score = spread_scores(loop.score, sizes.group)

    on_gpu = device.type == "cuda"
    backend = "vllm" if use_vllm else "hf"
    initial = load_file(str(base / "model.safetensors"))
    for objective in ("grpo", "length_penalty_control"):
        out = work / "runs" / objective
        rollout = {"backend": backend}
        if use_vllm:  # eager: no CUDA-graph capture, a faster engine start for a short run
            rollout.update(gpu_memory_utilization=0.3, max_model_len=256, engine_kwargs={"enforce_eager": True})
        s = TrainSettings(
            objective=objective, seed=0, base_model=str(base), train_data=str(work / "data/train.jsonl"),
            validation_data=str(work / "data/validation.jsonl"), out_dir=str(out), steps=sizes.rl_steps,
            prompts_per_step=sizes.prompts, group_size=sizes.group, max_new_tokens=sizes.new_tokens,
            lr=1e-4, val_every=sizes.rl_steps, val_prompts=32, ckpt_every=sizes.rl_steps, device=str(device),
            dtype=str(dtype).removeprefix("torch."), gradient_checkpointing=on_gpu, micro_batch_size=sizes.group * 2
            if sizes.prompts >= 2 else None, rollout=rollout)
        t0 = time.perf_counter()
        summary = train(s)
        wall = time.perf_counter() - t0
        rows = read_jsonl(out / "metrics.jsonl")[1:]
        losses = [r.get("loss") for r in rows]
        finite = all(v is not None and math.isfinite(v) for v in losses)
        trained = load_file(str(out / "model" / "model.safetensors"))
        moved = max(float((trained[k].float() - initial[k].float()).abs().max()) for k in initial)
        report.check(finite and moved > 0 and summary["rollout_backend"] == backend,
                     f"RL training, {objective} ({s.dtype}, checkpointing {s.gradient_checkpointing}, {backend} rollouts)",
                     f"{len(rows)} steps in {wall:.0f} s, losses {[round(v, 4) if v is not None else None for v in losses]}, "
                     f"max |d weight| {moved:.2e}, backend used: {summary['rollout_backend']}, "
                     f"rollout tokens/s {rows[-1]['rollout_tokens'] / max(rows[-1]['wall_s'], 1e-9):.0f}")


# ---------------------------------------------------------------- 3. vLLM weight sync

def check_vllm_sync(report: Report, base: Path, device: torch.device, sizes: Sizes) -> None:
    from harness.model import load_checkpoint
    from harness.rollout.hf import generate
    from harness.rollout.vllm import VLLMBackend

    model, tok = load_checkpoint(base, dtype="bfloat16")
    model.to(device)
    prompts = [item["prompt"] for item in read_jsonl(base.parent.parent / "data" / "validation.jsonl")[:16]]
    engine = VLLMBackend(gpu_memory_utilization=0.3, max_model_len=256, enable_sleep_mode=True,
                         engine_kwargs={"enforce_eager": True})
    before = engine.generate(model, tok, prompts, max_new_tokens=24, greedy=True).texts
    with torch.no_grad():  # a large in-place change: the engine must pick it up before its next generation
        torch.manual_seed(1)
        for p in model.parameters():
            p.add_(torch.randn_like(p) * p.float().std().to(p.dtype))
    after = engine.generate(model, tok, prompts, max_new_tokens=24, greedy=True).texts
    hf_after = generate(model, tok, prompts, max_new_tokens=24, greedy=True).texts
    agree = sum(a == h for a, h in zip(after, hf_after)) / len(prompts)
    changed = sum(a != b for a, b in zip(after, before)) / len(prompts)
    report.check(agree >= 0.75 and changed >= 0.5, f"vLLM weight sync ({engine.weight_route} route)",
                 f"greedy completions equal HF's of the updated weights for {agree:.0%} of prompts (need 75%: bf16 "
                 f"ties), changed from the checkpoint's for {changed:.0%} (need 50%)")
    del engine


# ---------------------------------------------------------------- 4. throughput

def throughput(report: Report, device: torch.device, dtype: torch.dtype, sizes: Sizes, use_vllm: bool) -> None:
    from harness import objectives
    from harness.rollout.hf import decode_completions

    model = qwen2(sizes.throughput, device, dtype, bias_sd=0.02)
    n_params = count_parameters(model)
    prompts_n, group, P, new, micro = sizes.tp_batch
    B = prompts_n * group
    ids, attn = left_padded_prompts(prompts_n, P, model.config.vocab_size, device)
    ids, attn = ids.repeat_interleave(group, 0), attn.repeat_interleave(group, 0)

    def draw(logits: torch.Tensor) -> torch.Tensor:
        tokens = torch.multinomial(torch.softmax(logits.float(), -1), 1).squeeze(-1)
        return torch.where(tokens == 2, torch.full_like(tokens, 3), tokens)  # no EOS: every row runs to the cap

    with torch.no_grad():
        decode_completions(model, ids[:2], attn[:2], max_new_tokens=4, choose=draw, eos_token_id=2, pad_token_id=0)
        sync(device)
        t0 = time.perf_counter()
        completion = decode_completions(model, ids, attn, max_new_tokens=new, choose=draw, eos_token_id=2, pad_token_id=0)
        sync(device)
        rollout_tps = B * new / (time.perf_counter() - t0)
    report.figures["rollout_tokens_per_s"] = round(rollout_tps)
    print(f"INFO  rollout, KV-cache sampler: {rollout_tps:,.0f} tokens/s ({n_params / 1e6:.0f}M parameters, "
          f"{B} sequences x {new} new tokens)", flush=True)
    if use_vllm:
        report.figures["vllm_rollout_tokens_per_s"] = round(vllm_throughput(model, ids, new, group))
        print(f"INFO  rollout, vLLM: {report.figures['vllm_rollout_tokens_per_s']:,} tokens/s", flush=True)

    model.train()
    if device.type == "cuda":
        (getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable)()
    seq = torch.cat([ids, completion], 1)
    mask = torch.cat([attn, torch.ones_like(completion)], 1)
    objective = objectives.get("grpo")
    rewards = torch.randint(0, 2, (B,), device=device).float()
    tokens = 0
    sync(device)
    t0 = time.perf_counter()
    for start in range(0, B, micro):
        rows = slice(start, start + micro)
        r = Rollouts(seq[rows], mask[rows], torch.ones(seq[rows].shape[0], new, device=device), P, [""] * micro)
        lp, _ = completion_logprobs(model, r)
        batch = objectives.RolloutBatch(logprobs=lp, old_logprobs=lp.detach(), mask=r.completion_mask,
                                        rewards=rewards[rows], group_size=min(group, micro))
        loss, _ = objective.loss(batch)
        loss.backward()
        tokens += int(mask[rows].sum())
    sync(device)
    train_tps = tokens / (time.perf_counter() - t0)
    report.figures["train_tokens_per_s"] = round(train_tps)
    peak = next((v for k, v in PEAK_BF16.items() if k in torch.cuda.get_device_name(device)), None) \
        if device.type == "cuda" else None
    print(f"INFO  training forward+backward (GRPO loss, gradient checkpointing {device.type == 'cuda'}): "
          f"{train_tps:,.0f} tokens/s", flush=True)
    if peak is None:
        report.skip("MFU", "no CUDA device" if device.type != "cuda" else
                    f"no known bf16 peak for {torch.cuda.get_device_name(device)} (PEAK_BF16)")
    else:
        mfu = 8 * n_params * train_tps / peak  # 6N per token fwd+bwd, +2N for the recomputed forward
        report.figures["mfu"] = round(mfu, 4)
        print(f"INFO  MFU: {mfu:.1%} (8 x {n_params / 1e6:.0f}M x tokens/s / {peak / 1e12:.0f} TFLOP/s dense bf16)",
              flush=True)


def vllm_throughput(model: torch.nn.Module, ids: torch.Tensor, new: int, group: int) -> float:
    from vllm import LLM, SamplingParams

    with tempfile.TemporaryDirectory() as d:
        model.save_pretrained(d)
        llm = LLM(model=d, dtype="bfloat16", skip_tokenizer_init=True, gpu_memory_utilization=0.3, seed=0,
                  enforce_eager=True, max_model_len=ids.shape[1] + new)
        params = SamplingParams(n=group, temperature=1.0, max_tokens=new, min_tokens=new, detokenize=False)
        requests = [{"prompt_token_ids": row[row != 0].tolist()} for row in ids[::group]]
        llm.generate(requests[:1], params, use_tqdm=False)
        t0 = time.perf_counter()
        llm.generate(requests, params, use_tqdm=False)
        tps = ids.shape[0] * new / (time.perf_counter() - t0)
        del llm
    return tps


# ---------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cuda", "cpu"])
    parser.add_argument("--json", type=Path, help="also write the figures and verdict here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    report = Report()
    if args.device == "cuda" and not torch.cuda.is_available():
        report.line("FAIL", "CUDA", "--device cuda but torch sees no CUDA device")
        return 1
    device = torch.device(args.device)
    on_gpu = device.type == "cuda"
    sizes = GPU if on_gpu else CPU
    dtype = torch.bfloat16 if on_gpu else torch.float32
    torch.set_num_threads(1 if not on_gpu else torch.get_num_threads())
    vllm_installed = importlib.util.find_spec("vllm") is not None
    use_vllm = on_gpu and vllm_installed
    print(f"gpu_check: {torch.cuda.get_device_name(device) if on_gpu else 'CPU'}, torch {torch.__version__}, "
          f"vLLM {'installed' if vllm_installed else 'not installed'}", flush=True)
    if not on_gpu:
        report.skip("CUDA parts", "no CUDA device: bf16 fast-path parity on CUDA, vLLM and MFU are skipped; the "
                    "fast paths, training and throughput run tiny in fp32 on the CPU")

    check_fast_paths(report, device, dtype, sizes)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base = warm_base(work, device, sizes)
        check_training(report, work, base, device, dtype, sizes, use_vllm)
        if use_vllm:
            check_vllm_sync(report, base, device, sizes)
        else:
            report.skip("vLLM weight sync", "no CUDA device" if not on_gpu else
                        "vLLM is not installed (pip install -e '.[gpu]'); training used the HF backend")
    throughput(report, device, dtype, sizes, use_vllm)
    elapsed = time.perf_counter() - started
    report.check(elapsed <= BUDGET_S or not on_gpu, "time", f"{elapsed:.0f} s (budget {BUDGET_S:.0f} s on one GPU)")
    verdict = "FAIL" if report.failed else "PASS"
    print(f"gpu_check: {verdict}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"verdict": verdict, "device": str(device), "elapsed_s": round(elapsed, 1),
                                         **report.figures}, indent=1))
    return 1 if report.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
