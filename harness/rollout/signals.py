"""Extra per-token signals objectives ask for, computed from a rollout batch.

``early_exit_answer_entropy`` is IAPO's estimator (arXiv 2602.19049): at every completion
prefix o_<=t, append the answer delimiter and read the entropy of the model's next-token
distribution, i.e. how sure the model would be of its answer if it stopped thinking
there. The drop of that entropy from one prefix to the next estimates the token's
conditional mutual information with the answer.

Layout (as ``harness.rollout.hf``): prompts left-padded to a common length P,
completions right-padded to T, ``sequences`` [B, P+T]; positions count attended tokens
only (cumsum(attention_mask) - 1), so padding never shifts a position.
"""
from __future__ import annotations

import torch

from harness.rollout.kvdecode import position_ids_from_mask

__all__ = ["early_exit_answer_entropy", "naive_early_exit_answer_entropy"]


def _entropy_from_logits(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)
    return -(logp.exp() * logp).sum(-1)


def _attention_mask(
    model: torch.nn.Module, sequences: torch.Tensor, prompt_len: int, completion_mask: torch.Tensor,
    attention_mask: torch.Tensor | None,
) -> torch.Tensor:
    """[B, P+T] long; without an explicit mask, prompt padding is read from the pad token id."""
    if attention_mask is not None:
        return attention_mask.long()
    pad_id = getattr(model.config, "pad_token_id", None)
    prompt = sequences[:, :prompt_len]
    prompt_mask = (prompt != pad_id).long() if pad_id is not None else torch.ones_like(prompt)
    return torch.cat([prompt_mask, completion_mask.long()], dim=1)


@torch.no_grad()
def early_exit_answer_entropy(
    model: torch.nn.Module,
    sequences: torch.Tensor,
    prompt_len: int,
    completion_mask: torch.Tensor,
    delimiter_ids: list[int],
    *,
    attention_mask: torch.Tensor | None = None,
    temperature: float = 1.0,
    prefixes_per_chunk: int | None = None,
) -> torch.Tensor:
    """[B, T] entropy of the next token after ``o_<=t + delimiter``, for every completion prefix t.

    sequences: [B, P+T] LongTensor (prompt left-padded, completion right-padded);
    completion_mask: [B, T]; delimiter_ids: the answer delimiter's token ids (k >= 1);
    attention_mask: [B, P+T], recommended; if None the prompt's padding is taken to be the
    tokens equal to ``model.config.pad_token_id``. Padded completion positions get 0.

    KV reuse: one forward of the whole sequence fills the cache; then the k delimiter
    tokens of every prefix go through the model in one call as n*k extra queries on top
    of that cache, with a custom 4D mask: the delimiters of prefix t see the attended
    sequence keys at positions <= P+t and, causally, their own block of k delimiters,
    never another prefix's. Positions continue from the prefix's last position. Cost:
    one sequence forward plus one forward of n*k tokens, instead of T full forwards.
    ``prefixes_per_chunk`` bounds the memory of the [n*k, P+T+n*k] mask (default: all T).
    Needs an attention implementation that takes a 4D mask (eager or sdpa).
    """
    B, L = sequences.shape
    T = L - prompt_len
    if T <= 0 or len(delimiter_ids) == 0:
        raise ValueError(f"need a completion (T={T}) and a non-empty delimiter (got {delimiter_ids!r})")
    if getattr(model.config, "_attn_implementation", "eager") not in ("eager", "sdpa"):
        raise ValueError(
            f"early_exit_answer_entropy needs a custom 4D attention mask; load the model with "
            f"attn_implementation='eager' or 'sdpa' (it has {model.config._attn_implementation!r})"
        )
    device = sequences.device
    attn = _attention_mask(model, sequences, prompt_len, completion_mask, attention_mask).to(device)
    positions = position_ids_from_mask(attn)
    was_training = model.training
    model.eval()
    try:
        out = model(input_ids=sequences, attention_mask=attn, position_ids=positions, use_cache=True)
        cache = out.past_key_values
        dtype = next(model.parameters()).dtype  # the additive mask must match the attention dtype
        k = len(delimiter_ids)
        delim = torch.tensor(delimiter_ids, device=device, dtype=sequences.dtype)
        steps = torch.arange(k, device=device)
        causal_block = torch.tril(torch.ones(k, k, dtype=torch.bool, device=device))
        result = torch.zeros(B, T, device=device, dtype=torch.float32)
        chunk = prefixes_per_chunk or T
        for start in range(0, T, chunk):
            ts = torch.arange(start, min(T, start + chunk), device=device)  # completion prefixes o_<=t
            n = ts.numel()
            ids = delim.repeat(n).unsqueeze(0).expand(B, -1)  # [B, n*k]
            last = prompt_len + ts  # index of o_t in the sequence
            q_pos = (positions[:, last].unsqueeze(-1) + 1 + steps).reshape(B, n * k)
            # keys from the sequence: attended and not after o_t
            seq_keys = (torch.arange(L, device=device)[None, :] <= last[:, None])[None] & attn.bool()[:, None, :]
            seq_keys = seq_keys.unsqueeze(2).expand(B, n, k, L).reshape(B, n * k, L)
            # keys from the delimiters: same prefix only, causal inside the block
            same_prefix = torch.eye(n, dtype=torch.bool, device=device)
            delim_keys = (same_prefix[:, None, :, None] & causal_block[None, :, None, :]).reshape(n * k, n * k)
            allowed = torch.cat([seq_keys, delim_keys.unsqueeze(0).expand(B, -1, -1)], dim=-1)
            mask4d = torch.zeros(B, 1, n * k, L + n * k, device=device, dtype=dtype)
            mask4d.masked_fill_(~allowed.unsqueeze(1), torch.finfo(dtype).min)
            keep = torch.arange(n, device=device) * k + (k - 1)  # the last delimiter of each prefix
            logits = model(
                input_ids=ids, attention_mask=mask4d, position_ids=q_pos, past_key_values=cache,
                use_cache=True, logits_to_keep=keep,
            ).logits  # [B, n, V]
            cache.crop(-(n * k))  # drop this chunk's delimiter keys; the sequence keys stay
            result[:, ts] = _entropy_from_logits(logits, temperature)
    finally:
        if was_training:
            model.train()
    return result * completion_mask.to(result.dtype)


@torch.no_grad()
def naive_early_exit_answer_entropy(
    model: torch.nn.Module,
    sequences: torch.Tensor,
    prompt_len: int,
    completion_mask: torch.Tensor,
    delimiter_ids: list[int],
    *,
    attention_mask: torch.Tensor | None = None,
    temperature: float = 1.0,
) -> torch.Tensor:
    """The same [B, T] quantity by brute force: one unpadded forward per (sequence, prefix).

    The reference the KV-reuse version is tested against; O(B * T) forwards.
    """
    B, L = sequences.shape
    T = L - prompt_len
    attn = _attention_mask(model, sequences, prompt_len, completion_mask, attention_mask).bool()
    delim = torch.tensor(delimiter_ids, device=sequences.device, dtype=sequences.dtype)
    result = torch.zeros(B, T, dtype=torch.float32, device=sequences.device)
    was_training = model.training
    model.eval()
    try:
        for b in range(B):
            for t in range(T):
                if not completion_mask[b, t]:
                    continue
                upto = prompt_len + t + 1
                tokens = sequences[b, :upto][attn[b, :upto]]
                ids = torch.cat([tokens, delim]).unsqueeze(0)
                logits = model(input_ids=ids, use_cache=False).logits[0, -1]
                result[b, t] = _entropy_from_logits(logits, temperature)
    finally:
        if was_training:
            model.train()
    return result
