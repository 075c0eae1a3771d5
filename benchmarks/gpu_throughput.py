"""GPU throughput of the arena's loop on a real architecture, randomly initialised.

Builds a Qwen2.5-class model from its config (no weights are downloaded: the machine may
have no network), then measures in one run:
- rollout tokens/s: HF `generate` with KV cache (and vLLM when installed, from a
  temporary checkpoint of the same random weights),
- training tokens/s: forward + backward of the GRPO loss from the registry on B x T tokens,
- model FLOPs utilisation: 6 * N * training tokens/s / the device's peak bf16 FLOP/s.

    python benchmarks/gpu_throughput.py --arch qwen2.5-0.5b        # on a GPU
    python benchmarks/gpu_throughput.py --arch tiny --device cpu    # a dry run anywhere
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch
from transformers import AutoModelForCausalLM, Qwen2Config

from harness import objectives
from harness.model import count_parameters

ARCHS = {
    # public configs of the Qwen2.5 family (hidden, layers, heads, kv heads, intermediate)
    "qwen2.5-0.5b": dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2, intermediate_size=4864),
    "qwen2.5-1.5b": dict(hidden_size=1536, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2, intermediate_size=8960),
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=128),
}
#: dense bf16 peak FLOP/s by device name fragment (vendor data sheets, no sparsity)
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12}


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="qwen2.5-0.5b", choices=sorted(ARCHS))
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--prompts", type=int, default=32)
    p.add_argument("--group-size", type=int, default=8)
    p.add_argument("--prompt-len", type=int, default=128)
    p.add_argument("--new-tokens", type=int, default=512)
    p.add_argument("--train-micro-batch", type=int, default=16)
    p.add_argument("--vllm", action="store_true", help="also measure vLLM rollouts (needs the gpu extra)")
    args = p.parse_args()
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=151936 if args.arch != "tiny" else 512, max_position_embeddings=4096,
                      tie_word_embeddings=args.arch == "qwen2.5-0.5b", **ARCHS[args.arch])
    model = AutoModelForCausalLM.from_config(cfg, torch_dtype=dtype).to(device)
    n_params = count_parameters(model)
    B = args.prompts * args.group_size
    prompts = torch.randint(10, cfg.vocab_size, (args.prompts, args.prompt_len), device=device)
    out: dict[str, float | str | int | None] = {"arch": args.arch, "params": n_params, "device": str(device),
                                               "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}

    # rollouts: sampling with KV cache; random weights never emit EOS reliably, so every
    # sequence runs to the cap: tokens = B * new_tokens
    model.eval()
    with torch.no_grad():
        ids = prompts.repeat_interleave(args.group_size, 0)
        model.generate(input_ids=ids[:2], max_new_tokens=4, do_sample=True)  # warm-up
        sync(device)
        t0 = time.perf_counter()
        seqs = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=args.new_tokens,
                              min_new_tokens=args.new_tokens, do_sample=True, temperature=1.0, top_k=0, top_p=1.0)
        sync(device)
        dt = time.perf_counter() - t0
    out["hf_rollout_tokens_per_s"] = B * args.new_tokens / dt

    if args.vllm:
        from vllm import LLM, SamplingParams

        with tempfile.TemporaryDirectory() as d:
            model.save_pretrained(d)
            llm = LLM(model=d, dtype="bfloat16", skip_tokenizer_init=True, gpu_memory_utilization=0.5, seed=0)
            sp = SamplingParams(n=args.group_size, temperature=1.0, max_tokens=args.new_tokens, min_tokens=args.new_tokens, detokenize=False)
            reqs = [{"prompt_token_ids": row.tolist()} for row in prompts]
            t0 = time.perf_counter()
            llm.generate(reqs, sp, use_tqdm=False)
            out["vllm_rollout_tokens_per_s"] = B * args.new_tokens / (time.perf_counter() - t0)
            del llm

    # training: GRPO loss from the registry, fwd + bwd over micro-batches of whole groups
    model.train()
    (getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable)()
    obj = objectives.get("grpo")
    P = args.prompt_len
    mb = args.train_micro_batch
    rewards = torch.randint(0, 2, (B,), device=device).float()
    tokens = 0
    sync(device)
    t0 = time.perf_counter()
    for start in range(0, B, mb):
        sl = seqs[start : start + mb]
        logits = model(input_ids=sl).logits[:, P - 1 : -1].float()
        lp = torch.log_softmax(logits, -1).gather(-1, sl[:, P:, None]).squeeze(-1)
        mask = torch.ones_like(lp)
        batch = objectives.RolloutBatch(logprobs=lp, old_logprobs=lp.detach(), mask=mask, rewards=rewards[start : start + mb],
                                        group_size=min(args.group_size, mb))
        loss, _ = obj.loss(batch)
        loss.backward()
        tokens += sl.numel()
    sync(device)
    dt = time.perf_counter() - t0
    out["train_tokens_per_s"] = tokens / dt
    peak = peak_flops(device)
    # 6 N per token for fwd+bwd, +2 N for the recomputed forward under gradient checkpointing
    out["mfu"] = 8 * n_params * out["train_tokens_per_s"] / peak if peak else None
    out["mfu_note"] = "8*N*tokens/s (fwd+bwd+recompute) / dense bf16 peak" if peak else "no known peak for this device"
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
