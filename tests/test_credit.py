"""Token credit (harness/credit.py): -dL/d log pi(token) of each objective, checked against hand
formulas, and `harness credit` end to end on a tiny checkpoint."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch

from harness import objectives
from harness.credit import similarity, token_credit

REPO = Path(__file__).resolve().parent.parent

# 3 groups of G = 3, T = 4: two groups with a reward spread, one all wrong (zero advantage)
G = 3
LENGTHS = [4, 2, 3, 1, 4, 2, 3, 3, 2]
REWARDS = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]


def small_batch(rewards: list[float] = REWARDS) -> objectives.RolloutBatch:
    T = max(LENGTHS)
    gen = torch.Generator().manual_seed(0)
    mask = torch.tensor([[1.0 if t < n else 0.0 for t in range(T)] for n in LENGTHS])
    logprobs = -torch.rand(len(LENGTHS), T, generator=gen) * mask
    entropy = (0.1 + torch.rand(len(LENGTHS), T, generator=gen)) * mask
    return objectives.RolloutBatch(
        logprobs=logprobs, old_logprobs=logprobs.clone(), mask=mask, rewards=torch.tensor(rewards), group_size=G,
        entropy=entropy, old_entropy=entropy.clone(), extras={"max_new_tokens": 8},
    )


def advantages_by_hand(rewards: list[float] = REWARDS) -> list[float]:
    """A_i = (R_i - mean) / (std + 1e-4), std the unbiased sample std of the group (as TRL)."""
    out = []
    for g in range(0, len(rewards), G):
        r = rewards[g : g + G]
        mean = sum(r) / G
        std = math.sqrt(sum((x - mean) ** 2 for x in r) / (G - 1))
        out += [(x - mean) / (std + 1e-4) for x in r]
    return out


def test_grpo_credit_is_advantage_over_sequences_times_length() -> None:
    """On-policy GRPO: credit_it = A_i / (n_sequences * |o_i|) on completion tokens, 0 on padding."""
    batch = small_batch()
    credit, kept, _ = token_credit(objectives.get("grpo"), batch)
    A, B = advantages_by_hand(), len(LENGTHS)
    expected = torch.tensor([[A[i] / (B * n) if t < n else 0.0 for t in range(batch.mask.shape[1])]
                             for i, n in enumerate(LENGTHS)])
    assert kept.all()
    assert torch.allclose(credit, expected, atol=1e-6), (credit, expected)
    assert credit[:3].abs().sum() > 0 and credit[6:].abs().sum() == 0  # the all-wrong group gets none


def test_dapo_credit_is_token_mean_over_the_groups_it_keeps() -> None:
    """DAPO (overlong penalty off): dynamic sampling drops the all-wrong group, so its tokens get 0
    and the kept tokens share one normaliser: credit_it = A_i / (completion tokens of kept groups).
    Scores on DAPO's own +-1 scale (eq. 7), which its reward mapping leaves as they are."""
    pm = [2 * r - 1 for r in REWARDS]
    batch = small_batch(pm)
    credit, kept, _ = token_credit(objectives.get("dapo", overlong_penalty=0.0), batch)
    A = advantages_by_hand(pm)
    kept_tokens = sum(LENGTHS[:6])  # groups 0 and 1 have a reward spread; group 2 does not
    expected = torch.tensor([[A[i] / kept_tokens if (t < n and i < 6) else 0.0 for t in range(batch.mask.shape[1])]
                             for i, n in enumerate(LENGTHS)])
    assert kept.tolist() == [True] * 6 + [False] * 3
    assert torch.allclose(credit, expected, atol=1e-6), (credit, expected)
    # not GRPO's: its normaliser is per sequence, DAPO's per batch
    grpo, _, _ = token_credit(objectives.get("grpo"), batch)
    assert not torch.allclose(credit, grpo, atol=1e-4)


def test_eapo_credit_moves_advantage_to_high_entropy_tokens() -> None:
    """EAPO (alpha 0.5, phi 1): credit_it = A_i * w_it / (all completion tokens),
    w_it = (1 - alpha) + alpha * |o_i| * H_it / sum_t H_it."""
    batch = small_batch()
    alpha = 0.5
    credit, _, _ = token_credit(objectives.get("eapo", alpha=alpha, phi=1.0), batch)
    A, H = advantages_by_hand(), batch.entropy.tolist()
    total = sum(LENGTHS)
    expected = torch.zeros_like(credit)
    for i, n in enumerate(LENGTHS):
        h_sum = sum(H[i][:n])
        for t in range(n):
            w = (1 - alpha) + alpha * n * H[i][t] / h_sum
            expected[i, t] = A[i] * w / total
    assert torch.allclose(credit, expected, atol=1e-6), (credit, expected)
    # the weights act: within a sequence credit is not constant
    assert float(credit[0, :4].std()) > 1e-4


def test_similarity_is_cosine_and_sign_flips_over_tokens_where_both_act() -> None:
    mask = torch.ones(1, 4)
    ref = torch.tensor([[1.0, 1.0, 3.0, 0.0]])
    other = torch.tensor([[1.0, -1.0, 0.0, 2.0]])
    rows = {r["objective"]: r for r in similarity({"ref": ref, "other": other}, mask, "ref")}
    assert rows["ref"]["cosine"] == pytest.approx(1.0) and rows["ref"]["sign_flip_share"] == 0.0
    assert rows["other"]["cosine"] == pytest.approx(0.0)  # 1 - 1 + 0 + 0
    assert rows["other"]["sign_flip_share"] == pytest.approx(0.5)  # tokens 0 and 1: one flip
    assert rows["other"]["tokens_compared"] == 2
    assert rows["other"]["norm_ratio"] == pytest.approx(math.sqrt(6 / 11))


@pytest.fixture()
def credit_run(tiny_world, tmp_path, monkeypatch) -> tuple[Path, dict]:
    """`harness credit` on the tiny checkpoint with every smoke.yaml objective; rewards alternate
    within each group (the tiny model solves nothing) so every group has a reward spread."""
    import harness.train.loop as loop
    from harness.cli import main

    monkeypatch.setattr(loop, "score", lambda texts, items: torch.tensor([float(i % 2) for i in range(len(texts))]))
    out = tmp_path / "credit"
    rc = main(["credit", "--checkpoint", str(tiny_world["model"]), "--config", str(REPO / "config/smoke.yaml"),
               "--data", str(tiny_world["data"] / "train.jsonl"), "--prompts", "2", "--out", str(out), "--shown", "3"])
    assert rc == 0
    return out, json.loads((out / "credit.json").read_text())


def test_cli_writes_json_html_png_and_similarity(credit_run) -> None:
    import yaml

    out, result = credit_run
    names = list(yaml.safe_load((REPO / "config/smoke.yaml").read_text())["objectives"])
    assert result["objective_order"] == names and set(result["objectives"]) == set(names)
    assert len(result["rollouts"]) == 2 * 4
    for r in result["rollouts"]:
        assert r["reward"] in (0.0, 1.0) and r["length"] == len(r["tokens"]) > 0
        for name in names:
            assert len(r["credit"][name]) == r["length"]
            assert all(math.isfinite(v) for v in r["credit"][name])
    # the CLI's GRPO credit is the hand formula on the batch it sampled
    for g in range(2):
        rows = result["rollouts"][4 * g : 4 * g + 4]
        rewards = [r["reward"] for r in rows]
        mean = sum(rewards) / 4
        std = math.sqrt(sum((x - mean) ** 2 for x in rewards) / 3)
        for r in rows:
            a = (r["reward"] - mean) / (std + 1e-4)
            assert r["credit"]["grpo"] == pytest.approx([a / (8 * r["length"])] * r["length"], rel=1e-5)

    assert (out / "credit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sim = {row["objective"]: row for row in json.loads((out / "credit_similarity.json").read_text())["rows"]}
    assert sim["grpo"]["cosine"] == pytest.approx(1.0) and sim["grpo"]["sign_flip_share"] == 0.0
    assert sim["grpo_aa"]["cosine"] == pytest.approx(1.0)  # the same objective on the same batch
    assert sim["dr_grpo"]["sign_flip_share"] == 0.0  # another normaliser, the same signs
    csv_lines = (out / "credit_similarity.csv").read_text().splitlines()
    assert csv_lines[0].startswith("objective,") and len(csv_lines) == 1 + len(names)

    page = (out / "credit.html").read_text()
    assert len(result["shown"]) == 3
    for name in names:
        assert page.count(f"<div class='panel' data-objective='{name}'>") == 3  # one per shown rollout
        assert page.count(f"<div class='legend-item' data-objective='{name}'>") == 1
    values = re.findall(r"credit = ([^'<]+)'", page)
    assert len(values) == sum(result["rollouts"][i]["length"] for i in result["shown"]) * len(names)
    assert all(math.isfinite(float(v)) for v in values)
    assert "http://" not in page and "https://" not in page and "<script" not in page and "<link" not in page
    assert "reward 1" in page and "reward 0" in page


def test_cli_names_an_unknown_objective(tiny_world, tmp_path, capsys) -> None:
    from harness.cli import main

    rc = main(["credit", "--checkpoint", str(tiny_world["model"]), "--config", str(REPO / "config/smoke.yaml"),
               "--objectives", "grpo,not_an_objective", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and "not_an_objective" in err and "grpo" in err
    assert not (tmp_path / "credit.json").exists()


def test_cli_names_a_missing_checkpoint(tmp_path, capsys) -> None:
    from harness.cli import main

    missing = tmp_path / "runs" / "grpo" / "seed0" / "model"
    rc = main(["credit", "--checkpoint", str(missing), "--config", str(REPO / "config/smoke.yaml"), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and str(missing) in err and "does not exist" in err
