"""The objective registry's contract, provenance, closed-form gradients, and the trainer's ignorance of names."""
from __future__ import annotations

import importlib
import io
import math
import tokenize
from pathlib import Path

import pytest
import torch

from harness import objectives

ROOT = Path(__file__).resolve().parents[1]
ALL = ["dapo", "dr_grpo", "eapo", "grpo", "gspo", "hmpo", "iapo", "tepo", "tgc"]
G, GROUPS, T, MAX_NEW = 4, 3, 7, 10


def random_batch(seed: int = 0, *, on_policy: bool = True) -> objectives.RolloutBatch:
    """Three groups of four with ragged lengths; every signal any objective may need.

    Rewards: group 0 mixed, group 1 mixed with one right, group 2 all wrong.
    Group 0 shares its first two tokens (a shared prefix for TGC).
    """
    g = torch.Generator().manual_seed(seed)
    B = G * GROUPS
    lengths = torch.tensor([7, 3, 5, 6, 2, 7, 4, 1, 5, 5, 6, 3])
    mask = (torch.arange(T)[None, :] < lengths[:, None]).float()
    ids = torch.randint(3, 50, (B, T), generator=g)
    ids[:G, :2] = ids[0, :2]
    logprobs = (-3 * torch.rand(B, T, generator=g)).requires_grad_()
    old = logprobs.detach() if on_policy else logprobs.detach() + 0.3 * torch.randn(B, T, generator=g)
    entropy = 2 * torch.rand(B, T, generator=g)
    return objectives.RolloutBatch(
        logprobs=logprobs,
        old_logprobs=old,
        mask=mask,
        rewards=torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
        group_size=G,
        ref_logprobs=logprobs.detach() - 0.2 * torch.rand(B, T, generator=g),
        entropy=entropy,
        old_entropy=entropy.clone(),
        extras={
            "max_new_tokens": MAX_NEW,
            "answer_entropy": 3 * torch.rand(B, T, generator=g) * mask,
            "completion_ids": ids * mask.long(),
        },
    )


# ---------------------------------------------------------------- registry & contract


def test_all_nine_objectives_are_registered() -> None:
    assert set(ALL) <= set(objectives.available())


@pytest.mark.parametrize("name", ALL)
def test_every_objective_honours_the_contract(name: str) -> None:
    obj = objectives.get(name)
    batch = random_batch(on_policy=False)
    loss, metrics = obj.loss(batch)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert all(isinstance(k, str) and isinstance(v, float) for k, v in metrics.items())
    loss.backward()
    assert torch.isfinite(batch.logprobs.grad).all()
    assert (batch.logprobs.grad * (1 - batch.mask)).abs().max() == 0, "padding must get no gradient"
    assert obj.shape_rewards(batch).shape == (G * GROUPS,)
    assert obj.keep_groups(batch.rewards, G).shape == (GROUPS,)
    assert obj.required_signals() <= objectives.SIGNALS


@pytest.mark.parametrize("name", ALL)
def test_every_objective_file_opens_with_its_provenance(name: str) -> None:
    obj = objectives.get(name)
    module = importlib.import_module(type(obj).__module__)
    doc = module.__doc__ or ""
    arxiv = obj.provenance.paper.split()[1]
    assert doc.splitlines()[0].strip(), "module docstring must open the file"
    assert "Provenance" in doc and arxiv in doc and "Defaults" in doc and "Exact" in doc
    assert type(obj).__dict__.get("provenance") is obj.provenance, "provenance must be the class's own attribute"
    for field in ("paper", "equation", "exact", "defaults_source"):
        assert getattr(obj.provenance, field)
    shared = ROOT.parent / "shared" / "seeds"  # the shared checkout, when present, else the tests' copies
    seeds = shared if shared.exists() else ROOT / "tests" / "data" / "seeds"
    if obj.provenance.seed_article:
        assert (seeds / Path(obj.provenance.seed_article).name).exists()


def test_provenance_table_has_a_row_per_objective() -> None:
    rows = {r["name"]: r for r in objectives.provenance_table()}
    assert set(ALL) <= set(rows)
    assert rows["iapo"]["needs"] == "answer_entropy, entropy, ref_logprobs"
    assert rows["tgc"]["needs"] == "completion_ids"


def test_missing_signal_error_names_the_fix() -> None:
    batch = random_batch().replace(entropy=None)
    with pytest.raises(ValueError, match=r"batch\.entropy.*required_signals"):
        objectives.get("eapo").loss(batch)


# ---------------------------------------------------------------- closed-form token weights on-policy


def _grad_wrt_logprobs(name: str, **hp: object) -> tuple[torch.Tensor, objectives.RolloutBatch]:
    batch = random_batch()
    loss, _ = objectives.get(name, **hp).loss(batch)
    loss.backward()
    return batch.logprobs.grad, batch


def _adv(rewards: torch.Tensor, *, std: bool = True) -> torch.Tensor:
    r = rewards.view(-1, G)
    a = r - r.mean(1, keepdim=True)
    if std:
        a = a / (r.std(1, keepdim=True) + 1e-4)
    return a.reshape(-1, 1)


def _centred_unit(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mean = (x * mask).sum(-1, keepdim=True) / mask.sum(-1, keepdim=True)
    c = (x - mean) * mask
    return c / (c.norm(dim=-1, keepdim=True) + 1e-8)


def _check(name: str, weights: torch.Tensor, **hp: object) -> None:
    grad, batch = _grad_wrt_logprobs(name, **hp)
    torch.testing.assert_close(-grad, weights * batch.mask, atol=1e-6, rtol=1e-5)


def test_grpo_on_policy_gradient_is_advantage_over_sequence_length() -> None:
    b = random_batch()
    _check("grpo", _adv(b.rewards) / (b.mask.shape[0] * b.lengths[:, None]))


def test_dr_grpo_gradient_has_no_length_bias() -> None:
    b = random_batch()
    weights = _adv(b.rewards, std=False) / (b.mask.shape[0] * MAX_NEW)
    _check("dr_grpo", weights)
    # every token of every sequence with the same advantage gets the same weight, whatever its length
    assert torch.unique(weights[:G].flatten()).numel() == 2


def test_gspo_on_policy_gradient_is_advantage_over_sequence_length() -> None:
    b = random_batch()
    _check("gspo", _adv(b.rewards) / (b.mask.shape[0] * b.lengths[:, None]))


def test_eapo_on_policy_gradient_is_entropy_weighted_token_mean() -> None:
    b = random_batch()
    alpha, phi = 0.5, 1.0
    h = b.entropy.pow(phi) * b.mask
    w = (1 - alpha) + alpha * b.lengths[:, None] * h / h.sum(-1, keepdim=True)
    _check("eapo", _adv(b.rewards) * w / b.mask.sum(), alpha=alpha, phi=phi)


def test_iapo_on_policy_gradient_is_token_advantage_over_batch_token_count() -> None:
    b = random_batch()
    a = b.extras["answer_entropy"]
    gain = torch.cat([torch.zeros(a.shape[0], 1), a[:, :-1] - a[:, 1:]], dim=1) * b.mask
    s, c = _centred_unit(gain, b.mask), _centred_unit(b.entropy, b.mask)
    sign = (2 * b.rewards - 1)[:, None]  # rewards are 1/0: +1 right, -1 wrong
    A = _adv(b.rewards) + 0.7 * s - sign * 0.3 * c
    _check("iapo", A / b.mask.sum(), lambda_s=0.7, lambda_c=0.3, beta=0.0)


# ---------------------------------------------------------------- the trainer never names an objective


def _names_in_python(source: str) -> set[str]:
    """Identifiers and whole string literals (lower-cased) of a Python source, comments excluded."""
    found: set[str] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.NAME:
            found.add(tok.string.lower())
        elif tok.type == tokenize.STRING:
            body = tok.string.lstrip("rbfuRBFU")
            body = body.strip("'\"")
            found.add(body.strip().lower())
        elif tok.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
            found.add(tok.string.strip().lower())
    return found


def test_trainer_never_names_an_objective() -> None:
    train_dir = ROOT / "harness" / "train"
    names = set(objectives.available())
    offenders = []
    for path in sorted(train_dir.rglob("*.py")) if train_dir.exists() else []:
        hits = names & _names_in_python(path.read_text())
        offenders += [f"{path.relative_to(ROOT)}: {h}" for h in sorted(hits)]
    assert not offenders, f"the trainer must get objectives by config name only; it names: {offenders}"


def test_name_check_catches_identifiers_and_strings() -> None:
    assert "dapo" in _names_in_python('if cfg.objective == "dapo":\n    pass\n')
    assert "gspo" in _names_in_python("from harness.objectives.gspo import GSPO\n")
    assert "grpo" not in _names_in_python("# like grpo, we clip\nx = 1\n")


def test_expected_value_helpers_match_hand_computed_numbers() -> None:
    # _adv and _centred_unit build the expected values above; check them against numbers worked by hand.
    # One group of G = 4 with rewards 1,0,0,0: mean 1/4, unbiased std sqrt((9/16 + 3/16) / 3) = 1/2.
    assert G == 4
    a = _adv(torch.tensor([1.0, 0.0, 0.0, 0.0])).flatten()
    torch.testing.assert_close(a, torch.tensor([0.75, -0.25, -0.25, -0.25]) / 0.5001)
    torch.testing.assert_close(_adv(torch.tensor([1.0, 0.0, 0.0, 0.0]), std=False).flatten(),
                               torch.tensor([0.75, -0.25, -0.25, -0.25]))
    # x = [1, 2, 3, 10] centred: [-3, -2, -1, 6], norm sqrt(50)
    c = _centred_unit(torch.tensor([[1.0, 2.0, 3.0, 10.0]]), torch.ones(1, 4))
    torch.testing.assert_close(c, torch.tensor([[-3.0, -2.0, -1.0, 6.0]]) / math.sqrt(50.0))
