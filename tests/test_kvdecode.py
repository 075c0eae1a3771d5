"""The preallocated-KV-cache decoder gives HF's logits at every step, through row compaction."""
from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from harness.rollout import kvdecode
from harness.rollout.hf import decode_completions, position_ids_from_mask

EOS, PAD, VOCAB = 2, 0, 40
PROMPT_LENS = [7, 3, 5, 1, 7, 2, 6, 4, 5, 3, 7, 2]


def llama(attn: str = "sdpa", kv_heads: int = 2) -> LlamaForCausalLM:
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=kv_heads, max_position_embeddings=128, pad_token_id=PAD, eos_token_id=EOS,
        initializer_range=0.5, attn_implementation=attn,
    )
    return LlamaForCausalLM(cfg).eval()


def qwen2() -> Qwen2ForCausalLM:
    torch.manual_seed(0)
    cfg = Qwen2Config(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128, pad_token_id=PAD, eos_token_id=EOS,
        initializer_range=0.5, attn_implementation="sdpa",
    )
    model = Qwen2ForCausalLM(cfg).eval()
    with torch.no_grad():  # Qwen2's q/k/v projections carry a bias: make it matter
        for layer in model.model.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                proj.bias.normal_(0, 0.5)
    return model


def prompts() -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded prompts [B, P] of mixed lengths, no EOS inside."""
    g = torch.Generator().manual_seed(7)
    P = max(PROMPT_LENS)
    ids = torch.full((len(PROMPT_LENS), P), PAD)
    attn = torch.zeros(len(PROMPT_LENS), P, dtype=torch.long)
    for i, n in enumerate(PROMPT_LENS):
        ids[i, P - n :] = torch.randint(3, VOCAB, (n,), generator=g)
        attn[i, P - n :] = 1
    return ids, attn


class Schedule:
    """``choose``: row i emits EOS at step ``stops[i]``, a seeded non-EOS token before; records live rows."""

    def __init__(self, stops: list[int]) -> None:
        self.stops, self.step, self.live = stops, 0, list(range(len(stops)))
        self.g = torch.Generator().manual_seed(0)
        self.live_per_step: list[list[int]] = []

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        assert logits.shape[0] == len(self.live), "choose saw a row that had already stopped"
        self.live_per_step.append(list(self.live))
        tokens = torch.randint(3, VOCAB, (len(self.live),), generator=self.g)
        ending = [self.stops[row] == self.step for row in self.live]
        tokens[torch.tensor(ending, dtype=torch.bool)] = EOS
        self.live = [row for row, e in zip(self.live, ending) if not e]
        self.step += 1
        return tokens


def full_forward_logits(model: torch.nn.Module, ids: torch.Tensor, attn: torch.Tensor, completion: torch.Tensor) -> torch.Tensor:
    """HF's logits [B, T, V] predicting each completion token, from one forward over prompt + completion."""
    is_eos = completion == EOS
    after = (is_eos.long().cumsum(-1) - is_eos.long()) > 0
    seq = torch.cat([ids, completion.masked_fill(after, PAD)], 1)
    mask = torch.cat([attn, (~after).long()], 1)
    with torch.no_grad():
        out = model(input_ids=seq, attention_mask=mask, position_ids=position_ids_from_mask(mask)).logits
    P = ids.shape[1]
    return out[:, P - 1 : P - 1 + completion.shape[1]]


@pytest.mark.parametrize("make", [lambda: llama("sdpa"), lambda: llama("eager"), lambda: llama(kv_heads=4), qwen2],
                         ids=["llama-sdpa-gqa", "llama-eager-gqa", "llama-mha", "qwen2-bias"])
def test_step_logits_equal_one_full_forward_while_rows_stop_and_the_cache_compacts(make) -> None:
    model = make()
    assert kvdecode.supports(model)
    ids, attn = prompts()
    # stops spread so that compaction happens several times, and some rows run to the cap
    stops = [0, 3, 3, 5, 8, 9, 10, 10, 11, 30, 30, 30]
    choose = Schedule(stops)
    seen: list[torch.Tensor] = []
    completion = decode_completions(model, ids, attn, max_new_tokens=14, choose=choose, eos_token_id=EOS,
                                    pad_token_id=PAD, cache="static", on_logits=lambda l: seen.append(l.clone()))
    assert completion.shape == (len(stops), 14)
    reference = full_forward_logits(model, ids, attn, completion)
    for step, (logits, live) in enumerate(zip(seen, choose.live_per_step)):
        torch.testing.assert_close(logits, reference[live, step], atol=2e-4, rtol=1e-5, msg=f"step {step}")
    for row, stop in enumerate(stops):
        if stop < 14:
            assert completion[row, stop] == EOS and (completion[row, stop + 1 :] == PAD).all()


def test_static_and_dynamic_caches_decode_the_same_greedy_tokens_as_hf_generate() -> None:
    model = llama()
    ids, attn = prompts()
    static = decode_completions(model, ids, attn, max_new_tokens=20, choose=lambda l: l.argmax(-1), eos_token_id=EOS,
                                pad_token_id=PAD, cache="static")
    dynamic = decode_completions(model, ids, attn, max_new_tokens=20, choose=lambda l: l.argmax(-1), eos_token_id=EOS,
                                 pad_token_id=PAD, cache="dynamic")
    hf = model.generate(input_ids=ids, attention_mask=attn, max_new_tokens=20, do_sample=False, eos_token_id=EOS,
                        pad_token_id=PAD)[:, ids.shape[1] :]
    assert torch.equal(static, dynamic)
    assert torch.equal(static, hf)


def test_decoding_stops_when_every_row_has_ended() -> None:
    model = llama()
    ids, attn = prompts()
    choose = Schedule([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 4])
    completion = decode_completions(model, ids, attn, max_new_tokens=50, choose=choose, eos_token_id=EOS,
                                    pad_token_id=PAD, cache="static")
    assert completion.shape[1] == 5 and choose.step == 5


def test_unsupported_architectures_fall_back_to_the_dynamic_cache() -> None:
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=64,
                                       eos_token_id=EOS, pad_token_id=PAD)).eval()
    assert not kvdecode.supports(model)
    ids, attn = prompts()
    out = decode_completions(model, ids, attn, max_new_tokens=6, choose=lambda l: l.argmax(-1), eos_token_id=EOS,
                             pad_token_id=PAD)
    assert out.shape[0] == ids.shape[0] and 1 <= out.shape[1] <= 6
    with pytest.raises(ValueError, match="static cache does not support model type 'gpt2'"):
        decode_completions(model, ids, attn, max_new_tokens=6, choose=lambda l: l.argmax(-1), eos_token_id=EOS,
                           pad_token_id=PAD, cache="static")


def test_distinct_prompts_numbers_prompts_in_order_of_first_appearance() -> None:
    ids = torch.tensor([[0, 5, 6], [0, 5, 6], [7, 8, 9], [0, 5, 6], [7, 8, 9], [0, 0, 6]])
    attn = (ids != 0).long()
    first, prompt_of = kvdecode.distinct_prompts(ids, attn)
    assert first.tolist() == [0, 2, 5] and prompt_of.tolist() == [0, 0, 1, 0, 1, 2]
    # same tokens, different padding: different prompts
    first, prompt_of = kvdecode.distinct_prompts(torch.tensor([[1, 5], [1, 5]]), torch.tensor([[1, 1], [0, 1]]))
    assert prompt_of.tolist() == [0, 1]


@pytest.mark.parametrize("make", [llama, qwen2], ids=["llama-gqa", "qwen2-bias"])
def test_shared_prompt_logprobs_and_gradients_equal_hf_forward(make) -> None:
    """Groups of three rows share a prompt; every row's log-probs and the gradient of a
    weighted sum equal those of HF's forward over prompt + completion."""
    from harness.rollout.hf import Rollouts, completion_logprobs

    model = make().train()
    ids, attn = prompts()
    ids, attn = ids[:4].repeat_interleave(3, 0), attn[:4].repeat_interleave(3, 0)
    stops = [0, 4, 9, 2, 2, 30, 5, 1, 7, 3, 8, 6]
    with torch.no_grad():
        completion = decode_completions(model, ids, attn, max_new_tokens=10, choose=Schedule(stops), eos_token_id=EOS,
                                        pad_token_id=PAD)
    is_eos = completion == EOS
    after = (is_eos.long().cumsum(-1) - is_eos.long()) > 0
    cmask = (~after).float()
    r = Rollouts(torch.cat([ids, completion.masked_fill(after, PAD)], 1), torch.cat([attn, cmask.long()], 1), cmask,
                 ids.shape[1], [""] * ids.shape[0])
    weights = torch.rand(cmask.shape, generator=torch.Generator().manual_seed(3)) * cmask

    def run(share: bool) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        model.zero_grad(set_to_none=True)
        lp, ent = completion_logprobs(model, r, with_entropy=True, temperature=0.7, share_prompts=share)
        ((lp + ent) * weights).sum().backward()
        return lp.detach(), ent.detach(), [p.grad.clone() for p in model.parameters()]

    shared, reference = run(True), run(False)
    torch.testing.assert_close(shared[0], reference[0], atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(shared[1], reference[1], atol=1e-4, rtol=1e-5)
    assert max(float(g.abs().max()) for g in reference[2]) > 1e-2
    # gradients sum over every token: float32 summation order differs between the two paths
    # and between runs (single elements 1.3e-4 and 1.6e-4 off, on two runs on this CPU); a
    # wrong prefix is off by the gradient's own size (> 1e-2, asserted above)
    for a, b in zip(shared[2], reference[2]):
        torch.testing.assert_close(a, b, atol=5e-4, rtol=1e-3)
