"""The fast rollout paths: bucketed log-probs equal one padded forward."""
from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from harness.rollout.hf import Rollouts, completion_logprobs, position_ids_from_mask

PAD, P, T = 0, 6, 9
PROMPT_LENS = [5, 3, 4, 1, 5, 2, 4, 3]  # none is 6: column 0 is padding in every row
COMPLETION_LENS = [9, 4, 1, 6, 2, 9, 7, 3]


def tiny_llama(attn: str = "eager", vocab_size: int = 50) -> LlamaForCausalLM:
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, pad_token_id=PAD,
        initializer_range=0.5,  # peaked distributions, so a wrong position or mask shows
        attn_implementation=attn,
    )
    return LlamaForCausalLM(cfg)


def rollout_batch() -> Rollouts:
    """Left-padded prompts and right-padded completions, both of mixed lengths."""
    g = torch.Generator().manual_seed(1)
    seq = torch.randint(3, 50, (len(PROMPT_LENS), P + T), generator=g)
    prompt_mask = (torch.arange(P)[None] >= P - torch.tensor(PROMPT_LENS)[:, None]).long()
    completion_mask = (torch.arange(T)[None] < torch.tensor(COMPLETION_LENS)[:, None]).long()
    seq[:, :P][prompt_mask == 0] = PAD
    seq[:, P:][completion_mask == 0] = PAD
    return Rollouts(seq, torch.cat([prompt_mask, completion_mask], dim=1), completion_mask.float(), P, [""] * len(seq))


def one_padded_forward(model: LlamaForCausalLM, r: Rollouts) -> tuple[torch.Tensor, torch.Tensor]:
    """The unbucketed computation: the whole [B, P+T] batch in one forward."""
    logits = model(
        input_ids=r.sequences, attention_mask=r.attention_mask, position_ids=position_ids_from_mask(r.attention_mask),
        use_cache=False,
    ).logits[:, P - 1 : -1].float()
    logp_all = torch.log_softmax(logits, dim=-1)
    logprobs = logp_all.gather(-1, r.completion_ids.unsqueeze(-1)).squeeze(-1)
    return logprobs, -(logp_all.exp() * logp_all).sum(-1)


def _grads(model: torch.nn.Module, loss: torch.Tensor) -> list[torch.Tensor]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_bucketed_logprobs_entropies_and_gradients_equal_one_padded_forward(attn: str) -> None:
    model = tiny_llama(attn)
    r = rollout_batch()
    mask = r.completion_mask
    widths: list[int] = []
    hook = model.register_forward_pre_hook(lambda m, a, kw: widths.append(kw["input_ids"].numel()), with_kwargs=True)
    fast_lp, fast_ent = completion_logprobs(model, r, with_entropy=True, buckets=4)
    hook.remove()
    ref_lp, ref_ent = one_padded_forward(model, r)

    assert fast_lp.shape == fast_ent.shape == (8, T)
    torch.testing.assert_close(fast_lp * mask, ref_lp * mask, atol=1e-5, rtol=0)
    torch.testing.assert_close(fast_ent * mask, ref_ent * mask, atol=1e-5, rtol=0)
    assert (fast_lp[mask == 0] == 0).all() and (fast_ent[mask == 0] == 0).all()
    assert len(widths) == 4 and sum(widths) < 0.7 * r.sequences.numel(), "buckets were not trimmed"

    # a weighted token mean (an objective's scale) that weighs every token differently, so a
    # misplaced row or column shows in the gradient
    weights = torch.rand(8, T, generator=torch.Generator().manual_seed(2)) * mask
    weights = weights / weights.sum()
    fast = _grads(model, (fast_lp * weights).sum() + (fast_ent * weights).sum())
    ref = _grads(model, (ref_lp * weights).sum() + (ref_ent * weights).sum())
    assert max(float(g.abs().max()) for g in ref) > 1e-2, "gradients too small for the tolerance to mean much"
    for g_fast, g_ref in zip(fast, ref):
        torch.testing.assert_close(g_fast, g_ref, atol=1e-5, rtol=0)


def test_one_bucket_and_more_buckets_than_rows_give_the_same_logprobs() -> None:
    model = tiny_llama()
    r = rollout_batch()
    with torch.no_grad():
        one, _ = completion_logprobs(model, r, buckets=1)
        many, _ = completion_logprobs(model, r, buckets=100)
    torch.testing.assert_close(one, many, atol=1e-5, rtol=0)
