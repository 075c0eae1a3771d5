"""Rollouts with HF `generate` (KV cache) and the token log-probs the objectives need.

Layout of a rollout batch: prompts left-padded to a common length P, completions
right-padded to T; ``sequences`` is [B, P+T]. Position ids follow the attention mask,
so a left-padded prompt sees the same positions as an unpadded one.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase


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

    Stops as soon as every sequence has produced EOS. Sampling draws from torch's global
    generator, so the caller's seed fixes the result on CPU.
    """
    enc = tokenizer(prompts, return_tensors="pt", padding=True)
    input_ids = enc["input_ids"].repeat_interleave(num_samples, dim=0)
    attn = enc["attention_mask"].repeat_interleave(num_samples, dim=0)
    was_training = model.training
    model.eval()
    out = model.generate(
        input_ids=input_ids,
        attention_mask=attn,
        max_new_tokens=max_new_tokens,
        do_sample=not greedy,
        temperature=temperature if not greedy else None,
        top_k=0 if not greedy else None,
        top_p=1.0 if not greedy else None,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        use_cache=True,
    )
    if was_training:
        model.train()
    P = input_ids.shape[1]
    completion = out[:, P:]
    is_eos = completion == tokenizer.eos_token_id
    # keep tokens up to and including the first EOS
    after_eos = (is_eos.cumsum(-1) - is_eos.long()) > 0
    completion_mask = (~after_eos).float()
    completion = completion.masked_fill(after_eos, tokenizer.pad_token_id)
    sequences = torch.cat([input_ids, completion], dim=1)
    attention_mask = torch.cat([attn, completion_mask.long()], dim=1)
    texts = tokenizer.batch_decode(completion, skip_special_tokens=True)
    return Rollouts(sequences, attention_mask, completion_mask, P, texts)


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """[B, L] positions counting only attended tokens (left padding gets position 0)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def completion_logprobs(
    model: PreTrainedModel, rollouts: Rollouts, *, with_entropy: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Token log-probs [B, T] of the sampled completion (and entropies [B, T] if asked).

    Gradients flow when called outside ``torch.no_grad``.
    """
    seq, attn = rollouts.sequences, rollouts.attention_mask
    logits = model(
        input_ids=seq, attention_mask=attn, position_ids=position_ids_from_mask(attn), use_cache=False
    ).logits
    P = rollouts.prompt_len
    # logits at position i predict token i+1
    logits = logits[:, P - 1 : -1, :].float()
    logp_all = torch.log_softmax(logits, dim=-1)
    target = rollouts.completion_ids
    logprobs = logp_all.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    entropy = None
    if with_entropy:
        entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logprobs, entropy
