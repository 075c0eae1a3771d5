"""Llama-family fast paths: decoding with a preallocated KV cache, and the log-prob forward
with each prompt run once per group.

Decoding. HF's forward pays, at every decode step, for building a 4D mask, growing a
`DynamicCache` by concatenation (O(L^2) copies over a completion) and, when rows finish,
re-indexing the whole cache. On this CPU with the default tiny model those were about
half of a sampling call (cProfile: ``torch.cat`` 19%, ``batch_select_indices`` 14%).
Here the cache is one buffer per layer, ``[B, kv_heads, P + max_new_tokens, head_dim]``,
written in place; the attention mask is a boolean ``[B, P + max_new_tokens]`` buffer;
and finished rows are compacted away lazily, once at least a quarter of the buffer's rows
have finished (one copy instead of one per finishing step; until then a finished row's
forward is wasted work, never read).

Shared prompts. The G samples of a group share their prompt, so its keys and values are
the same in every row: the prefill, and the prompt part of the log-prob forward, run once
per distinct prompt and are broadcast to the group's rows. With SmolLM2's chat prompts
(~53 tokens against ~30 sampled) that is most of the prefill and half the log-prob
forward; gradients flow into the shared prompt pass from every row of its group.

The model's own modules (norms' weights, projections, MLP, rotary embedding, head) do the
maths, so the code follows the checkpoint's weights and activation; only the wiring of
one decoder layer (pre-norm attention with RoPE, then pre-norm MLP, both residual) is
restated here, for the architectures `supports` accepts. Tests compare every step's
logits, and the log-probs and their gradients, with HF's forward (`tests/test_kvdecode.py`).
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


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """[B, L] positions counting only attended tokens (left padding gets position 0)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


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
    """One decoder layer, wired as Llama's, from the HF layer's own modules."""

    def __init__(self, layer: torch.nn.Module, head_dim: int) -> None:
        att = layer.self_attn
        self.input_norm, self.post_norm = _Norm(layer.input_layernorm), _Norm(layer.post_attention_layernorm)
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = att.q_proj, att.k_proj, att.v_proj, att.o_proj
        self.mlp, self.scaling, self.head_dim = layer.mlp, att.scaling, head_dim

    def qkv(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Queries, keys, values [b, heads, s, head_dim] of x [b, s, hidden], RoPE applied."""
        b, s, _ = x.shape
        h = self.input_norm(x)
        q = self.q_proj(h).view(b, s, -1, self.head_dim).transpose(1, 2)
        k = self.k_proj(h).view(b, s, -1, self.head_dim).transpose(1, 2)
        v = self.v_proj(h).view(b, s, -1, self.head_dim).transpose(1, 2)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        return q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin, v

    def rest(self, x: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor,
             gqa: bool) -> torch.Tensor:
        """Attention of q over k/v under ``mask`` [b, 1, s or 1, keys], output projection, MLP: [b, s, hidden]."""
        b, s, _ = x.shape
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=self.scaling, enable_gqa=gqa)
        x = x + self.o_proj(o.transpose(1, 2).reshape(b, s, -1))
        return x + self.mlp(self.post_norm(x))

    def __call__(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
        start: int, mask: torch.Tensor, gqa: bool,
    ) -> torch.Tensor:
        """x [b, s, hidden] at cache columns start..start+s-1 -> the layer's output [b, s, hidden].

        Writes the s new keys/values into ``keys``/``values`` [b, kv_heads, L, head_dim] (views
        of the cache) and attends over columns [0, start+s) under ``mask`` [b, 1, s or 1, start+s].
        """
        q, k, v = self.qkv(x, cos, sin)
        end = start + x.shape[1]
        keys[:, :, start:end] = k
        values[:, :, start:end] = v
        return self.rest(x, q, keys[:, :, :end], values[:, :, :end], mask, gqa)


def _geometry(model: PreTrainedModel) -> tuple[int, int, bool]:
    """(head_dim, kv_heads, grouped-query attention?) of a supported model."""
    cfg = model.config
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    return head_dim, cfg.num_key_value_heads, cfg.num_key_value_heads != cfg.num_attention_heads


def _causal_padding_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """[b, 1, s, s] mask of a full forward over left-padded rows [b, s]: causal, padding keys
    masked; a padding query attends to itself, so no softmax row is empty (its output is
    never attended to by a real token)."""
    s, device = attention_mask.shape[1], attention_mask.device
    causal = torch.ones(s, s, dtype=torch.bool, device=device).tril()
    eye = torch.eye(s, dtype=torch.bool, device=device)
    return ((causal[None] & attention_mask.bool()[:, None, :]) | eye[None])[:, None]


def distinct_prompts(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(first row of each distinct prompt [U], the distinct prompt of every row [B]) for [B, P] prompts."""
    key = torch.cat([input_ids, attention_mask.to(input_ids.dtype)], dim=1)
    _, inverse = torch.unique(key, dim=0, return_inverse=True)
    first = torch.full((int(inverse.max()) + 1,), key.shape[0], dtype=torch.long, device=key.device)
    first = first.scatter_reduce(0, inverse, torch.arange(key.shape[0], device=key.device), reduce="amin")
    # renumber the distinct prompts in order of first appearance
    order = torch.argsort(first)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel(), device=order.device)
    return first[order], rank[inverse]


def prompt_pass(
    model: PreTrainedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor,
) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
    """One forward over left-padded prompts [U, P]: per layer (keys, values) [U, kv_heads, P,
    head_dim], and the logits [U, V] at the last position (they predict the first completion
    token). Differentiable when called with gradients on."""
    inner = model.model
    head_dim, _, gqa = _geometry(model)
    positions = position_ids_from_mask(attention_mask)
    x = inner.embed_tokens(input_ids)
    cos, sin = inner.rotary_emb(x, positions)
    mask = _causal_padding_mask(attention_mask)
    kv: list[tuple[torch.Tensor, torch.Tensor]] = []
    for module in inner.layers:
        layer = _Layer(module, head_dim)
        q, k, v = layer.qkv(x, cos, sin)
        kv.append((k, v))
        x = layer.rest(x, q, k, v, mask, gqa)
    return kv, model.lm_head(_Norm(inner.norm)(x[:, -1:]))[:, -1]


def continuation_logits(
    model: PreTrainedModel, prompt_kv: list[tuple[torch.Tensor, torch.Tensor]], prompt_mask: torch.Tensor,
    inputs: torch.Tensor,
) -> torch.Tensor:
    """Logits [b, s, V] after each of ``inputs`` [b, s] (completion tokens fed after the
    prompts): row i attends to its prompt's keys/values ``prompt_kv`` (per layer [b, kv_heads,
    P, head_dim], already one per row) under ``prompt_mask`` [b, P], then causally to its
    own inputs. Positions continue from the prompt's attended length."""
    inner = model.model
    head_dim, _, gqa = _geometry(model)
    b, s = inputs.shape
    device = inputs.device
    positions = prompt_mask.long().sum(-1, keepdim=True) + torch.arange(s, device=device)[None]
    x = inner.embed_tokens(inputs)
    cos, sin = inner.rotary_emb(x, positions)
    causal = torch.ones(s, s, dtype=torch.bool, device=device).tril()
    mask = torch.cat([prompt_mask.bool()[:, None, :].expand(b, s, -1), causal[None].expand(b, s, s)], dim=-1)[:, None]
    for module, (pk, pv) in zip(inner.layers, prompt_kv):
        layer = _Layer(module, head_dim)
        q, k, v = layer.qkv(x, cos, sin)
        x = layer.rest(x, q, torch.cat([pk, k], dim=2), torch.cat([pv, v], dim=2), mask, gqa)
    return model.lm_head(_Norm(inner.norm)(x))


def forward_supported(model: PreTrainedModel) -> bool:
    """The shared-prompt log-prob forward may stand in for ``model(...)``: a supported
    architecture, no gradient checkpointing (HF's forward does that), no attention dropout."""
    checkpointing = getattr(model, "is_activation_checkpointing", None)  # transformers >= 5.2x
    if checkpointing is None:
        checkpointing = getattr(model, "is_gradient_checkpointing", False)
    if not supports(model) or checkpointing:
        return False
    return not (model.training and float(getattr(model.config, "attention_dropout", 0.0) or 0.0) > 0)


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
    inner = model.model
    B, P = input_ids.shape
    device = input_ids.device
    head_dim, kv_heads, gqa = _geometry(model)
    dtype = inner.embed_tokens.weight.dtype
    L = P + max_new_tokens - 1  # the last sampled token is never fed back
    layers = [_Layer(layer, head_dim) for layer in inner.layers]
    keys = [torch.empty(B, kv_heads, L, head_dim, dtype=dtype, device=device) for _ in layers]
    values = [torch.empty_like(k) for k in keys]
    mask = torch.zeros(B, L, dtype=torch.bool, device=device)
    mask[:, :P] = attention_mask.bool()
    positions = position_ids_from_mask(attention_mask)

    # prefill once per distinct prompt; every row of a group gets its prompt's keys/values
    first, prompt_of = distinct_prompts(input_ids, attention_mask)
    prompt_kv, prompt_logits = prompt_pass(model, input_ids[first], attention_mask[first])
    for i, (k, v) in enumerate(prompt_kv):
        keys[i][:, :, :P] = k[prompt_of]
        values[i][:, :, :P] = v[prompt_of]
    del prompt_kv
    logits = prompt_logits[prompt_of]
    final_norm = _Norm(inner.norm)

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
