"""IAPO's early-exit answer entropy: the KV-reuse computation equals per-prefix recomputation."""
from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from harness.rollout.signals import early_exit_answer_entropy, naive_early_exit_answer_entropy

PAD, P, T = 0, 5, 7
DELIM = [7, 8, 9]


def tiny_llama(attn: str) -> LlamaForCausalLM:
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, pad_token_id=PAD,
        initializer_range=0.5,  # peaked distributions, so a wrong position or mask shows
        attn_implementation=attn,
    )
    return LlamaForCausalLM(cfg)


def rollout_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-padded prompts of lengths 5, 3, 4, 1; right-padded completions of lengths 7, 4, 1, 6."""
    g = torch.Generator().manual_seed(1)
    seq = torch.randint(3, 50, (4, P + T), generator=g)
    prompt_mask = (torch.arange(P)[None] >= P - torch.tensor([5, 3, 4, 1])[:, None]).long()
    completion_mask = (torch.arange(T)[None] < torch.tensor([7, 4, 1, 6])[:, None]).long()
    seq[:, :P][prompt_mask == 0] = PAD
    seq[:, P:][completion_mask == 0] = PAD
    return seq, torch.cat([prompt_mask, completion_mask], dim=1), completion_mask.float()


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_kv_reuse_answer_entropy_equals_naive_recomputation(attn: str) -> None:
    model = tiny_llama(attn)
    seq, attention_mask, cmask = rollout_batch()
    fast = early_exit_answer_entropy(model, seq, P, cmask, DELIM, attention_mask=attention_mask)
    naive = naive_early_exit_answer_entropy(model, seq, P, cmask, DELIM, attention_mask=attention_mask)
    torch.testing.assert_close(fast, naive, atol=1e-4, rtol=0)
    assert fast.shape == (4, T) and (fast[cmask == 0] == 0).all()
    assert naive[cmask == 1].std() > 0.1, "entropies barely vary: the comparison would prove little"


def test_kv_reuse_in_chunks_and_with_inferred_padding_equals_naive() -> None:
    model = tiny_llama("eager")
    seq, attention_mask, cmask = rollout_batch()
    naive = naive_early_exit_answer_entropy(model, seq, P, cmask, DELIM, attention_mask=attention_mask)
    chunked = early_exit_answer_entropy(model, seq, P, cmask, DELIM, prefixes_per_chunk=3)  # pad id from config
    torch.testing.assert_close(chunked, naive, atol=1e-4, rtol=0)


def test_answer_entropy_depends_on_the_delimiter_and_leaves_the_model_mode() -> None:
    model = tiny_llama("eager").train()
    seq, attention_mask, cmask = rollout_batch()
    a = early_exit_answer_entropy(model, seq, P, cmask, DELIM, attention_mask=attention_mask)
    b = early_exit_answer_entropy(model, seq, P, cmask, [11], attention_mask=attention_mask)
    assert model.training
    assert (a - b).abs().max() > 1e-3
