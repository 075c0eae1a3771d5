"""Rollouts (`generate` greedy for evaluation, `sample` for training) and the token log-probs.

Both decode through `decode_completions`: a preallocated KV cache for Llama-family models
(`harness.rollout.kvdecode`), HF's forward with a `DynamicCache` otherwise.

Layout of a rollout batch: prompts left-padded to a common length P, completions
right-padded to T; ``sequences`` is [B, P+T]. Position ids follow the attention mask,
so a left-padded prompt sees the same positions as an unpadded one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from transformers import DynamicCache, PreTrainedModel, PreTrainedTokenizerBase

from harness.rollout import kvdecode
from harness.rollout.kvdecode import position_ids_from_mask

# Rows of a log-prob forward are sorted by completion length and cut into this many
# buckets, each trimmed to its own longest completion: completions of a batch vary from
# a few tokens to the cap, and the padding past each row's EOS would otherwise be paid
# for in the forward and again in the backward. On the warm-started model (128 rollouts,
# 57 tokens on average, padded to 111 with the prompt) forward+backward through HF's
# forward took 1.2 s in one padded batch, 0.73 s with 4 buckets and 0.68 s with 8. With
# the prompts run once per group (`kvdecode`) only completions remain in the buckets:
# 0.59 s with 4, 0.55 s with 8 and 16.
LOGPROB_BUCKETS = 8


@dataclass
class Rollouts:
    """sequences [B, P+T]; attention_mask [B, P+T]; completion_mask [B, T]; texts: B strings."""

    sequences: torch.Tensor
    attention_mask: torch.Tensor
    completion_mask: torch.Tensor
    prompt_len: int
    texts: list[str]

    @property
    def completion_ids(self) -> torch.Tensor:
        return self.sequences[:, self.prompt_len :]

    @property
    def lengths(self) -> torch.Tensor:
        """[B] completion tokens, EOS included."""
        return self.completion_mask.sum(-1)


def assemble_rollouts(
    input_ids: torch.Tensor, attn: torch.Tensor, completion: torch.Tensor, tokenizer: PreTrainedTokenizerBase
) -> Rollouts:
    """Rollouts from left-padded prompts [B, P] and raw completions [B, T].

    Keeps each completion up to and including its first EOS (mask 1 there), pads the rest.
    """
    is_eos = completion == tokenizer.eos_token_id
    after_eos = (is_eos.long().cumsum(-1) - is_eos.long()) > 0
    completion_mask = (~after_eos).float()
    completion = completion.masked_fill(after_eos, tokenizer.pad_token_id)
    sequences = torch.cat([input_ids, completion], dim=1)
    attention_mask = torch.cat([attn, completion_mask.long()], dim=1)
    texts = tokenizer.batch_decode(completion, skip_special_tokens=True)
    return Rollouts(sequences, attention_mask, completion_mask, input_ids.shape[1], texts)


def concat_rollouts(parts: list[Rollouts], pad_token_id: int) -> Rollouts:
    """Rollouts of several batches as one: prompts left-padded to the longest prompt,
    completions right-padded to the longest completion, rows in the order given."""
    if not parts:
        raise ValueError("concat_rollouts: no rollouts to join")
    if len(parts) == 1:
        return parts[0]
    P = max(r.prompt_len for r in parts)
    T = max(r.completion_mask.shape[1] for r in parts)
    seqs, attns, masks, texts = [], [], [], []
    for r in parts:
        left, right = P - r.prompt_len, T - r.completion_mask.shape[1]
        prompt, completion = r.sequences[:, : r.prompt_len], r.sequences[:, r.prompt_len :]
        seqs.append(torch.cat([F.pad(prompt, (left, 0), value=pad_token_id), F.pad(completion, (0, right), value=pad_token_id)], 1))
        attns.append(F.pad(r.attention_mask, (left, right), value=0))
        masks.append(F.pad(r.completion_mask, (0, right), value=0))
        texts.extend(r.texts)
    return Rollouts(torch.cat(seqs), torch.cat(attns), torch.cat(masks), P, texts)


@torch.no_grad()
def generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    *,
    num_samples: int = 1,
    max_new_tokens: int,
    temperature: float = 1.0,
    greedy: bool = False,
) -> Rollouts:
    """Sample ``num_samples`` completions per prompt (groups contiguous), or decode greedily.

    Greedy decoding (evaluation, validation) runs `decode_completions` with argmax: the
    same tokens as HF ``generate(do_sample=False)`` up to float ties, at a fraction of the
    cost. Sampling here goes through HF ``generate``; training rollouts use `sample`.
    Stops as soon as every sequence has produced EOS. Sampling draws from torch's global
    generator, so the caller's seed fixes the result on CPU.
    """
    enc = tokenizer(prompts, return_tensors="pt", padding=True).to(model.device)
    input_ids = enc["input_ids"].repeat_interleave(num_samples, dim=0)
    attn = enc["attention_mask"].repeat_interleave(num_samples, dim=0)
    was_training = model.training
    model.eval()
    try:
        if greedy:
            completion = decode_completions(
                model, input_ids, attn, max_new_tokens=max_new_tokens, choose=_argmax,
                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
            )
        else:
            out = model.generate(
                input_ids=input_ids, attention_mask=attn, max_new_tokens=max_new_tokens, do_sample=True,
                temperature=temperature, top_k=0, top_p=1.0, pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id, use_cache=True,
            )
            completion = out[:, input_ids.shape[1] :]
    finally:
        if was_training:
            model.train()
    return assemble_rollouts(input_ids, attn, completion, tokenizer)


def nucleus_choice(logits: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """One token per row from softmax(logits / temperature) restricted to its nucleus.

    logits: [n, V] -> tokens [n]. The nucleus is the most likely tokens, in order, up to and
    including the first whose cumulative probability reaches ``top_p`` (a token is kept when
    the mass before it is below top_p; so the most likely token always is); the draw is
    from their renormalised probabilities (torch's global generator).
    """
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    before = sorted_probs.cumsum(dim=-1) - sorted_probs  # mass of the more likely tokens
    sorted_probs = sorted_probs.masked_fill(before >= top_p, 0.0)
    choice = torch.multinomial(sorted_probs, num_samples=1)
    return order.gather(-1, choice).squeeze(-1)


@torch.no_grad()
def sample(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    *,
    num_samples: int = 1,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
) -> Rollouts:
    """Sample ``num_samples`` completions per prompt (groups contiguous): training rollouts.
    top_p < 1: nucleus sampling (``nucleus_choice``; the papers' benchmark settings).

    Same `Rollouts` as ``generate(..., greedy=False)`` and the same distribution (softmax of
    logits / temperature, no top-k/top-p), through `decode_completions`: a row stops
    costing once it samples EOS, so the late steps, where few long completions remain,
    cost little (HF `generate` keeps finished rows in every forward). Draws come from
    torch's global generator, so the caller's seed fixes the result on CPU; they are not
    the draws `generate` would make.
    """
    if max_new_tokens < 1:
        raise ValueError(f"sample: max_new_tokens must be at least 1, got {max_new_tokens}")
    enc = tokenizer(prompts, return_tensors="pt", padding=True).to(model.device)
    input_ids = enc["input_ids"].repeat_interleave(num_samples, dim=0)
    attn = enc["attention_mask"].repeat_interleave(num_samples, dim=0)

    def draw(logits: torch.Tensor) -> torch.Tensor:
        if top_p < 1.0:
            return nucleus_choice(logits, temperature, top_p)
        probs = torch.softmax(logits.float() / temperature, dim=-1)
        return torch.multinomial(probs, num_samples=1).squeeze(-1)

    was_training = model.training
    model.eval()
    try:
        completion = decode_completions(
            model, input_ids, attn, max_new_tokens=max_new_tokens, choose=draw,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        )
    finally:
        if was_training:
            model.train()
    return assemble_rollouts(input_ids, attn, completion, tokenizer)


def _argmax(logits: torch.Tensor) -> torch.Tensor:
    return logits.argmax(dim=-1)


@torch.no_grad()
def decode_completions(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    max_new_tokens: int,
    choose: Callable[[torch.Tensor], torch.Tensor],
    eos_token_id: int,
    pad_token_id: int,
    cache: str = "auto",
    on_logits: Callable[[torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Completions [B, steps] of left-padded prompts [B, P]; a row stops after its first EOS.

    ``choose`` maps the live rows' next-token logits [n, V] (batch order) to tokens [n].
    ``cache``: "static" is `harness.rollout.kvdecode` (a preallocated KV cache; Llama-family
    models only), "dynamic" is HF's forward with a `DynamicCache` from which finished rows
    are dropped (any causal LM), "auto" takes static where the model allows it.
    ``on_logits`` (tests) sees each step's live-row logits before ``choose``.
    """
    if max_new_tokens < 1:
        raise ValueError(f"decode_completions: max_new_tokens must be at least 1, got {max_new_tokens}")
    if cache not in ("auto", "static", "dynamic"):
        raise ValueError(f"decode_completions: cache must be auto, static or dynamic, got {cache!r}")
    if cache == "static" and not kvdecode.supports(model):
        raise ValueError(f"decode_completions: the static cache does not support model type {model.config.model_type!r}")
    kwargs = dict(max_new_tokens=max_new_tokens, choose=choose, eos_token_id=eos_token_id, pad_token_id=pad_token_id,
                  on_logits=on_logits)
    if cache != "dynamic" and kvdecode.supports(model):
        return kvdecode.decode(model, input_ids, attention_mask, **kwargs)
    return _decode_dynamic_cache(model, input_ids, attention_mask, **kwargs)


def _decode_dynamic_cache(
    model: PreTrainedModel, input_ids: torch.Tensor, attn: torch.Tensor, *, max_new_tokens: int,
    choose: Callable[[torch.Tensor], torch.Tensor], eos_token_id: int, pad_token_id: int,
    on_logits: Callable[[torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """`decode_completions` through HF's forward and a `DynamicCache`: [B, P] -> [B, steps]."""
    B = input_ids.shape[0]
    completion = torch.full((B, max_new_tokens), pad_token_id, dtype=input_ids.dtype, device=input_ids.device)
    cache = DynamicCache(config=model.config)
    positions = position_ids_from_mask(attn)
    logits = model(
        input_ids=input_ids, attention_mask=attn, position_ids=positions, past_key_values=cache, use_cache=True,
        logits_to_keep=1,
    ).logits[:, -1]
    live = torch.arange(B, device=input_ids.device)  # batch row of each live cache row
    live_attn, next_position = attn, positions[:, -1:] + 1
    steps = 0
    while True:
        if on_logits is not None:
            on_logits(logits)
        token = choose(logits)
        completion[live, steps] = token
        steps += 1
        if steps == max_new_tokens:
            break
        running = token != eos_token_id
        if not bool(running.all()):
            if not bool(running.any()):
                break
            keep = running.nonzero().squeeze(-1)
            cache.batch_select_indices(keep)
            live, live_attn, next_position, token = live[keep], live_attn[keep], next_position[keep], token[keep]
        live_attn = torch.cat([live_attn, live_attn.new_ones(live.shape[0], 1)], dim=1)
        logits = model(
            input_ids=token[:, None], attention_mask=live_attn, position_ids=next_position, past_key_values=cache,
            use_cache=True,
        ).logits[:, -1]
        next_position = next_position + 1
    return completion[:, :steps]


def completion_logprobs(
    model: PreTrainedModel, rollouts: Rollouts, *, with_entropy: bool = False, buckets: int = LOGPROB_BUCKETS,
    temperature: float = 1.0, share_prompts: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Token log-probs [B, T] of the sampled completion (and entropies [B, T] if asked).

    Under the sampling policy softmax(logits / ``temperature``), the one ``sample`` draws
    from, so importance ratios compare like with like (TRL does the same); 1.0 leaves the
    logits untouched.

    Exactly 0 where ``completion_mask`` is 0, so padding is the same whichever rows share a
    forward (objectives take exp(logprobs - old_logprobs) before masking). Rows run through
    the model in ``buckets`` groups of similar completion length (see `LOGPROB_BUCKETS`);
    the result is in the rows' original order and, on completion tokens, equals one padded
    forward over the whole batch. For Llama-family models (and ``share_prompts``) each
    distinct prompt runs once and its keys/values serve every row that shares it
    (`kvdecode.prompt_pass`); otherwise prompt and completion run together through HF's
    forward. Gradients flow when called outside ``torch.no_grad``.
    """
    seq, attn, P = rollouts.sequences, rollouts.attention_mask, rollouts.prompt_len
    B, T = rollouts.completion_mask.shape
    lengths = rollouts.completion_mask.sum(-1).long()
    order = torch.argsort(lengths, stable=True)
    shared = share_prompts and P > 0 and kvdecode.forward_supported(model)
    if shared:
        first_col = int(attn[:, :P].any(0).long().argmax())  # leading columns that are padding in every row go
        prompt_ids, prompt_mask = seq[:, first_col:P], attn[:, first_col:P]
        first, prompt_of = kvdecode.distinct_prompts(prompt_ids, prompt_mask)
        prompt_kv, prompt_logits = kvdecode.prompt_pass(model, prompt_ids[first], prompt_mask[first])
    logprob_parts: list[torch.Tensor] = []
    entropy_parts: list[torch.Tensor] = []
    for rows in torch.tensor_split(order, min(max(1, buckets), B)):
        t = int(lengths[rows].max())
        if shared and t > 0:
            target = seq[rows, P : P + t]
            padding = attn[rows, P : P + t] == 0
            logits = prompt_logits[prompt_of[rows]][:, None]
            if t > 1:
                kv = [(k[prompt_of[rows]], v[prompt_of[rows]]) for k, v in prompt_kv]
                rest = kvdecode.continuation_logits(model, kv, prompt_mask[rows], seq[rows, P : P + t - 1])
                logits = torch.cat([logits, rest], dim=1)
            lp, ent = _token_logprobs(logits, target, padding, with_entropy, temperature)
        else:
            lp, ent = _bucket_logprobs(model, seq[rows], attn[rows], P, t, with_entropy, temperature)
        logprob_parts.append(F.pad(lp, (0, T - lp.shape[1])))
        if ent is not None:
            entropy_parts.append(F.pad(ent, (0, T - ent.shape[1])))
    original_order = torch.argsort(order)
    logprobs = torch.cat(logprob_parts)[original_order]
    entropy = torch.cat(entropy_parts)[original_order] if with_entropy else None
    return logprobs, entropy


def _token_logprobs(
    logits: torch.Tensor, target: torch.Tensor, padding: torch.Tensor, with_entropy: bool, temperature: float,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-probs (and entropies) [b, t] of ``target`` [b, t] under softmax(``logits`` [b, t, V] / T); 0 at ``padding``."""
    logits = logits.float()
    if temperature != 1.0:
        logits = logits / temperature
    logp_all = torch.log_softmax(logits, dim=-1)
    logprobs = logp_all.gather(-1, target.unsqueeze(-1)).squeeze(-1).masked_fill(padding, 0.0)
    entropy = -(logp_all.exp() * logp_all).sum(-1).masked_fill(padding, 0.0) if with_entropy else None
    return logprobs, entropy


def _bucket_logprobs(
    model: PreTrainedModel, seq: torch.Tensor, attn: torch.Tensor, prompt_len: int, t: int, with_entropy: bool,
    temperature: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-probs (and entropies) [b, t] of the first t completion tokens of ``seq`` [b, P+T], through HF's forward.

    Every row's completion ends within t tokens; positions past a row's end are 0. Leading
    prompt columns that are padding in every row are dropped: they are masked out and
    positions follow the mask, so no other token's output changes. The last completion
    token is only ever a target, so the input stops before it.
    """
    if t == 0:
        empty = seq.new_zeros(seq.shape[0], 0, dtype=torch.float32)
        return empty, (empty if with_entropy else None)
    first = int(attn[:, :prompt_len].any(0).long().argmax())  # first prompt column any row attends to
    inputs, mask = seq[:, first : prompt_len + t - 1], attn[:, first : prompt_len + t - 1]
    # logits at position i predict token i+1: the last t positions predict the t completion tokens
    logits = model(
        input_ids=inputs, attention_mask=mask, position_ids=position_ids_from_mask(mask), use_cache=False,
        logits_to_keep=t,
    ).logits
    target = seq[:, prompt_len : prompt_len + t]
    padding = attn[:, prompt_len : prompt_len + t] == 0
    return _token_logprobs(logits, target, padding, with_entropy, temperature)
