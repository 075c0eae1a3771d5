"""Our GRPO, DAPO, Dr.GRPO and GSPO equal TRL's GRPOTrainer: same loss, same gradient.

TRL's own code runs on both ends that matter: a real ``GRPOTrainer`` (tiny Llama, fixed
completions through TRL's ``rollout_func`` hook, fixed rewards through reward functions)
computes the advantages in ``_generate_and_score_completions`` and the loss in
``_compute_loss``; we only inject off-policy ``old_per_token_logps`` (and reference
log-probs for the KL case) into its inputs so the clip is exercised. Our objective gets
the same log-probs (TRL's ``_get_per_token_logps_and_entropies``), the arena's raw verifier
scores (1 right, 0 wrong) and the same old/ref log-probs; the model's parameter gradients
are compared.

DAPO scores +1 right / -1 wrong (its eq. 7), so TRL is fed those +-1 rewards: the same
rewards the DAPO authors' verl code feeds (math_dapo.py), while DAPO's ``shape_rewards``
maps the arena's 1/0 onto that scale itself. The overlong case adds TRL's own
``trl.rewards.get_soft_overlong_punishment`` as a second reward function.

trl is pinned in the dev extra (pyproject.toml); without it this module fails, it does not
skip: the parity it guards would silently go unchecked.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import pytest
import torch

try:
    import trl  # noqa: F401
except ImportError as e:  # fail, do not skip: a missing trl must not pass as "parity holds"
    raise ImportError(
        "tests/test_objectives_trl_parity.py needs trl (pinned as trl==1.16.0 in the dev extra): "
        "install it with `.venv/bin/pip install -e '.[dev]'`"
    ) from e

from harness import objectives  # noqa: E402
from harness.objectives import parts  # noqa: E402

PROMPTS = ["t5 t6 t7", "t8 t9"]  # different lengths: TRL left-pads the second
G = 4
MAX_NEW = 8
REWARDS = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0]
# group 0 all right: zero variance, advantage 0 in TRL and ours (0 / (0 + 1e-4))
REWARDS_ZERO_VARIANCE = [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0]
TOL = dict(atol=1e-5, rtol=1e-5)


def _paper_scale(scores: Sequence[float]) -> list[float]:
    """DAPO eq. 7, written out: +1 right, -1 wrong (what TRL is fed for DAPO)."""
    return [1.0 if s == 1.0 else -1.0 for s in scores]


def _random_completions(n: int, seed: int = 1) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, MAX_NEW + 1, (n,), generator=g).tolist()
    return [torch.randint(3, 64, (k,), generator=g).tolist() for k in lengths]


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


def _trl_trainer(
    path: Path,
    out_dir: Path,
    *,
    prompts: Sequence[str],
    completions: Sequence[Sequence[int]],
    rewards: Sequence[float],
    extra_reward_funcs: Sequence[Callable[..., list[float]]] = (),
    **config: object,
):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    assert len(completions) == len(rewards) == len(prompts) * G

    def rollout(batch_prompts: list[str], trainer: object) -> dict[str, list]:
        return {
            "prompt_ids": [tok(p)["input_ids"] for p in batch_prompts],
            "completion_ids": [list(c) for c in completions],
            "logprobs": [[0.0] * len(c) for c in completions],
        }

    def fixed_rewards(completions: list, **kwargs: object) -> list[float]:
        return list(rewards)

    args = GRPOConfig(
        output_dir=str(out_dir), report_to="none", use_cpu=True, save_strategy="no",
        num_generations=G, per_device_train_batch_size=len(prompts) * G, max_completion_length=MAX_NEW,
        **config,
    )
    trainer = GRPOTrainer(
        model=model, reward_funcs=[fixed_rewards, *extra_reward_funcs], args=args,
        train_dataset=Dataset.from_dict({"prompt": list(prompts) * G}), processing_class=tok, rollout_func=rollout,
    )
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer's loop, which we do not run
    return trainer


def _grads(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.grad.detach().clone() for p in model.parameters() if p.grad is not None]


def _compare_with_trl(
    path: Path,
    out_dir: Path,
    objective: objectives.Objective,
    noise: float,
    ref_noise: float = 0.0,
    *,
    rewards: Sequence[float] = REWARDS,
    trl_rewards: Sequence[float] | None = None,
    prompts: Sequence[str] = PROMPTS,
    completions: Sequence[Sequence[int]] | None = None,
    extra_reward_funcs: Sequence[Callable[..., list[float]]] = (),
    **config: object,
) -> dict[str, float]:
    """Assert loss and gradients equal TRL's; return our metrics (to check the mechanism was exercised).

    ``rewards`` are the arena's raw scores our objective gets; TRL gets ``trl_rewards``
    (default: the same) plus whatever ``extra_reward_funcs`` add.
    """
    completions = _random_completions(len(prompts) * G) if completions is None else completions
    trainer = _trl_trainer(
        path, out_dir, prompts=prompts, completions=completions,
        rewards=list(rewards if trl_rewards is None else trl_rewards), extra_reward_funcs=extra_reward_funcs, **config,
    )
    model = trainer.model
    model.train()
    inputs = trainer._generate_and_score_completions([{"prompt": p} for p in prompts for _ in range(G)])
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
        logprobs=logprobs, old_logprobs=old, mask=mask, rewards=torch.tensor(list(rewards)), group_size=G,
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
    # overlong punishment off: ours maps the arena's 1/0 to eq. 7's +-1, TRL is fed +-1 directly
    metrics = _compare_with_trl(tiny_checkpoint, tmp_path, objectives.get("dapo", overlong_penalty=0.0), noise=0.3,
                                trl_rewards=_paper_scale(REWARDS),
                                loss_type="dapo", epsilon=0.2, epsilon_high=0.28, beta=0.0)
    assert 0 < metrics["clip_frac"] < 1
    assert metrics["overlong_frac"] == 0.0


def test_dr_grpo_loss_and_gradient_equal_trl_dr_grpo(tiny_checkpoint: Path, tmp_path: Path) -> None:
    _compare_with_trl(tiny_checkpoint, tmp_path, objectives.get("dr_grpo"), noise=0.3,
                      loss_type="dr_grpo", scale_rewards="none", epsilon=0.2, beta=0.0)


def test_gspo_loss_and_gradient_equal_trl_sequence_level_importance_sampling(tiny_checkpoint: Path, tmp_path: Path) -> None:
    # this noise puts some sequence ratios inside and some outside the 3e-4/4e-4 clip
    metrics = _compare_with_trl(tiny_checkpoint, tmp_path, objectives.get("gspo"), noise=2e-3,
                                loss_type="grpo", importance_sampling_level="sequence", epsilon=3e-4,
                                epsilon_high=4e-4, beta=0.0)
    assert 0 < metrics["clip_frac"] < 1


# ---------------------------------------------------------------- zero-variance group


ZERO_VARIANCE_CASES = {
    "grpo": (dict(), 0.3, False, dict(loss_type="grpo", epsilon=0.2, beta=0.0)),
    "dapo": (dict(overlong_penalty=0.0), 0.3, True, dict(loss_type="dapo", epsilon=0.2, epsilon_high=0.28, beta=0.0)),
    "dr_grpo": (dict(), 0.3, False, dict(loss_type="dr_grpo", scale_rewards="none", epsilon=0.2, beta=0.0)),
    "gspo": (dict(), 2e-3, False, dict(loss_type="grpo", importance_sampling_level="sequence", epsilon=3e-4,
                                       epsilon_high=4e-4, beta=0.0)),
}


@pytest.mark.parametrize("name", sorted(ZERO_VARIANCE_CASES))
def test_group_with_equal_rewards_gets_zero_advantage_as_in_trl(
    name: str, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    # group 0 is all right: its std is 0, its advantage 0 / (0 + 1e-4) = 0 (1e-4 is TRL's epsilon);
    # its tokens still count in DAPO's token-mean and in every normaliser
    hp, noise, paper_scale, config = ZERO_VARIANCE_CASES[name]
    trl_rewards = _paper_scale(REWARDS_ZERO_VARIANCE) if paper_scale else None
    _compare_with_trl(tiny_checkpoint, tmp_path, objectives.get(name, **hp), noise=noise,
                      rewards=REWARDS_ZERO_VARIANCE, trl_rewards=trl_rewards, **config)


# ---------------------------------------------------------------- DAPO's soft overlong punishment


OVERLONG_BUFFER = 4  # L_max 8, L_cache 4: free up to 4 tokens, linear to -1 at 8
OVERLONG_LENGTHS = [3, 5, 8, 6, 2, 7, 4, 8]


def test_trl_soft_overlong_punishment_equals_eq_13_as_we_compute_it() -> None:
    """The part of TRL's function that should agree with ours: R_length at penalty factor 1.

    TRL's ``get_soft_overlong_punishment`` has no penalty factor (ours multiplies by verl's
    ``penalty_factor``, 1.0 by default), and with ``soft_punish_cache=0`` it punishes every
    completion past L_max with -1 (a hard cap) while our buffer 0 turns the punishment off.
    Within eq. 13 with a non-empty buffer both compute the same values, written out here:
    (4 - L) / 4 inside the buffer, 0 up to 4 tokens, -1 past 8.
    """
    from trl.rewards import get_soft_overlong_punishment

    lengths = [1, 3, 4, 5, 6, 7, 8, 9, 12]
    expected = [0.0, 0.0, 0.0, -0.25, -0.5, -0.75, -1.0, -1.0, -1.0]
    theirs = get_soft_overlong_punishment(MAX_NEW, OVERLONG_BUFFER)([[7] * n for n in lengths])
    ours = parts.soft_overlong_penalty(torch.tensor(lengths), MAX_NEW, OVERLONG_BUFFER)
    assert theirs == expected
    torch.testing.assert_close(ours, torch.tensor(expected))


def test_dapo_with_overlong_punishment_equals_trl_with_its_soft_overlong_reward(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    from trl.rewards import get_soft_overlong_punishment

    completions = [[3 + (7 * i + t) % 60 for t in range(n)] for i, n in enumerate(OVERLONG_LENGTHS)]
    # TRL sums its two reward functions: +-1 (eq. 7) + R_length (eq. 13); ours gets the raw 1/0
    metrics = _compare_with_trl(
        tiny_checkpoint, tmp_path, objectives.get("dapo", overlong_buffer=OVERLONG_BUFFER), noise=0.3,
        completions=completions, trl_rewards=_paper_scale(REWARDS),
        extra_reward_funcs=[get_soft_overlong_punishment(MAX_NEW, OVERLONG_BUFFER)],
        loss_type="dapo", epsilon=0.2, epsilon_high=0.28, beta=0.0,
    )
    # the punishment acted: lengths 5, 8, 6, 7, 8 are inside the buffer or at the cap
    assert metrics["overlong_frac"] == 5 / 8
    assert metrics["overlong_penalty_mean"] == pytest.approx((-0.25 - 1.0 - 0.5 - 0.75 - 1.0) / 8)
    assert 0 < metrics["clip_frac"] < 1


# ---------------------------------------------------------------- DAPO's dynamic sampling


def test_dapo_on_the_groups_keep_groups_keeps_equals_trl_given_only_those_groups(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    prompts = ["t5 t6 t7", "t8 t9", "t10 t11 t12", "t13"]
    scores = [1.0, 0.0, 1.0, 1.0,  1.0, 1.0, 1.0, 1.0,  0.0, 0.0, 1.0, 0.0,  0.0, 0.0, 0.0, 0.0]
    completions = _random_completions(len(prompts) * G, seed=3)
    keep = objectives.get("dapo").keep_groups(torch.tensor(scores), G)
    # eq. 11: keep a group iff 0 < #correct < G; groups 1 (all right) and 3 (all wrong) go
    assert keep.tolist() == [True, False, True, False]
    rows = [i for g in (0, 2) for i in range(g * G, (g + 1) * G)]
    kept_scores = [scores[i] for i in rows]
    metrics = _compare_with_trl(
        tiny_checkpoint, tmp_path, objectives.get("dapo", overlong_penalty=0.0), noise=0.3,
        prompts=[prompts[0], prompts[2]], completions=[completions[i] for i in rows],
        rewards=kept_scores, trl_rewards=_paper_scale(kept_scores),
        loss_type="dapo", epsilon=0.2, epsilon_high=0.28, beta=0.0,
    )
    assert 0 < metrics["clip_frac"] < 1
