"""``IntegrityMonitor``: what the training loop calls on the rollouts it already has.

Per step (``observe``), on the step's completions and the verifier's rewards:
- every detector of ``detectors`` on each rewarded completion: counts per detector, and
  ``flagged``, the rewarded completions any answer-shape detector hit (empty reasoning is
  counted apart: it is a rate to compare with the warm start's, not a fault of one answer);
- the second opinion (``judge``) on a few rewarded and a few unrewarded completions,
  drawn with a generator of their own seeded by (seed, step), so a resumed run judges the
  same ones and the training's random streams are untouched;
- the policy's token entropy, estimated for free from the training pass's log-probs of the
  sampled tokens (``observe_logprobs``: the mean of -log pi(token) over sampled tokens is an
  unbiased estimate of the per-token entropy of the sampling policy).

It returns the step's ``integrity_*`` metrics (the loop puts them on the metrics.jsonl row,
so they reach MLflow with the rest) and keeps a row per step for
runs/{objective}/seed{seed}/integrity.jsonl: the counts, the second opinion, and a bounded
number of flagged samples (prompt, completion, verdict, detector) to read. ``write`` saves
the file atomically (the loop calls it at each checkpoint and at the end); ``resume``
keeps the rows up to the step a resumed run restarts from.
"""
from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from harness.integrity import detectors
from harness.io import atomic_write_jsonl, read_jsonl

#: answer-shape detectors: a hit on a rewarded completion is a flag
SAMPLE_DETECTORS = ("restatement", "several_answers", "copied_from_prompt", "at_length_cap", "degenerate_repetition")
#: counted among rewarded completions, judged as a rate against the warm start's (report)
RATE_DETECTORS = ("empty_reasoning",)
DETECTORS = SAMPLE_DETECTORS + RATE_DETECTORS
SECOND_OPINION = "second_opinion"
#: domains whose items have a final answer line (detectors that read the answer apply)
ANSWER_DOMAINS = frozenset({"math", "science"})
FORMAT_VERSION = 1


@dataclass(frozen=True)
class MonitorSettings:
    """How much the monitor looks at and keeps (the defaults fit 5% of a default step)."""

    second_opinion_rewarded: int = 4      # rewarded completions judged again per step
    second_opinion_unrewarded: int = 4    # unrewarded ones
    samples_per_detector: int = 16        # kept per run and detector (second opinion included)
    samples_per_step: int = 2             # kept per step and detector, so later steps get some too
    sample_chars: int = 2000              # a kept completion is cut to its last this many characters


def detect(completion: str, item: dict[str, Any], n_tokens: int, max_new_tokens: int) -> dict[str, str]:
    """{detector: reason} of every detector that fires on one completion of ``item``."""
    found: dict[str, str | None] = {
        "at_length_cap": detectors.at_length_cap(n_tokens, max_new_tokens),
    }
    if item.get("domain") in ANSWER_DOMAINS:
        prompt, reference = str(item.get("prompt", "")), item.get("answer")
        reference = reference if isinstance(reference, str) else None
        found["restatement"] = detectors.restatement(completion, prompt, reference)
        found["several_answers"] = detectors.several_answers(completion, reference)
        found["copied_from_prompt"] = detectors.copied_from_prompt(completion, prompt, reference)
        found["empty_reasoning"] = detectors.empty_reasoning(completion)
        found["degenerate_repetition"] = detectors.degenerate_repetition(completion)
    else:  # code repeats short lines legitimately ("return x", "else:")
        found["degenerate_repetition"] = detectors.degenerate_repetition(completion, line_repeats=8)
    return {name: reason for name, reason in found.items() if reason}


class IntegrityMonitor:
    """See the module docstring. ``path``: the run's integrity.jsonl."""

    def __init__(self, path: str | Path, *, max_new_tokens: int, seed: int,
                 settings: MonitorSettings = MonitorSettings(), judge: bool = True) -> None:
        self.path = Path(path)
        self.max_new_tokens = max_new_tokens
        self.seed = seed
        self.settings = settings
        self.judge = judge
        self.rows: list[dict[str, Any]] = []
        self.kept: dict[str, int] = {}
        self._nll = 0.0
        self._tokens = 0.0
        self._spent = 0.0

    # -- resume ------------------------------------------------------------------------------

    def resume(self, step: int) -> None:
        """Keep the rows (and the kept-sample budget they used) of steps up to ``step``."""
        rows = read_jsonl(self.path) if self.path.exists() else []
        self.rows = [r for r in rows if int(r.get("step", 0)) <= step]
        self.kept = {}
        for row in self.rows:
            for sample in row.get("samples", []):
                self.kept[sample["detector"]] = self.kept.get(sample["detector"], 0) + 1

    # -- per step ------------------------------------------------------------------------------

    @torch.no_grad()
    def observe_logprobs(self, logprobs: torch.Tensor, mask: torch.Tensor) -> None:
        """Accumulate -log pi of sampled tokens (``logprobs``, ``mask``: [B, T]) until ``observe``."""
        t0 = time.perf_counter()
        self._nll += float(-(logprobs.detach().float() * mask).sum())
        self._tokens += float(mask.sum())
        self._spent += time.perf_counter() - t0

    def observe(self, step: int, items: Sequence[dict[str, Any]], texts: Sequence[str],
                lengths: torch.Tensor | Sequence[int], rewards: torch.Tensor | Sequence[float]) -> dict[str, float]:
        """Check one step's completions ``texts`` [B] (B = len(items) x G, each item's G
        completions contiguous) with their token ``lengths`` [B] and verifier ``rewards`` [B];
        returns the step's metrics for metrics.jsonl."""
        t0 = time.perf_counter()
        lengths = lengths.tolist() if isinstance(lengths, torch.Tensor) else list(lengths)
        scores = rewards.tolist() if isinstance(rewards, torch.Tensor) else list(rewards)
        if not items or len(texts) % len(items):
            raise ValueError(f"integrity monitor: {len(texts)} completions for {len(items)} prompts")
        group = len(texts) // len(items)
        row_items = [items[i // group] for i in range(len(texts))]
        rewarded = [i for i, score in enumerate(scores) if score > 0]
        unrewarded = [i for i, score in enumerate(scores) if score <= 0]

        counts = dict.fromkeys(DETECTORS, 0)
        flagged = 0
        samples: list[dict[str, Any]] = []
        for i in rewarded:
            hits = detect(texts[i], row_items[i], int(lengths[i]), self.max_new_tokens)
            for name, reason in hits.items():
                counts[name] += 1
                self._keep(samples, name, reason, step, row_items[i], texts[i], scores[i])
            flagged += any(name in SAMPLE_DETECTORS for name in hits)

        second = self._second_opinion(step, row_items, texts, scores, rewarded, unrewarded, samples)
        entropy = self._nll / self._tokens if self._tokens else None
        self._nll = self._tokens = 0.0
        spent = self._spent + time.perf_counter() - t0
        self._spent = 0.0
        self.rows.append({
            "step": step, "version": FORMAT_VERSION, "completions": len(texts), "rewarded": len(rewarded),
            "max_new_tokens": self.max_new_tokens, "counts": counts, "flagged": flagged,
            "second_opinion": second, "token_entropy": entropy, "monitor_s": round(spent, 6),
            "samples": samples,
        })
        metrics: dict[str, float] = {"integrity_flags": flagged}
        metrics.update({f"integrity_{name}": count for name, count in counts.items()})
        if second["judged"]:
            metrics["integrity_second_opinion_n"] = second["judged"]
            metrics["integrity_second_opinion_disagree"] = second["disagree"]
        if entropy is not None:
            metrics["integrity_token_entropy"] = entropy
        return metrics

    def _second_opinion(self, step: int, row_items: list[dict[str, Any]], texts: Sequence[str],
                        scores: list[float], rewarded: list[int], unrewarded: list[int],
                        samples: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {"judged": 0, "disagree": 0, "abstain": 0, "rewarded": 0, "unrewarded": 0,
                               "judge": None}
        if not self.judge:
            return out
        rng = random.Random(self.seed * 1_000_003 + step)  # its own stream: the training's stays untouched
        s = self.settings
        picked = (rng.sample(rewarded, min(s.second_opinion_rewarded, len(rewarded)))
                  + rng.sample(unrewarded, min(s.second_opinion_unrewarded, len(unrewarded))))
        if not picked:
            return out
        from harness.integrity.judge import judge_many

        opinions = judge_many([(texts[i], row_items[i]) for i in picked])
        for i, opinion in zip(picked, opinions):
            out["judge"] = out["judge"] or (opinion.judge if opinion.score is not None else None)
            if opinion.score is None:
                out["abstain"] += 1
                continue
            out["judged"] += 1
            out["rewarded" if scores[i] > 0 else "unrewarded"] += 1
            if (opinion.score > 0) != (scores[i] > 0):
                out["disagree"] += 1
                self._keep(samples, SECOND_OPINION, f"{opinion.judge}: {opinion.detail}", step, row_items[i],
                           texts[i], scores[i], second_opinion=opinion.score)
        return out

    def _keep(self, samples: list[dict[str, Any]], detector: str, reason: str, step: int, item: dict[str, Any],
              completion: str, reward: float, **extra: Any) -> None:
        s = self.settings
        this_step = sum(1 for x in samples if x["detector"] == detector)
        if self.kept.get(detector, 0) >= s.samples_per_detector or this_step >= s.samples_per_step:
            return
        self.kept[detector] = self.kept.get(detector, 0) + 1
        cut = completion if len(completion) <= s.sample_chars else "…" + completion[-s.sample_chars:]
        samples.append({"step": step, "detector": detector, "reason": reason, "item_id": item.get("id"),
                        "prompt": str(item.get("prompt", ""))[: s.sample_chars], "completion": cut,
                        "reference": str(item.get("answer", ""))[:200], "reward": reward, **extra})

    # -- files ---------------------------------------------------------------------------------

    def write(self) -> Path:
        """integrity.jsonl, atomically (a killed run never leaves half a file)."""
        return atomic_write_jsonl(self.path, self.rows)
