"""Our GRPO, DAPO, Dr.GRPO and GSPO equal TRL's GRPOTrainer: same loss, same gradient.

TRL's own code runs on both ends that matter: a real ``GRPOTrainer`` (tiny Llama, fixed
completions through TRL's ``rollout_func`` hook, fixed rewards through a reward function)
computes the advantages in ``_generate_and_score_completions`` and the loss in
``_compute_loss``; we only inject off-policy ``old_per_token_logps`` (and reference
log-probs for the KL case) into its inputs so the clip is exercised. Our objective gets
the same log-probs (TRL's ``_get_per_token_logps_and_entropies``), the same rewards and
the same old/ref log-probs; the model's parameter gradients are compared.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

pytest.importorskip("trl")

from harness import objectives  # noqa: E402

PROMPTS = ["t5 t6 t7", "t8 t9"]  # different lengths: TRL left-pads the second
G = 4
MAX_NEW = 8
REWARDS = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0]
TOL = dict(atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {f"t{i}": i for i in range(64)}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="t0"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="t0", eos_token="t1", unk_token="t0")
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0, eos_token_id=1, bos_token_id=2,
        initializer_range=0.2,
    )
    path = tmp_path_factory.mktemp("tiny_llama")
    LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _trl_trainer(path: Path, out_dir: Path, **config: object):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(2, MAX_NEW + 1, (len(PROMPTS) * G,), generator=g).tolist()
    completions = [torch.randint(3, 64, (n,), generator=g).tolist() for n in lengths]

    def rollout(prompts: list[str], trainer: object) -> dict[str, list]:
        return {
            "prompt_ids": [tok(p)["input_ids"] for p in prompts],
            "completion_ids": completions,
            "logprobs": [[0.0] * len(c) for c in completions],
        }

    def fixed_rewards(completions: list, **kwargs: object) -> list[float]:
        return list(REWARDS)

    args = GRPOConfig(
        output_dir=str(out_dir), report_to="none", use_cpu=True, save_strategy="no",
        num_generations=G, per_device_train_batch_size=len(PROMPTS) * G, max_completion_length=MAX_NEW,
        **config,
    )
    trainer = GRPOTrainer(
        model=model, reward_funcs=fixed_rewards, args=args, train_dataset=Dataset.from_dict({"prompt": PROMPTS * G}),
        processing_class=tok, rollout_func=rollout,
    )
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer's loop, which we do not run
    return trainer


def _grads(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.grad.detach().clone() for p in model.parameters() if p.grad is not None]


def _compare_with_trl(
    path: Path, out_dir: Path, objective: objectives.Objective, noise: float, ref_noise: float = 0.0, **config: object
) -> dict[str, float]:
    """Assert loss and gradients equal TRL's; return our metrics (to check the clip was exercised)."""
    trainer = _trl_trainer(path, out_dir, **config)
    model = trainer.model
    model.train()
    inputs = trainer._generate_and_score_completions([{"prompt": p} for p in PROMPTS for _ in range(G)])
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
    attn = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
    T = inputs["completion_ids"].shape[1]
    mask = inputs["completion_mask"].float()

    with torch.no_grad():
        logps, _, _ = trainer._get_per_token_logps_and_entropies(model, ids, attn, T)
    g = torch.Generator().manual_seed(2)
    old = logps + noise * torch.randn(logps.shape, generator=g) * mask
    inputs["old_per_token_logps"] = old
    ref = None
    if ref_noise:
        ref = logps + ref_noise * torch.randn(logps.shape, generator=g) * mask
        inputs["ref_per_token_logps"] = ref

    model.zero_grad(set_to_none=True)
    trl_loss = trainer._compute_loss(model, inputs)
    trl_loss.backward()
    trl_grads = _grads(model)

    model.zero_grad(set_to_none=True)
    logprobs, _, _ = trainer._get_per_token_logps_and_entropies(model, ids, attn, T)
    batch = objectives.RolloutBatch(
        logprobs=logprobs, old_logprobs=old, mask=mask, rewards=torch.tensor(REWARDS), group_size=G,
        ref_logprobs=ref, extras={"max_new_tokens": MAX_NEW},
    )
    our_loss, metrics = objective.loss(batch)
    our_loss.backward()
    our_grads = _grads(model)

    torch.testing.assert_close(our_loss.detach(), trl_loss.detach(), **TOL)
    assert len(our_grads) == len(trl_grads) > 0
    for ours, theirs in zip(our_grads, trl_grads):
        torch.testing.assert_close(ours, theirs, **TOL)
    assert any(t.abs().max() > 1e-4 for t in trl_grads), "degenerate case: TRL's gradient is zero"
    return metrics


def test_grpo_loss_and_gradient_equal_trl_grpo(tiny_checkpoint: Path, tmp_path: Path) -> None:
    metrics = _compare_with_trl(tiny_checkpoint, tmp_path, objectives.get("grpo"), noise=0.3,
                                loss_type="grpo", epsilon=0.2, beta=0.0)
    assert 0 < metrics["clip_frac"] < 1


def test_grpo_with_k3_kl_equals_trl_grpo_with_beta(tiny_checkpoint: Path, tmp_path: Path) -> None:
    # the GRPO paper's k3 term has no importance weight; TRL >= 1.x adds one by default (DeepSeek-V3.2)
    _compare_with_trl(tiny_checkpoint, tmp_path, objectives.get("grpo", beta=0.04), noise=0.3, ref_noise=0.5,
                      loss_type="grpo", epsilon=0.2, beta=0.04, use_bias_correction_kl=False)


def test_dapo_loss_and_gradient_equal_trl_dapo(tiny_checkpoint: Path, tmp_path: Path) -> None:
    # overlong punishment off: TRL has no reward shaping to compare it with (tested by hand elsewhere)
    metrics = _compare_with_trl(tiny_checkpoint, tmp_path, objectives.get("dapo", overlong_penalty=0.0), noise=0.3,
                                loss_type="dapo", epsilon=0.2, epsilon_high=0.28, beta=0.0)
    assert 0 < metrics["clip_frac"] < 1


def test_dr_grpo_loss_and_gradient_equal_trl_dr_grpo(tiny_checkpoint: Path, tmp_path: Path) -> None:
    _compare_with_trl(tiny_checkpoint, tmp_path, objectives.get("dr_grpo"), noise=0.3,
                      loss_type="dr_grpo", scale_rewards="none", epsilon=0.2, beta=0.0)


def test_gspo_loss_and_gradient_equal_trl_sequence_level_importance_sampling(tiny_checkpoint: Path, tmp_path: Path) -> None:
    # this noise puts some sequence ratios inside and some outside the 3e-4/4e-4 clip
    metrics = _compare_with_trl(tiny_checkpoint, tmp_path, objectives.get("gspo"), noise=2e-3,
                                loss_type="grpo", importance_sampling_level="sequence", epsilon=3e-4,
                                epsilon_high=4e-4, beta=0.0)
    assert 0 < metrics["clip_frac"] < 1
