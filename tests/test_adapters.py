"""Arena objectives inside TRL's GRPOTrainer and as verl policy losses (harness/adapters).

TRL: a real ``ArenaGRPOTrainer`` (trl 1.16) on a tiny char-level Llama trains two steps,
and for "grpo" its loss and gradient equal TRL's own ``loss_type="grpo"`` on the same
inputs. verl does not install into this environment (verl 0.9.1 pins
transformers<5.11, we have 5.23), so the registration is checked against a stand-in
``core_algos`` module with verl 0.9.1's documented registry and call signature; the test
against the real registry runs where verl imports (it did, in a separate venv with
``pip install --no-deps verl`` and its import-time dependencies; see docs/scale.md).
"""
from __future__ import annotations

import inspect
import os
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from harness import objectives

pytest.importorskip("trl")

G = 4
PROMPTS = ["1+2=", "13+4="]  # different lengths: the second is left-padded less
MAX_NEW = 8
REWARDS = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0]
TOL = dict(atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- TRL


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from harness.model import build_char_tokenizer, build_tiny_llama

    tok = build_char_tokenizer()
    torch.manual_seed(0)
    model = build_tiny_llama(len(tok), {"hidden_size": 32, "layers": 2, "heads": 4, "max_positions": 64}, tok)
    path = tmp_path_factory.mktemp("tiny_char_llama")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _load(path: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32), AutoTokenizer.from_pretrained(path)


def _config(out_dir: Path, **overrides: object):
    from trl import GRPOConfig

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    settings = dict(
        output_dir=str(out_dir), report_to="none", use_cpu=True, bf16=False, save_strategy="no",
        num_generations=G, per_device_train_batch_size=len(PROMPTS) * G, max_completion_length=MAX_NEW, seed=0,
    )
    return GRPOConfig(**{**settings, **overrides})


def _fixed_rollout_trainer(path: Path, out_dir: Path, objective: str, objective_kwargs: dict | None = None, **config: object):
    """An ArenaGRPOTrainer whose completions (TRL's rollout_func hook) and rewards are fixed."""
    from datasets import Dataset

    from harness.adapters.trl import ArenaGRPOTrainer

    model, tok = _load(path)
    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(2, MAX_NEW + 1, (len(PROMPTS) * G,), generator=g).tolist()
    # ids 4.. are characters (0-3 are the special tokens); groups 1 and 2 share a 2-token prefix (TGC)
    completions = [torch.randint(4, len(tok), (n,), generator=g).tolist() for n in lengths]
    for i, c in enumerate(completions):
        c[:2] = [10 + i // G, 20]

    def rollout(prompts: list[str], trainer: object) -> dict[str, list]:
        return {"prompt_ids": [tok(p)["input_ids"] for p in prompts], "completion_ids": completions,
                "logprobs": [[0.0] * len(c) for c in completions]}

    def fixed_rewards(completions: list, **kwargs: object) -> list[float]:
        return list(REWARDS)

    trainer = ArenaGRPOTrainer(
        model, reward_funcs=fixed_rewards, args=_config(out_dir, **config),
        train_dataset=Dataset.from_dict({"prompt": PROMPTS * G}), processing_class=tok, rollout_func=rollout,
        objective=objective, objective_kwargs=objective_kwargs,
    )
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer's loop, which we do not run
    return trainer


def _inputs(trainer, noise: float) -> dict:
    """One generation batch through TRL's own scoring, with off-policy old log-probs so the clip acts."""
    trainer.model.train()
    inputs = trainer._generate_and_score_completions([{"prompt": p} for p in PROMPTS for _ in range(G)])
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
    attn = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
    with torch.no_grad():
        logps, _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, ids, attn, inputs["completion_ids"].shape[1])
    g = torch.Generator().manual_seed(2)
    inputs["old_per_token_logps"] = logps + noise * torch.randn(logps.shape, generator=g) * inputs["completion_mask"]
    return inputs


def _grads(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.grad.detach().clone() for p in model.parameters() if p.grad is not None]


def test_trl_adapter_trains_two_steps_with_dapo(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from datasets import Dataset

    from harness.adapters.trl import ArenaGRPOTrainer

    model, tok = _load(tiny_checkpoint)
    before = [p.detach().clone() for p in model.parameters()]

    def digit_share(completions: list[str], **kwargs: object) -> list[float]:
        return [sum(ch.isdigit() for ch in c) / max(len(c), 1) for c in completions]

    trainer = ArenaGRPOTrainer(
        model, reward_funcs=digit_share, args=_config(tmp_path, max_steps=2, learning_rate=1e-2, logging_steps=1),
        train_dataset=Dataset.from_dict({"prompt": PROMPTS * 4}), processing_class=tok,
        objective="dapo", objective_kwargs={"eps_high": 0.28},
    )
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logs) == 2
    assert all(np.isfinite(h["loss"]) and np.isfinite(h["grad_norm"]) for h in logs)
    assert all("arena/clip_frac" in h and "arena/reward_shaped_mean" in h for h in logs), "objective metrics not logged"
    assert any((a - b).abs().max() > 0 for a, b in zip(before, trainer.model.parameters())), "parameters did not move"


def test_trl_adapter_grpo_loss_and_gradient_equal_trl_grpo(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from trl import GRPOTrainer

    trainer = _fixed_rollout_trainer(tiny_checkpoint, tmp_path, "grpo", loss_type="grpo", epsilon=0.2, beta=0.0)
    inputs = _inputs(trainer, noise=0.3)
    torch.testing.assert_close(inputs["arena_rewards"], torch.tensor(REWARDS))  # raw rewards carried through
    model = trainer.model

    model.zero_grad(set_to_none=True)
    trl_loss = GRPOTrainer._compute_loss(trainer, model, inputs)  # TRL's own loss, same trainer and inputs
    trl_loss.backward()
    trl_grads = _grads(model)

    model.zero_grad(set_to_none=True)
    ours = trainer.compute_loss(model, inputs)
    ours.backward()
    our_grads = _grads(model)

    torch.testing.assert_close(ours.detach(), trl_loss.detach(), **TOL)
    assert len(our_grads) == len(trl_grads) > 0
    for a, b in zip(our_grads, trl_grads):
        torch.testing.assert_close(a, b, **TOL)
    assert any(t.abs().max() > 1e-4 for t in trl_grads), "degenerate case: zero gradient"
    assert 0 < trainer._metrics["train"]["arena/clip_frac"][-1] < 1, "the clip was not exercised"


@pytest.mark.parametrize("name", objectives.available())
def test_trl_adapter_gives_every_objective_the_signals_it_declares(name: str, tiny_checkpoint: Path, tmp_path: Path) -> None:
    trainer = _fixed_rollout_trainer(tiny_checkpoint, tmp_path, name)
    inputs = _inputs(trainer, noise=0.05)
    needs = trainer.objective.required_signals()
    assert ("ref_per_token_logps" in inputs) == ("ref_logprobs" in needs)
    assert ("arena_old_entropy" in inputs) == ("old_entropy" in needs)
    assert ("arena_answer_entropy" in inputs) == ("answer_entropy" in needs)
    trainer.model.zero_grad(set_to_none=True)
    loss = trainer.compute_loss(trainer.model, inputs)
    loss.backward()
    assert torch.isfinite(loss)
    assert any(p.grad is not None and p.grad.abs().max() > 0 for p in trainer.model.parameters())


def test_trl_adapter_rejects_micro_batches_that_split_groups(tiny_checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="multiple of num_generations"):
        _fixed_rollout_trainer(tiny_checkpoint, tmp_path, "grpo", per_device_train_batch_size=2, steps_per_generation=4)


def test_shuffle_groups_keeps_groups_whole_and_in_order() -> None:
    from harness.adapters.trl import shuffle_groups

    rows = torch.arange(12)
    out = shuffle_groups({"x": rows, "y": rows.tolist(), "n": torch.tensor(5), "z": None}, 3, torch.Generator().manual_seed(0))
    groups = out["x"].view(-1, 3)
    assert sorted(groups[:, 0].tolist()) == [0, 3, 6, 9]
    assert torch.equal(groups - groups[:, :1], torch.arange(3).expand(4, 3))
    assert out["y"] == out["x"].tolist() and out["n"].item() == 5 and out["z"] is None


# ---------------------------------------------------------------- verl

VERL_AGG_MODES = ("token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm")


def _verl_agg_loss(loss_mat, loss_mask, loss_agg_mode, dp_size=1, batch_num_tokens=None, global_batch_size=None,
                   loss_scale_factor=None):
    """verl 0.9.1 ``core_algos.agg_loss`` for one data-parallel rank (its documented semantics)."""
    mask = loss_mask.float()
    if loss_agg_mode == "token-mean":
        return (loss_mat * mask).sum() / (batch_num_tokens or mask.sum()) * dp_size
    if loss_agg_mode in ("seq-mean-token-sum", "seq-mean-token-sum-norm"):
        seq = (loss_mat * mask).sum(-1)
        n = global_batch_size or (mask.sum(-1) > 0).float().sum()
        loss = seq.sum() / n * dp_size
        return loss / (loss_scale_factor or mask.shape[-1]) if loss_agg_mode.endswith("norm") else loss
    if loss_agg_mode == "seq-mean-token-mean":
        seq = (loss_mat * mask).sum(-1) / (mask.sum(-1) + 1e-8)
        return seq.sum() / (global_batch_size or (mask.sum(-1) > 0).float().sum()) * dp_size
    raise ValueError(loss_agg_mode)


@pytest.fixture
def fake_core_algos() -> types.ModuleType:
    """Stand-in for ``verl.trainer.ppo.core_algos`` (verl 0.9.1): the two registries and agg_loss."""
    m = types.ModuleType("verl.trainer.ppo.core_algos")
    m.POLICY_LOSS_REGISTRY, m.ADV_ESTIMATOR_REGISTRY = {}, {}

    def register_policy_loss(name):
        def deco(fn):
            m.POLICY_LOSS_REGISTRY[name] = fn
            return fn
        return deco

    def register_adv_est(name):
        def deco(fn):
            if name in m.ADV_ESTIMATOR_REGISTRY and m.ADV_ESTIMATOR_REGISTRY[name] != fn:
                raise ValueError(f"Adv estimator {name} has already been registered")
            m.ADV_ESTIMATOR_REGISTRY[name] = fn
            return fn
        return deco

    m.register_policy_loss, m.register_adv_est, m.agg_loss = register_policy_loss, register_adv_est, _verl_agg_loss
    return m


def _batch(T: int = 10, noise: float = 0.3, seed: int = 0) -> objectives.RolloutBatch:
    """Two groups of four, ragged lengths (some at the cap for DAPO's and HMPO's shaping), 0/1 rewards."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([3, 10, 6, 9, 4, 8, 10, 5])
    mask = (torch.arange(T)[None, :] < lengths[:, None]).float()
    old = -torch.rand(8, T, generator=g) * 2
    logprobs = (old + noise * torch.randn(8, T, generator=g)).requires_grad_()
    entropy = torch.rand(8, T, generator=g)
    return objectives.RolloutBatch(
        logprobs=logprobs, old_logprobs=old, mask=mask, rewards=torch.tensor(REWARDS), group_size=G,
        ref_logprobs=old + 0.1, entropy=entropy, old_entropy=entropy.clone(),
        extras={"max_new_tokens": T, "completion_ids": torch.randint(4, 40, (8, T), generator=g),
                "answer_entropy": torch.rand(8, T, generator=g)},
    )


def _through_verl(
    core_algos: types.ModuleType, name: str, batch: objectives.RolloutBatch, perm: torch.Tensor, loss_agg_mode: str | None = None
):
    """verl's order of calls: estimator on (shuffled) rows with uids, then the policy loss by keyword."""
    from harness.adapters.verl import RECIPES

    uid = np.array([f"prompt{i // G}" for i in range(batch.rewards.numel())], dtype=object)[perm.numpy()]
    mask = batch.mask[perm]
    token_level_rewards = torch.zeros_like(mask)
    token_level_rewards[torch.arange(len(perm)), mask.sum(-1).long() - 1] = batch.rewards[perm]  # reward on the last token
    advantages, _ = core_algos.ADV_ESTIMATOR_REGISTRY[f"arena_{name}"](
        token_level_rewards=token_level_rewards, response_mask=mask, index=uid, config=None
    )
    logprobs = batch.logprobs.detach()[perm].requires_grad_()
    loss, metrics = core_algos.POLICY_LOSS_REGISTRY[f"arena_{name}"](
        old_log_prob=batch.old_logprobs[perm], log_prob=logprobs, advantages=advantages, response_mask=mask.bool(),
        loss_agg_mode=loss_agg_mode or RECIPES[name].loss_agg_mode, config=types.SimpleNamespace(global_batch_info={}),
        rollout_is_weights=None,
    )
    return loss, logprobs, metrics


def test_verl_registration_covers_every_objective(fake_core_algos: types.ModuleType) -> None:
    from harness.adapters import verl as adapter

    names = adapter.register_arena_losses(fake_core_algos, hyperparams={}, max_new_tokens=10)
    expected = {f"arena_{n}" for n in objectives.available()}
    assert set(names) == expected
    assert expected <= set(fake_core_algos.POLICY_LOSS_REGISTRY) and expected <= set(fake_core_algos.ADV_ESTIMATOR_REGISTRY)
    adapter.register_arena_losses(fake_core_algos, hyperparams={}, max_new_tokens=10)  # a second import is harmless
    assert set(adapter.RECIPES) == set(objectives.available()), "an objective without a verl recipe"


def test_verl_policy_losses_take_verls_documented_arguments(fake_core_algos: types.ModuleType) -> None:
    from harness.adapters import verl as adapter

    adapter.register_arena_losses(fake_core_algos, hyperparams={}, max_new_tokens=10)
    batch = _batch()
    for name in objectives.available():
        fn = fake_core_algos.POLICY_LOSS_REGISTRY[f"arena_{name}"]
        assert tuple(inspect.signature(fn).parameters) == adapter.POLICY_LOSS_ARGS
        loss, _, metrics = _through_verl(fake_core_algos, name, batch, torch.arange(8))
        assert loss.dim() == 0 and torch.isfinite(loss) and loss.requires_grad
        assert {"actor/pg_clipfrac", "actor/ppo_kl"} <= set(metrics) and all(isinstance(v, float) for v in metrics.values())


def test_verl_policy_loss_warns_when_verls_aggregation_is_not_the_objectives(fake_core_algos: types.ModuleType) -> None:
    from harness.adapters import verl as adapter

    adapter.register_arena_losses(fake_core_algos, hyperparams={}, max_new_tokens=10)
    batch = _batch()
    with pytest.warns(UserWarning, match="loss_agg_mode=seq-mean-token-sum-norm"):
        loss, _, _ = _through_verl(fake_core_algos, "dr_grpo", batch, torch.arange(8), loss_agg_mode="token-mean")
    ours, _ = objectives.get("dr_grpo").loss(batch)
    torch.testing.assert_close(loss.detach(), ours.detach(), **TOL)  # the objective's aggregation still rules


@pytest.mark.parametrize("name, noise", [("grpo", 0.3), ("hmpo", 0.3), ("dapo", 0.3), ("dr_grpo", 0.3), ("gspo", 2e-3), ("tepo", 2e-3)])
def test_verl_exact_objectives_equal_the_arena_loss(fake_core_algos: types.ModuleType, name: str, noise: float) -> None:
    from harness.adapters import verl as adapter

    assert adapter.RECIPES[name].fidelity.startswith("exact")
    adapter.register_arena_losses(fake_core_algos, hyperparams={}, max_new_tokens=10)
    batch = _batch(noise=noise)
    ours, metrics = objectives.get(name).loss(batch)
    ours.backward()
    perm = torch.randperm(8, generator=torch.Generator().manual_seed(3))  # verl's rows are not grouped
    theirs, logprobs, _ = _through_verl(fake_core_algos, name, batch, perm)
    theirs.backward()
    torch.testing.assert_close(theirs.detach(), ours.detach(), **TOL)
    torch.testing.assert_close(logprobs.grad, batch.logprobs.grad[perm], **TOL)
    assert batch.logprobs.grad.abs().max() > 1e-4
    assert 0 < metrics["clip_frac"] < 1, "the clip was not exercised"


def test_verl_estimator_needs_groups_of_equal_size(fake_core_algos: types.ModuleType) -> None:
    from harness.adapters import verl as adapter

    est = adapter.make_advantage_estimator("grpo")
    with pytest.raises(ValueError, match="equal size"):
        est(torch.ones(3, 4), torch.ones(3, 4), index=np.array(["a", "a", "b"], dtype=object))


def test_verl_overrides_select_the_arena_loss_and_its_aggregation() -> None:
    from harness.adapters import verl as adapter

    dr = adapter.verl_overrides("dr_grpo", max_new_tokens=1024)
    assert "actor_rollout_ref.actor.policy_loss.loss_mode=arena_dr_grpo" in dr
    assert "algorithm.adv_estimator=arena_dr_grpo" in dr
    assert "actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-sum-norm" in dr
    assert "actor_rollout_ref.actor.loss_scale_factor=1024" in dr
    grpo_kl = adapter.verl_overrides("grpo", {"beta": 0.04})
    assert "actor_rollout_ref.actor.use_kl_loss=True" in grpo_kl and "actor_rollout_ref.actor.kl_loss_coef=0.04" in grpo_kl


def test_verl_reward_function_scores_with_the_arena_verifier() -> None:
    from harness.adapters import verl as adapter

    item = {"id": "m1", "domain": "math", "prompt": "2+3=?", "answer": "5"}
    row = adapter.verl_rows([item], "test")[0]
    assert row["prompt"] == [{"role": "user", "content": "2+3=?"}] and row["data_source"] == "math"
    args = dict(data_source=row["data_source"], ground_truth=row["reward_model"]["ground_truth"], extra_info=row["extra_info"])
    assert adapter.compute_score(solution_str="2+3 = 5\nA: 5", **args) == 1.0
    assert adapter.compute_score(solution_str="A: 6", **args) == 0.0


def test_verl_real_registry_matches_verls_own_losses() -> None:
    """Runs only where verl imports: arena_grpo = verl "vanilla", arena_gspo = verl "gspo", estimators agree."""
    core_algos = pytest.importorskip("verl.trainer.ppo.core_algos")
    from verl.workers.config import ActorConfig

    from harness.adapters import verl as adapter

    adapter.register_arena_losses(hyperparams={"grpo": {"adv_eps": 1e-6}}, max_new_tokens=10)
    batch = _batch()
    uid = np.array([f"p{i // G}" for i in range(8)], dtype=object)
    tlr = torch.zeros_like(batch.mask)
    tlr[torch.arange(8), batch.mask.sum(-1).long() - 1] = batch.rewards
    theirs_adv, _ = core_algos.compute_grpo_outcome_advantage(tlr, batch.mask, uid, epsilon=1e-6)
    ours_adv, _ = core_algos.get_adv_estimator_fn("arena_grpo")(token_level_rewards=tlr, response_mask=batch.mask, index=uid)
    torch.testing.assert_close(ours_adv, theirs_adv, **TOL)
    for name, verl_name, noise, clip in [("grpo", "vanilla", 0.3, (0.2, 0.2)), ("gspo", "gspo", 2e-3, (3e-4, 4e-4))]:
        cfg = ActorConfig(strategy="fsdp", rollout_n=G, ppo_micro_batch_size_per_gpu=8, use_dynamic_bsz=False,
                          clip_ratio_low=clip[0], clip_ratio_high=clip[1], loss_agg_mode="seq-mean-token-mean")
        b = _batch(noise=noise)
        kwargs = dict(old_log_prob=b.old_logprobs, log_prob=b.logprobs, advantages=theirs_adv,
                      response_mask=b.mask.bool(), loss_agg_mode="seq-mean-token-mean", config=cfg, rollout_is_weights=None)
        theirs, _ = core_algos.get_policy_loss_fn(verl_name)(**kwargs)
        ours, _ = core_algos.get_policy_loss_fn(f"arena_{name}")(**kwargs)
        torch.testing.assert_close(ours, theirs, **TOL)
