"""Decoding with a preallocated KV cache for Llama-family models: the rollout hot loop.

HF's forward pays, at every decode step, for building a 4D mask, growing a
`DynamicCache` by concatenation (O(L^2) copies over a completion) and, when rows finish,
re-indexing the whole cache. On this CPU with the default tiny model those were about
half of a sampling call (cProfile: ``torch.cat`` 19%, ``batch_select_indices`` 14%).
Here the cache is one buffer per layer, ``[B, kv_heads, P + max_new_tokens, head_dim]``,
written in place; the attention mask is a boolean ``[B, P + max_new_tokens]`` buffer;
and finished rows are compacted away lazily, once at least a quarter of the buffer's rows
have finished (one copy instead of one per finishing step; until then a finished row's
forward is wasted work, never read).

The model's own modules (norms, projections, MLP, rotary embedding, head) do the maths,
so the decoder follows the checkpoint's weights and activation; only the wiring of one
decoder layer (pre-norm attention with RoPE, then pre-norm MLP, both residual) is
restated here, for the architectures `supports` accepts. Tests compare its logits with
HF's forward at every step (`tests/test_kvdecode.py`).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel

# model types whose decoder layer is Llama's: input norm -> attention (q/k/v/o projections,
# optional bias, RoPE, grouped KV heads) -> residual -> post norm -> MLP -> residual
SUPPORTED_MODEL_TYPES = frozenset({"llama", "qwen2"})

# compact the cache once this fraction of its rows has finished
COMPACT_FRACTION = 0.25

Choose = Callable[[torch.Tensor], torch.Tensor]


def supports(model: PreTrainedModel) -> bool:
    """True when ``model`` is a decoder whose layers `decode` restates exactly (Llama, Qwen2 without sliding window)."""
    cfg = model.config
    if getattr(cfg, "model_type", None) not in SUPPORTED_MODEL_TYPES:
        return False
    if getattr(cfg, "use_sliding_window", False):
        return False
    inner = getattr(model, "model", None)
    return inner is not None and all(hasattr(inner, a) for a in ("embed_tokens", "layers", "norm", "rotary_emb"))


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class _Norm:
    """RMSNorm as one fused op: weight * x / sqrt(mean(x^2) + eps), computed in float32 like HF's."""

    def __init__(self, norm: torch.nn.Module) -> None:
        self.weight, self.eps = norm.weight, norm.variance_epsilon

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float32:
            return F.rms_norm(x, self.weight.shape, self.weight, self.eps)
        return self.weight * F.rms_norm(x.float(), self.weight.shape, None, self.eps).to(x.dtype)


class _Layer:
    """One decoder layer's weights, with q/k/v and gate/up fused into one matmul each.

    Fusing cuts seven matmuls per layer and step to four; at decode time (one token per
    row) each matmul is small, and its fixed cost dominates on CPU.
    """

    def __init__(self, layer: torch.nn.Module, head_dim: int) -> None:
        att, mlp = layer.self_attn, layer.mlp
        self.input_norm, self.post_norm = _Norm(layer.input_layernorm), _Norm(layer.post_attention_layernorm)
        projections = (att.q_proj, att.k_proj, att.v_proj)
        self.qkv_weight = torch.cat([p.weight for p in projections])
        self.qkv_bias = torch.cat([p.bias for p in projections]) if att.q_proj.bias is not None else None
        self.split = [p.weight.shape[0] for p in projections]
        self.o_proj, self.scaling, self.head_dim = att.o_proj, att.scaling, head_dim
        self.gate_up_weight = torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight])
        self.gate_up_bias = (torch.cat([mlp.gate_proj.bias, mlp.up_proj.bias])
                             if getattr(mlp.gate_proj, "bias", None) is not None else None)
        self.intermediate = mlp.gate_proj.weight.shape[0]
        self.act, self.down_proj = mlp.act_fn, mlp.down_proj

    def __call__(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
        start: int, mask: torch.Tensor, gqa: bool,
    ) -> torch.Tensor:
        """x [b, s, hidden] at cache columns start..start+s-1 -> the layer's output [b, s, hidden].

        Writes the s new keys/values into ``keys``/``values`` [b, kv_heads, L, head_dim] (views
        of the cache) and attends over columns [0, start+s) under ``mask`` [b, 1, s or 1, start+s].
        """
        b, s, _ = x.shape
        d = self.head_dim
        q, k, v = F.linear(self.input_norm(x), self.qkv_weight, self.qkv_bias).split(self.split, dim=-1)
        q = q.view(b, s, -1, d).transpose(1, 2)
        k = k.view(b, s, -1, d).transpose(1, 2)
        v = v.view(b, s, -1, d).transpose(1, 2)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        end = start + s
        keys[:, :, start:end] = k
        values[:, :, start:end] = v
        o = F.scaled_dot_product_attention(
            q, keys[:, :, :end], values[:, :, :end], attn_mask=mask, scale=self.scaling, enable_gqa=gqa,
        )
        x = x + self.o_proj(o.transpose(1, 2).reshape(b, s, -1))
        gate, up = F.linear(self.post_norm(x), self.gate_up_weight, self.gate_up_bias).split(self.intermediate, dim=-1)
        return x + self.down_proj(self.act(gate) * up)


@torch.no_grad()
def decode(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    max_new_tokens: int,
    choose: Choose,
    eos_token_id: int,
    pad_token_id: int,
    on_logits: Callable[[torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Completions [B, steps] of left-padded prompts ``input_ids`` / ``attention_mask`` [B, P].

    ``choose`` maps the next-token logits of the live rows [n, V] (batch order) to their
    tokens [n]: a sampler or argmax. A row stops after it emits ``eos_token_id`` (the EOS
    is kept); its later columns hold ``pad_token_id``. Decoding ends when every row has
    stopped or after ``max_new_tokens``; ``steps`` is the number of decode steps taken.
    ``on_logits`` (tests) sees each step's live-row logits [n, V] before ``choose``.
    Positions follow the attention mask, as in `harness.rollout.hf`.
    """
    if max_new_tokens < 1:
        raise ValueError(f"decode: max_new_tokens must be at least 1, got {max_new_tokens}")
    cfg, inner = model.config, model.model
    B, P = input_ids.shape
    device = input_ids.device
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    kv_heads = cfg.num_key_value_heads
    gqa = kv_heads != cfg.num_attention_heads
    dtype = inner.embed_tokens.weight.dtype
    L = P + max_new_tokens - 1  # the last sampled token is never fed back
    layers = [_Layer(layer, head_dim) for layer in inner.layers]
    keys = [torch.empty(B, kv_heads, L, head_dim, dtype=dtype, device=device) for _ in layers]
    values = [torch.empty_like(k) for k in keys]
    mask = torch.zeros(B, L, dtype=torch.bool, device=device)
    mask[:, :P] = attention_mask.bool()
    positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)

    # prefill: causal and padding mask; a padding query attends to itself so no row of
    # the softmax is empty (its output is never attended to by a real token)
    x = inner.embed_tokens(input_ids)
    cos, sin = inner.rotary_emb(x, positions)
    causal = torch.ones(P, P, dtype=torch.bool, device=device).tril()
    prefill_mask = (causal[None] & mask[:, None, :P]) | torch.eye(P, dtype=torch.bool, device=device)[None]
    prefill_mask = prefill_mask[:, None]
    for i, layer in enumerate(layers):
        x = layer(x, cos, sin, keys[i], values[i], 0, prefill_mask, gqa)
    final_norm = _Norm(inner.norm)
    logits = model.lm_head(final_norm(x[:, -1:]))[:, -1]

    completion = torch.full((B, max_new_tokens), pad_token_id, dtype=input_ids.dtype, device=device)
    rows = torch.arange(B, device=device)  # batch row of each cache row
    alive = torch.ones(B, dtype=torch.bool, device=device)
    next_position = positions[:, -1] + 1
    n, dead, cur, steps = B, 0, P, 0
    while True:
        live = alive.nonzero().squeeze(-1) if dead else None
        live_logits = logits if live is None else logits[live]
        if on_logits is not None:
            on_logits(live_logits)
        token = choose(live_logits)
        completion[rows if live is None else rows[live], steps] = token
        steps += 1
        if steps == max_new_tokens:
            break
        finished = token == eos_token_id
        if bool(finished.any()):
            if live is None:
                alive[finished] = False
            else:
                alive[live[finished]] = False
            dead = n - int(alive.sum())
            if dead == n:
                break
        fed = token if live is None else torch.full((n,), pad_token_id, dtype=token.dtype, device=device).index_put_((live,), token)
        if dead and dead >= COMPACT_FRACTION * n:
            keep = alive.nonzero().squeeze(-1)
            for k, v in zip(keys, values):
                k[: keep.numel(), :, :cur] = k[keep, :, :cur]
                v[: keep.numel(), :, :cur] = v[keep, :, :cur]
            mask[: keep.numel(), :cur] = mask[keep, :cur]
            rows, next_position, fed = rows[keep], next_position[keep], fed[keep]
            n, dead = keep.numel(), 0
            alive = torch.ones(n, dtype=torch.bool, device=device)
        mask[:n, cur] = True
        x = inner.embed_tokens(fed[:, None])
        cos, sin = inner.rotary_emb(x, next_position[:, None])
        step_mask = mask[:n, None, None, : cur + 1]
        for i, layer in enumerate(layers):
            x = layer(x, cos, sin, keys[i][:n], values[i][:n], cur, step_mask, gqa)
        logits = model.lm_head(final_norm(x))[:, -1]
        cur += 1
        next_position = next_position + 1
    return completion[:, :steps]
