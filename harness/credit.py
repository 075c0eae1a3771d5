"""Token credit: what each objective tells each token of one fixed rollout batch.

The credit objective X gives token t of rollout i is ``-dL_X / d log pi(o_it)``: the
coefficient of ``grad log pi(o_it)`` in X's policy gradient. It is read off by autograd on
X's own loss (``Objective.loss``), so no objective needs code here: the log-probs enter the
batch as a leaf tensor and ``credit = -logprobs.grad``.

One batch serves every objective: rollouts sampled once from a checkpoint with a fixed seed
(the first ``--prompts`` prompts that seed's training run would draw from the configured
train suite), scored by the verifiers as in training, and the extra signals computed the way
the trainer computes them (`harness.train.loop.rollout_signals`). The update is on-policy:
``old_logprobs = logprobs.detach()`` and ``old_entropy = entropy`` (the first minibatch of
a training step, before any update), with the whole batch as one minibatch. As in training,
an objective's ``keep_groups`` (DAPO's dynamic sampling) decides which groups enter its
loss; the groups it drops get zero credit from it and do not count in its normalisers.

Outputs (``harness credit``, all atomic): credit.json (per rollout: prompt, tokens, reward,
each objective's credit list), credit.html (self-contained: the tokens of a few rollouts
coloured by each objective's credit side by side), credit.png (the same as heat strips) and
credit_similarity.csv/.json (each objective's credit against the reference objective's:
cosine similarity over all tokens of the batch, share of sign flips among tokens where both
are non-zero).
"""
from __future__ import annotations

import csv
import dataclasses
import html
import io
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from harness import objectives
from harness.io import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json, read_jsonl

#: Credit colours: matplotlib's RdBu stops (red negative, white zero, blue positive), so the
#: HTML and the PNG read alike.
RDBU = ["#b2182b", "#ef8a62", "#fddbc7", "#f7f7f7", "#d1e5f0", "#67a9cf", "#2166ac"]
#: Full colour is reached at this quantile of an objective's |credit| over the batch's
#: completion tokens (its "scale"); larger values are clipped to full colour. A quantile
#: rather than the max, so one short sequence's large per-token credit does not wash out
#: everything else.
SCALE_QUANTILE = 0.99
#: Colour position = sign(c) * (|c| / scale) ** COLOUR_POWER: a square root, so the credit of the
#: many wrong rollouts of a group with one right answer (A about 1/7 of the right one's at G = 8)
#: stays visible next to the right one's; sign and order are kept.
COLOUR_POWER = 0.5
#: |credit| below this fraction of an objective's largest |credit| counts as zero (sign flips).
ZERO_TOLERANCE = 1e-9


class CreditError(ValueError):
    """A credit run that cannot start; the message says what was wrong and what to do."""


def _log(message: str) -> None:
    print(f"[credit] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the credit itself


def token_credit(
    objective: objectives.Objective, batch: objectives.RolloutBatch
) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
    """(credit [B, T], kept [B] bool, the loss's metrics) of ``objective`` on ``batch``.

    credit = -dL/d logprobs, where L is ``objective.loss`` on the groups the objective keeps
    (``keep_groups`` on the raw rewards, as the trainer does); rows of dropped groups get 0.
    ``batch.logprobs`` gives the values only: a fresh leaf with requires_grad=True replaces
    it, and ``old_logprobs`` is its detached copy (on-policy). Entropies enter detached:
    credit is the gradient with respect to the log-probs alone. 0 on padding.
    """
    B, T = batch.logprobs.shape
    G = batch.group_size
    leaf = batch.logprobs.detach().clone().requires_grad_(True)
    keep = objective.keep_groups(batch.rewards, G).to(torch.bool).to(leaf.device)
    kept = keep.repeat_interleave(G)
    if not bool(kept.any()):
        return torch.zeros_like(leaf.detach()), kept, {}
    rows = None if bool(kept.all()) else kept.nonzero().squeeze(-1)

    def take(x: Any) -> Any:
        if rows is None or not isinstance(x, torch.Tensor) or x.dim() == 0 or x.shape[0] != B:
            return x
        return x[rows]

    def detached(x: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None else take(x.detach())

    logprobs = leaf if rows is None else leaf[rows]
    sub = objectives.RolloutBatch(
        logprobs=logprobs,
        old_logprobs=logprobs.detach(),
        mask=take(batch.mask),
        rewards=take(batch.rewards),
        group_size=G,
        ref_logprobs=detached(batch.ref_logprobs),
        entropy=detached(batch.entropy),
        old_entropy=detached(batch.old_entropy),
        extras={k: take(v) for k, v in batch.extras.items()},
    )
    loss, metrics = objective.loss(sub)
    if loss.requires_grad:
        loss.backward()
    grad = leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)
    return (-grad * batch.mask).detach(), kept, dict(metrics)


def similarity(
    credit: dict[str, torch.Tensor], mask: torch.Tensor, reference: str
) -> list[dict[str, Any]]:
    """One row per objective: its credit against ``reference``'s over the batch's completion tokens.

    credit: name -> [B, T]; mask: [B, T]. cosine: <c, c_ref> / (|c| |c_ref|) over every
    completion token (None when either is all zero); sign_flip_share: among tokens where both
    are non-zero (|c| > ZERO_TOLERANCE * max |c|), the share whose signs differ (None when
    there is no such token); norm_ratio: |c| / |c_ref|.
    """
    on = mask > 0
    ref = credit[reference][on].double()

    def nonzero(x: torch.Tensor) -> torch.Tensor:
        top = float(x.abs().max()) if x.numel() else 0.0
        return x.abs() > ZERO_TOLERANCE * top if top > 0 else torch.zeros_like(x, dtype=torch.bool)

    ref_nz, ref_norm = nonzero(ref), float(ref.norm())
    rows = []
    for name, c in credit.items():
        x = c[on].double()
        norm = float(x.norm())
        both = nonzero(x) & ref_nz
        n_both = int(both.sum())
        rows.append({
            "objective": name,
            "cosine": float(x @ ref) / (norm * ref_norm) if norm > 0 and ref_norm > 0 else None,
            "sign_flip_share": float((torch.sign(x[both]) != torch.sign(ref[both])).double().mean()) if n_both else None,
            "tokens_compared": n_both,
            "nonzero_share": float(nonzero(x).double().mean()) if x.numel() else 0.0,
            "norm_ratio": norm / ref_norm if ref_norm > 0 else None,
        })
    return rows


def credit_scale(c: torch.Tensor, mask: torch.Tensor) -> float:
    """The |credit| at which an objective's colour saturates: the SCALE_QUANTILE quantile of
    |credit| over its non-zero completion tokens (0 when all are zero). c, mask: [B, T]."""
    x = c[mask > 0].abs().double()
    x = x[x > 0]
    return float(torch.quantile(x, SCALE_QUANTILE)) if x.numel() else 0.0


# ---------------------------------------------------------------- the batch


@dataclass
class CreditBatch:
    """The fixed rollout batch every objective is asked about.

    batch: the RolloutBatch (logprobs [B, T] as values, no grad; every signal any of the
    objectives needs); items: [B / G] benchmark items, one per group; tokens: B lists of
    token strings (completion tokens only); token_ids: B lists of ids; texts: B completions.
    """

    batch: objectives.RolloutBatch
    items: list[dict[str, Any]]
    tokens: list[list[str]]
    token_ids: list[list[int]]
    texts: list[str]


def resolve_objectives(config: dict[str, Any], names: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """entry name -> (registered objective, hyperparameters) from the config's `objectives:`.

    A name that is not an entry but a registered objective gets its default hyperparameters.
    Unknown names raise CreditError listing both.
    """
    from harness.config import objective_entry

    known = objectives.available()
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    bad = []
    for name in names:
        if name in config["objectives"]:
            registered, hp, _ = objective_entry(config, name)
            out[name] = (registered, hp)
        elif name in known:
            _log(f"{name!r} is not an entry of the config's objectives: using its default hyperparameters")
            out[name] = (name, {})
        else:
            bad.append(name)
    if bad:
        raise CreditError(
            f"unknown objective(s) {bad}: not an entry of the config's objectives "
            f"({', '.join(config['objectives'])}) nor a registered objective ({', '.join(known)})"
        )
    return out


def sample_batch(
    model: torch.nn.Module, ref_model: torch.nn.Module | None, tokenizer: Any, items: list[dict[str, Any]],
    needs: frozenset[str], s: Any,
) -> CreditBatch:
    """Sample ``s.group_size`` completions per item, score them and compute ``needs`` as the trainer does.

    ``s`` is a `harness.train.loop.TrainSettings`; torch's global generator must be seeded
    by the caller. Returns the batch on CPU.
    """
    from harness.prompts import format_prompts
    from harness.train import loop

    prompts = format_prompts(tokenizer, items, s.prompt_format)
    r = loop.draw_rollouts(model, tokenizer, prompts, loop.rollout_backend(s), s)
    _log(f"scoring {len(r.texts)} completions with the verifiers")
    rewards = loop.score(r.texts, [it for it in items for _ in range(s.group_size)]).float()
    _log("computing the policy's log-probs and entropies" + (", the reference's log-probs" if "ref_logprobs" in needs else "")
         + (", the early-exit answer entropies" if "answer_entropy" in needs else ""))
    # one no-grad pass gives the policy's log-probs and entropies (on-policy: they are the
    # "old" ones too), plus the reference log-probs and answer entropies if asked
    signals = loop.rollout_signals(model, ref_model, tokenizer, r, needs | {"old_logprobs", "old_entropy"}, s)
    cpu = {k: v.detach().float().cpu() for k, v in signals.items()}
    mask = r.completion_mask.float().cpu()
    completion_ids = r.completion_ids.cpu()
    extras: dict[str, Any] = {"max_new_tokens": s.max_new_tokens, "completion_ids": completion_ids}
    if "answer_entropy" in cpu:
        extras["answer_entropy"] = cpu["answer_entropy"]
    batch = objectives.RolloutBatch(
        logprobs=cpu["old_logprobs"], old_logprobs=cpu["old_logprobs"], mask=mask, rewards=rewards.cpu(),
        group_size=s.group_size, ref_logprobs=cpu.get("ref_logprobs"), entropy=cpu["old_entropy"],
        old_entropy=cpu["old_entropy"], extras=extras,
    )
    token_ids = [row[: int(n)].tolist() for row, n in zip(completion_ids, mask.sum(-1))]
    tokens = [[tokenizer.decode([t], skip_special_tokens=False) for t in ids] for ids in token_ids]
    return CreditBatch(batch, items, tokens, token_ids, list(r.texts))


# ---------------------------------------------------------------- the run


def run_credit(
    checkpoint: str | Path,
    config: dict[str, Any],
    names: list[str] | None = None,
    *,
    prompts: int | None = None,
    seed: int = 0,
    out_dir: str | Path = "results/credit",
    data: str | Path | None = None,
    reference_model: str | Path | None = None,
    shown: int = 6,
) -> dict[str, Any]:
    """Sample one batch from ``checkpoint``, compute every objective's token credit, write the files.

    config: a validated comparison config; names: entries of its `objectives:` (default: all);
    prompts: prompts sampled (default train.prompts_per_step), each ``train.group_size`` times;
    data: the prompt file (default the train split of the config's train suite);
    reference_model: the KL reference (default: the run's starting model, from run.json
    beside the checkpoint; else the checkpoint itself); shown: rollouts drawn in HTML/PNG.
    Returns the credit.json dict.
    """
    from harness import config as hc
    from harness.model import load_checkpoint
    from harness.seeding import seed_everything, set_threads
    from harness.train.loop import PromptStream, TrainSettings
    from tqdm import tqdm

    checkpoint = Path(checkpoint)
    if not (checkpoint / "config.json").exists():
        what = "does not exist" if not checkpoint.exists() else "is not a model checkpoint (no config.json)"
        raise CreditError(f"checkpoint {checkpoint} {what}; train it first (e.g. snakemake {checkpoint})")
    reference = str(config["report"].get("reference_objective", "grpo"))
    names = list(config["objectives"]) if not names else list(dict.fromkeys(names))
    if reference not in names:
        names = [reference, *names]  # the similarity table needs the reference's credit
    entries = resolve_objectives(config, names)
    built = {name: objectives.get(reg, **hp) for name, (reg, hp) in entries.items()}
    needs = frozenset().union(*(o.required_signals() for o in built.values()))

    ref_entry = reference if reference in config["objectives"] else next(iter(config["objectives"]))
    s = TrainSettings(**hc.train_settings(config, ref_entry, seed))
    s = dataclasses.replace(s, base_model=str(checkpoint), train_data=str(data or s.train_data))
    if not Path(s.train_data).exists():
        raise CreditError(f"prompt file {s.train_data} does not exist; generate the data first or pass --data")
    n_prompts = int(s.prompts_per_step if prompts is None else prompts)
    if n_prompts < 1:
        raise CreditError(f"--prompts must be at least 1, got {n_prompts}")

    ref_path = None
    if "ref_logprobs" in needs:
        ref_path = Path(reference_model) if reference_model else _starting_model(checkpoint)
        if ref_path is not None and not (ref_path / "config.json").exists():
            raise CreditError(f"--reference-model {ref_path} is not a model checkpoint (no config.json)")

    set_threads(s.threads)
    seed_everything(seed)
    _log(f"loading {checkpoint}")
    model, tokenizer = load_checkpoint(checkpoint, dtype=s.dtype)
    model.to(torch.device(s.device))
    ref_model = None
    if "ref_logprobs" in needs:
        if ref_path is None:
            # the trainer's reference is the model the run started from; without run.json we
            # do not know it, and the checkpoint itself gives the KL term zero gradient
            _log("no run.json beside the checkpoint: the KL reference is the checkpoint itself (KL credit 0)")
            ref_model, ref_path = model, checkpoint
        else:
            ref_model, _ = load_checkpoint(ref_path, dtype=s.dtype)
            ref_model.to(torch.device(s.device))
    items = PromptStream(read_jsonl(s.train_data), seed).take(n_prompts)
    _log(f"sampling {n_prompts} prompts x {s.group_size} from {s.train_data} (seed {seed}), signals: {sorted(needs) or '-'}")
    cb = sample_batch(model, ref_model, tokenizer, items, needs, s)
    batch = cb.batch
    _log(f"{batch.rewards.numel()} rollouts, mean reward {float(batch.rewards.mean()):.3f}, "
         f"{int(batch.mask.sum())} completion tokens")

    credit: dict[str, torch.Tensor] = {}
    info: dict[str, dict[str, Any]] = {}
    for name in tqdm(names, desc="credit", unit="objective", file=sys.stderr, mininterval=1.0):
        c, kept, metrics = token_credit(built[name], batch)
        credit[name] = c
        info[name] = {
            "objective": entries[name][0],
            "hyperparams": built[name].hyperparams(),
            "scale": credit_scale(c, batch.mask),
            "max_abs": float(c.abs().max()) if c.numel() else 0.0,
            "dropped_groups": [g for g in range(kept.numel() // batch.group_size) if not bool(kept[g * batch.group_size])],
            "metrics": {k: float(v) for k, v in metrics.items()},
        }
    table = similarity(credit, batch.mask, reference)
    for row in table:
        row["registered"] = info[row["objective"]]["objective"]
        row["scale"] = info[row["objective"]]["scale"]

    G = batch.group_size
    rollouts = []
    for i in range(batch.rewards.numel()):
        n = len(cb.token_ids[i])
        item = cb.items[i // G]
        rollouts.append({
            "index": i, "group": i // G, "prompt": item["prompt"], "answer": item.get("answer"),
            "completion": cb.texts[i], "tokens": cb.tokens[i], "token_ids": cb.token_ids[i],
            "reward": float(batch.rewards[i]), "length": n,
            "credit": {name: [_round(v) for v in credit[name][i, :n].tolist()] for name in names},
        })
    chosen = pick_rollouts(batch.rewards, G, shown)
    result = {
        "checkpoint": str(checkpoint), "seed": seed, "comparison": config.get("comparison", ""),
        "prompts_file": s.train_data, "group_size": G, "max_new_tokens": s.max_new_tokens,
        "temperature": s.temperature, "reference": reference, "reference_model": str(ref_path) if ref_path else None,
        "definition": "credit = -dL/d log pi(token) of each objective's own loss; on-policy (old = current), "
                      "whole batch as one minibatch, groups dropped by keep_groups get 0",
        "scale_quantile": SCALE_QUANTILE, "objective_order": names, "objectives": info, "similarity": table, "shown": chosen,
        "rollouts": rollouts,
    }
    write_outputs(result, Path(out_dir))
    return result


def _starting_model(checkpoint: Path) -> Path | None:
    """The model a run started from (its KL reference), from run.json beside the checkpoint."""
    run = checkpoint.parent / "run.json"
    if not run.exists():
        return None
    base = read_json(run).get("config", {}).get("base_model")
    return Path(base) if base and (Path(base) / "config.json").exists() else None


def _round(x: float) -> float:
    return float(f"{x:.7g}")


def pick_rollouts(rewards: torch.Tensor, group_size: int, k: int) -> list[int]:
    """Up to ``k`` row indices worth drawing: from groups whose rewards differ (where a group
    objective gives credit at all), the best and the worst rollout of each, then the rest in order."""
    r = rewards.view(-1, group_size)
    chosen: list[int] = []
    for g in range(r.shape[0]):
        if float(r[g].max() - r[g].min()) > 0:
            for j in (int(r[g].argmax()), int(r[g].argmin())):
                chosen.append(g * group_size + j)
    for i in range(rewards.numel()):
        if i not in chosen:
            chosen.append(i)
    return chosen[: max(0, k)]


# ---------------------------------------------------------------- outputs


def write_outputs(result: dict[str, Any], out: Path) -> None:
    """credit.json, credit_similarity.json/.csv, credit.html and credit.png under ``out``."""
    atomic_write_json(out / "credit.json", result)
    atomic_write_json(out / "credit_similarity.json", {"reference": result["reference"], "rows": result["similarity"]})
    buf = io.StringIO()
    cols = ["objective", "registered", "cosine", "sign_flip_share", "tokens_compared", "nonzero_share", "norm_ratio", "scale"]
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for row in result["similarity"]:
        w.writerow({k: ("" if row.get(k) is None else row[k]) for k in cols})
    atomic_write_text(out / "credit_similarity.csv", buf.getvalue())
    atomic_write_text(out / "credit.html", render_html(result))
    atomic_write_bytes(out / "credit.png", render_png(result))
    _log(f"wrote {out}/credit.json, credit.html, credit.png, credit_similarity.csv")


def colour_position(value: float, scale: float) -> float:
    """Where ``value`` sits on the colour scale, in [-1, 1]: sign * min(1, |value| / scale) ** COLOUR_POWER; 0 if scale is 0."""
    if not scale > 0 or not math.isfinite(value):
        return 0.0
    return math.copysign(min(1.0, abs(value) / scale) ** COLOUR_POWER, value)


def _hex(c: str) -> tuple[int, int, int]:
    return int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)


def diverging_colour(t: float) -> str:
    """CSS colour of t in [-1, 1] on the RdBu scale: -1 red, 0 near-white, +1 blue."""
    t = max(-1.0, min(1.0, t)) if math.isfinite(t) else 0.0
    pos = (t + 1) / 2 * (len(RDBU) - 1)
    lo = min(int(pos), len(RDBU) - 2)
    f = pos - lo
    a, b = _hex(RDBU[lo]), _hex(RDBU[lo + 1])
    return "#" + "".join(f"{round(x + (y - x) * f):02x}" for x, y in zip(a, b))


def _show_token(tok: str) -> tuple[str, bool]:
    """(visible text, ends a line) of a token: newlines as ↵ plus a line break, tabs as →."""
    if tok == "":
        return "∅", False
    return tok.replace("\n", "↵").replace("\t", "→"), "\n" in tok


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1500px}
h1{font-size:1.4em;margin:0 0 .3em} h2{font-size:1.15em;margin:1.4em 0 .4em}
p.note{color:#555;font-size:.9em;max-width:75em;margin:.3em 0}
table{border-collapse:collapse;font-size:.88em;margin:.5em 0}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right} th{background:#f2f2f2} td:first-child,th:first-child{text-align:left}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;font-size:.82em;margin:.6em 0}
.legend-item{display:flex;align-items:center;gap:6px}
.bar{width:120px;height:12px;border:1px solid #aaa;background:linear-gradient(to right,%s)}
.rollout{border:1px solid #ccc;border-radius:6px;margin:14px 0;padding:8px 10px;background:#fff}
.rollout-head{font-size:.9em;margin-bottom:6px}
.reward{display:inline-block;font-weight:600;padding:1px 7px;border-radius:9px;color:#fff}
.right{background:#2a7a2a}.wrong{background:#8a2a2a}
.prompt{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;color:#444;background:#f6f6f6;padding:2px 5px;border-radius:3px}
.panels{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:8px}
.panel{border:1px solid #e2e2e2;border-radius:4px;padding:4px 6px}
.panel-head{font-size:.8em;color:#333;margin-bottom:3px;display:flex;justify-content:space-between}
.panel-head b{font-size:1.05em}
.toks{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;line-height:1.55;word-break:break-all}
.t{white-space:pre;border-radius:2px;padding:0 .5px}
.dropped{color:#999;font-size:.8em;font-style:italic}
""" % ",".join(RDBU)


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "—" if x is None else format(x, spec)


def render_html(result: dict[str, Any]) -> str:
    """The self-contained page: legend, similarity table, and the shown rollouts' tokens
    coloured by each objective's credit, one panel per objective side by side."""
    names = list(result["objective_order"])
    info = result["objectives"]
    e = html.escape
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Token credit per objective</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Token credit per objective</h1>",
        f"<p class='note'>Checkpoint <code>{e(result['checkpoint'])}</code>, seed {result['seed']}, "
        f"{len(result['rollouts'])} rollouts ({len(result['rollouts']) // result['group_size']} prompts × "
        f"{result['group_size']}), the same batch for every objective. The credit of a token is "
        "−∂L/∂ log π(token) of the objective's own loss: the weight of that token's log-probability "
        "gradient in the update (on-policy, the whole batch as one minibatch; a group the objective "
        "drops, like DAPO's all-equal groups, gets none). "
        "<span style='color:#2166ac;font-weight:600'>Blue</span>: pushed up; "
        "<span style='color:#b2182b;font-weight:600'>red</span>: pushed down. Colours are "
        f"normalised per objective: full colour at its scale (the {result['scale_quantile']:.0%} quantile of "
        "its non-zero |credit|, larger values clipped), so objectives of different scales stay readable; "
        "colour intensity grows as √(|credit| / scale), so small credits stay visible. "
        "Compare shapes across panels, magnitudes with the legend. Hover a token for its exact credit.</p>",
        "<div class='legend'>",
    ]
    for name in names:
        scale = info[name]["scale"]
        label = "all zero" if scale == 0 else f"−{scale:.2e} … 0 … +{scale:.2e}"
        out.append(f"<div class='legend-item' data-objective='{e(name)}'><b>{e(name)}</b>"
                   f"<span class='bar'></span><span>{label}</span></div>")
    out.append("</div>")

    out.append(f"<h2>Credit against {e(result['reference'])}</h2>")
    out.append("<p class='note'>Over every completion token of the batch: cosine similarity of the credit "
               f"vectors, the share of sign flips among tokens where both give non-zero credit, and the "
               f"ratio of norms (scale).</p>")
    out.append("<table><tr><th>objective</th><th>registered</th><th>cosine</th><th>sign flips</th>"
               "<th>tokens compared</th><th>non-zero share</th><th>norm ratio</th><th>scale</th></tr>")
    for row in result["similarity"]:
        flips = row["sign_flip_share"]
        out.append(
            f"<tr><td>{e(row['objective'])}</td><td>{e(row['registered'])}</td><td>{_fmt(row['cosine'])}</td>"
            f"<td>{'—' if flips is None else f'{flips:.1%}'}</td><td>{row['tokens_compared']}</td>"
            f"<td>{row['nonzero_share']:.1%}</td><td>{_fmt(row['norm_ratio'])}</td><td>{row['scale']:.2e}</td></tr>"
        )
    out.append("</table>")

    out.append("<h2>Rollouts</h2>")
    for i in result["shown"]:
        r = result["rollouts"][i]
        ok = r["reward"] > 0.5
        out.append(f"<div class='rollout' data-rollout='{i}'><div class='rollout-head'>"
                   f"<span class='reward {'right' if ok else 'wrong'}'>reward {r['reward']:g}</span> "
                   f"rollout {i} (group {r['group']}), {r['length']} tokens"
                   + ("" if r.get("answer") is None else f", answer {e(str(r['answer']))}") + " — "
                   f"<span class='prompt'>{e(r['prompt'].rstrip())}</span></div><div class='panels'>")
        for name in names:
            values = r["credit"][name]
            scale = info[name]["scale"]
            total = sum(values)
            spans = []
            for tok, v in zip(r["tokens"], values):
                t = colour_position(v, scale)
                text, newline = _show_token(tok)
                fg = "#fff" if abs(t) > 0.62 else "#111"
                spans.append(f"<span class='t' style='background:{diverging_colour(t)};color:{fg}' "
                             f"title='{e(repr(tok))}  {e(name)} credit = {v:.6g}'>{e(text)}</span>"
                             + ("<br>" if newline else ""))
            if r["group"] in info[name].get("dropped_groups", []):
                note = "<div class='dropped'>group dropped by the objective's keep_groups: no credit</div>"
            elif all(v == 0 for v in values):
                note = "<div class='dropped'>no credit on this rollout</div>"
            else:
                note = ""
            # spans joined without whitespace: a newline between inline spans would show as a space
            out.append(f"<div class='panel' data-objective='{e(name)}'><div class='panel-head'><b>{e(name)}</b>"
                       f"<span>Σ credit {total:+.2e}</span></div>{note}<div class='toks'>{''.join(spans)}</div></div>")
        out.append("</div></div>")
    out.append("</body></html>")
    return "\n".join(out)


def render_png(result: dict[str, Any], max_rollouts: int = 3) -> bytes:
    """The first ``max_rollouts`` shown rollouts as heat strips (objectives x tokens), each row
    normalised by its objective's scale, RdBu: blue positive, red negative. PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(result["objective_order"])
    info = result["objectives"]
    shown = result["shown"][:max_rollouts] or [0]
    longest = max(result["rollouts"][i]["length"] for i in shown) if result["rollouts"] else 1
    width = min(40.0, max(9.0, 2.5 + 0.16 * longest))
    heights = [0.32 * len(names) + 1.0 for _ in shown]
    fig, axes = plt.subplots(len(shown), 1, figsize=(width, sum(heights) + 0.6), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    image = None
    for ax, i in zip(axes[:, 0], shown):
        r = result["rollouts"][i] if result["rollouts"] else {"length": 0, "credit": {}, "tokens": []}
        n = max(1, r["length"])
        grid = np.zeros((len(names), n))
        for k, name in enumerate(names):
            scale = info[name]["scale"]
            vals = np.asarray(r["credit"].get(name, []), dtype=float)
            grid[k, : vals.size] = [colour_position(v, scale) for v in vals]
        image = ax.imshow(grid, aspect="auto", cmap="RdBu", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels([f"{name}  (±{info[name]['scale']:.1e})" for name in names], fontsize=8)
        step = max(1, math.ceil(n / 120))
        ticks = list(range(0, r["length"], step))
        ax.set_xticks(ticks)
        ax.set_xticklabels([_show_token(r["tokens"][t])[0] for t in ticks], fontsize=7, family="monospace")
        ax.tick_params(axis="x", length=0)
        title = f"rollout {i}: reward {r.get('reward', 0):g}, {r['length']} tokens — " + r.get("prompt", "").strip()[:90]
        ax.set_title(title, fontsize=9, loc="left")
    if image is not None:
        cbar = fig.colorbar(image, ax=axes[:, 0].tolist(), fraction=0.02, pad=0.01)
        cbar.set_label("sign · √(|credit| / objective's scale): blue +, red −", fontsize=8)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    finally:
        plt.close(fig)
    return buf.getvalue()


# ---------------------------------------------------------------- CLI


def main(argv: list[str]) -> int:
    """`harness credit`: see the module docstring. Exit 2 with a message on a bad argument."""
    import argparse

    p = argparse.ArgumentParser(prog="harness credit", description="token credit of each objective on one fixed rollout batch of a checkpoint")
    p.add_argument("--checkpoint", required=True, help="model directory (e.g. results/runs/grpo/seed0/model)")
    p.add_argument("--objectives", default=None,
                   help="comma-separated entries of the config's objectives: (default: all of them); the reference objective is always added")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--config", default=None, help="comparison config YAML (default config/config.yaml)")
    source.add_argument("--config-json", default=None, help="the resolved config as JSON (what the workflow passes)")
    p.add_argument("--prompts", type=int, default=None, help="prompts to sample (default train.prompts_per_step), each group_size times")
    p.add_argument("--out", default="results/credit", help="output directory (default results/credit)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed and prompt order (default 0)")
    p.add_argument("--data", default=None, help="prompt JSONL (default: the train split of the config's train suite)")
    p.add_argument("--reference-model", default=None, help="KL reference model (default: the run's starting model from run.json)")
    p.add_argument("--shown", type=int, default=6, help="rollouts drawn in credit.html / credit.png (default 6; PNG at most 3)")
    args = p.parse_args(argv)
    from harness.config import ConfigError, load_config, validate_config

    try:
        if args.config_json:
            config = validate_config(json.loads(args.config_json), source="--config-json")
        else:
            config = load_config(args.config or "config/config.yaml")
        names = [n.strip() for n in args.objectives.split(",") if n.strip()] if args.objectives else None
        run_credit(args.checkpoint, config, names, prompts=args.prompts, seed=args.seed, out_dir=args.out,
                   data=args.data, reference_model=args.reference_model, shown=args.shown)
    except (CreditError, ConfigError) as err:
        print(f"harness credit: {err}", file=sys.stderr)
        return 2
    return 0
