"""The fast rollout paths: bucketed log-probs equal one padded forward; `sample` draws right."""
from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from harness.io import read_jsonl
from harness.model import build_char_tokenizer, load_checkpoint
from harness.rollout.hf import (
    Rollouts, assemble_rollouts, completion_logprobs, decode_completions, generate, position_ids_from_mask, sample,
)

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


@pytest.mark.parametrize("share_prompts", [False, True], ids=["hf-forward", "shared-prompts"])
@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_bucketed_logprobs_entropies_and_gradients_equal_one_padded_forward(attn: str, share_prompts: bool) -> None:
    model = tiny_llama(attn)
    r = rollout_batch()
    if share_prompts:  # groups of two rows share a prompt, as G samples do
        r.sequences[1::2, :P] = r.sequences[0::2, :P]
        r.attention_mask[1::2, :P] = r.attention_mask[0::2, :P]
    mask = r.completion_mask
    widths: list[int] = []
    hook = model.register_forward_pre_hook(lambda m, a, kw: widths.append(kw["input_ids"].numel()), with_kwargs=True)
    fast_lp, fast_ent = completion_logprobs(model, r, with_entropy=True, buckets=4, share_prompts=share_prompts)
    hook.remove()
    ref_lp, ref_ent = one_padded_forward(model, r)

    assert fast_lp.shape == fast_ent.shape == (8, T)
    torch.testing.assert_close(fast_lp * mask, ref_lp * mask, atol=1e-5, rtol=4e-6)  # fp32: ~30 ulp at |log p| ~ 8
    torch.testing.assert_close(fast_ent * mask, ref_ent * mask, atol=1e-5, rtol=4e-6)  # fp32: ~30 ulp at |log p| ~ 8
    assert (fast_lp[mask == 0] == 0).all() and (fast_ent[mask == 0] == 0).all()
    if share_prompts:
        assert widths == [], "the shared-prompt path went through HF's forward"
    else:
        assert len(widths) == 4 and sum(widths) < 0.7 * r.sequences.numel(), "buckets were not trimmed"

    # a weighted token mean (an objective's scale) that weighs every token differently, so a
    # misplaced row or column shows in the gradient
    weights = torch.rand(8, T, generator=torch.Generator().manual_seed(2)) * mask
    weights = weights / weights.sum()
    fast = _grads(model, (fast_lp * weights).sum() + (fast_ent * weights).sum())
    ref = _grads(model, (ref_lp * weights).sum() + (ref_ent * weights).sum())
    assert max(float(g.abs().max()) for g in ref) > 1e-2, "gradients too small for the tolerance to mean much"
    for g_fast, g_ref in zip(fast, ref):
        torch.testing.assert_close(g_fast, g_ref, atol=1e-5, rtol=4e-6)


def test_one_bucket_and_more_buckets_than_rows_give_the_same_logprobs() -> None:
    model = tiny_llama()
    r = rollout_batch()
    with torch.no_grad():
        one, _ = completion_logprobs(model, r, buckets=1)
        many, _ = completion_logprobs(model, r, buckets=100)
    torch.testing.assert_close(one, many, atol=1e-5, rtol=4e-6)


@pytest.fixture(scope="module")
def world_model(tiny_world) -> tuple[LlamaForCausalLM, object, list[str]]:
    model, tok = load_checkpoint(tiny_world["model"])
    prompts = [it["prompt"] for it in read_jsonl(tiny_world["data"] / "validation.jsonl")[:4]]
    return model, tok, prompts


def test_sample_returns_rollouts_that_end_at_the_first_eos(world_model) -> None:
    model, tok, prompts = world_model
    torch.manual_seed(0)
    r = sample(model, tok, prompts, num_samples=4, max_new_tokens=24)
    B = len(prompts) * 4
    enc = tok(prompts, return_tensors="pt", padding=True)
    assert r.sequences.shape[0] == B and r.prompt_len == enc["input_ids"].shape[1]
    assert torch.equal(r.sequences[:, : r.prompt_len], enc["input_ids"].repeat_interleave(4, dim=0))
    comp, mask = r.completion_ids, r.completion_mask
    assert comp.shape == mask.shape and comp.shape[1] <= 24
    ended = 0
    for row, m in zip(comp.tolist(), mask.tolist()):
        n = row.index(tok.eos_token_id) + 1 if tok.eos_token_id in row else len(row)
        ended += n < len(row)
        assert m == [1.0] * n + [0.0] * (len(row) - n)
        assert row[n:] == [tok.pad_token_id] * (len(row) - n)
    assert ended > 0, "no row stopped early: dropping finished rows went untested"
    assert torch.equal(r.attention_mask, torch.cat([enc["attention_mask"].repeat_interleave(4, dim=0), mask.long()], 1))
    assert r.texts == tok.batch_decode(comp, skip_special_tokens=True)
    assert not model.training


def test_sample_is_deterministic_for_a_fixed_seed_and_leaves_the_model_mode(world_model) -> None:
    model, tok, prompts = world_model
    model.train()
    try:
        torch.manual_seed(5)
        a = sample(model, tok, prompts, num_samples=3, max_new_tokens=20)
        assert model.training
        torch.manual_seed(5)
        b = sample(model, tok, prompts, num_samples=3, max_new_tokens=20)
    finally:
        model.eval()
    assert torch.equal(a.sequences, b.sequences) and torch.equal(a.completion_mask, b.completion_mask)
    assert a.texts == b.texts


def test_sampled_tokens_have_finite_recomputed_logprobs(world_model) -> None:
    model, tok, prompts = world_model
    torch.manual_seed(1)
    r = sample(model, tok, prompts, num_samples=4, max_new_tokens=24)
    with torch.no_grad():
        lp, ent = completion_logprobs(model, r, with_entropy=True)
    on = r.completion_mask == 1
    assert torch.isfinite(lp).all() and torch.isfinite(ent).all()
    assert (lp[on] <= 0).all() and (lp[on] > -30).all(), "a sampled token the model gives ~0 probability"


def test_sample_at_near_zero_temperature_decodes_like_greedy_generate(world_model) -> None:
    """Left-padded prompts of different lengths get the positions and masks `generate` gives them."""
    model, tok, prompts = world_model
    torch.manual_seed(0)
    near_greedy = sample(model, tok, prompts, max_new_tokens=40, temperature=1e-5)
    greedy = generate(model, tok, prompts, max_new_tokens=40, greedy=True)
    assert torch.equal(near_greedy.sequences, greedy.sequences)
    assert torch.equal(near_greedy.completion_mask, greedy.completion_mask)


@pytest.mark.parametrize("cache", ["static", "dynamic"])
def test_sampling_distribution_of_live_rows_matches_recomputation_after_rows_drop(world_model, cache: str) -> None:
    """The KV cache, mask and positions stay right for the rows left after others finish.

    At step s the live rows are those whose completion is longer than s, in batch order, so
    the logits the sampler drew from can be matched to rows and compared with one full forward.
    """
    model, tok, prompts = world_model
    enc = tok(prompts, return_tensors="pt", padding=True)
    ids, attn = enc["input_ids"].repeat_interleave(4, 0), enc["attention_mask"].repeat_interleave(4, 0)
    step_logits: list[torch.Tensor] = []

    def draw(logits: torch.Tensor) -> torch.Tensor:
        return torch.multinomial(torch.softmax(logits.float(), -1), 1).squeeze(-1)

    torch.manual_seed(3)
    completion = decode_completions(
        model, ids, attn, max_new_tokens=24, choose=draw, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id, cache=cache, on_logits=lambda l: step_logits.append(l.float().clone()),
    )
    r = assemble_rollouts(ids, attn, completion, tok)
    lengths = r.lengths.long()
    assert len(set(lengths.tolist())) > 2, "rows finish together: dropping rows went untested"
    with torch.no_grad():
        recomputed, _ = completion_logprobs(model, r)
    assert len(step_logits) == r.completion_ids.shape[1]
    for s, logits in enumerate(step_logits):
        live = (lengths > s).nonzero().squeeze(-1)
        assert logits.shape[0] == live.numel(), f"step {s}: {logits.shape[0]} rows in the batch, {live.numel()} live"
        drawn = torch.log_softmax(logits, -1).gather(-1, r.completion_ids[live, s, None]).squeeze(-1)
        torch.testing.assert_close(drawn, recomputed[live, s], atol=1e-4, rtol=0)


def test_sample_draws_the_first_token_from_the_softmax_at_its_temperature() -> None:
    tok = build_char_tokenizer()
    model = tiny_llama(vocab_size=len(tok)).eval()
    prompt, n, temperature = "12+3=?", 2000, 0.7
    with torch.no_grad():
        logits = model(**tok([prompt], return_tensors="pt")).logits[0, -1]
    probs = torch.softmax(logits / temperature, -1)
    torch.manual_seed(0)
    r = sample(model, tok, [prompt], num_samples=n, max_new_tokens=1, temperature=temperature)
    freq = torch.bincount(r.completion_ids[:, 0], minlength=len(probs)).float() / n
    tv = 0.5 * float((freq - probs).abs().sum())
    # the sampling noise alone is ~sum sqrt(p/n)/2; make sure the test can see a wrong temperature
    assert 0.5 * float((probs / n).sqrt().sum()) < 0.03
    assert 0.5 * float((torch.softmax(logits, -1) - probs).abs().sum()) > 0.1
    assert tv < 0.05, f"total variation {tv:.3f} between sampled first tokens and the softmax"


@pytest.mark.parametrize("temperature", [0.6, 1.7])
def test_logprobs_at_a_temperature_are_those_of_the_sampling_policy(temperature: float) -> None:
    """log pi_T(y_t) = log_softmax(logits / T)[y_t]: the policy `sample` draws from at T."""
    model, r = tiny_llama(), rollout_batch()
    mask = r.completion_mask.bool()
    with torch.no_grad():
        logits = model(
            input_ids=r.sequences, attention_mask=r.attention_mask, position_ids=position_ids_from_mask(r.attention_mask),
            use_cache=False,
        ).logits[:, P - 1 : -1].float() / temperature
        logp_all = torch.log_softmax(logits, dim=-1)
        expected = logp_all.gather(-1, r.completion_ids.unsqueeze(-1)).squeeze(-1)
        lp, ent = completion_logprobs(model, r, with_entropy=True, temperature=temperature)
        plain, _ = completion_logprobs(model, r)
    torch.testing.assert_close(lp[mask], expected[mask], atol=1e-5, rtol=4e-6)
    torch.testing.assert_close(ent[mask], -(logp_all.exp() * logp_all).sum(-1)[mask], atol=1e-5, rtol=4e-6)
    assert not torch.allclose(lp[mask], plain[mask])
