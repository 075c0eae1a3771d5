"""Evaluate a checkpoint on a benchmark split: verifier scores, one JSON.

Decoding is greedy, or avg@k: ``samples`` = k completions per item drawn at
``temperature`` (the training distribution), each item scored by the mean of its k
verdicts and its length by the mean of their lengths (the k draws are kept per item).
The eval JSON (results/eval/{objective}/seed{seed}/{benchmark}.json) keeps every item's
score and length, in the benchmark's fixed item order, so comparisons pair by item.

Why avg@k for the default comparison: greedy decoding of a small policy flips between
a verbose and a terse path on small weight changes, so one checkpoint's greedy length
and accuracy carry much seed-to-seed noise that says nothing about the policy. On the
same 5 GRPO and 5 length-penalty checkpoints (README, "The default comparison") avg@4
at temperature 1 cut the seed-to-seed SD of the length log-ratio from 0.28 to 0.033 and
of the paired accuracy difference from 4.8 to 2.6 points.

The papers' benchmarks (harness/tasks/specs.py: MATH-500, AIME, GPQA-Diamond, LiveCodeBench,
...) go through `run_spec_evaluation`, which `run_evaluation` calls when ``benchmark`` names a
spec: items come from the local copy at ``data`` (a file or a ``datasets``-layout folder;
None: $HARNESS_BENCHMARK_DIR/<name>, else the hub), each sampling config (k, temperature,
top_p) is scored as avg@k, unbiased pass@k and maj@k, and the eval JSON records the sha256
of the loaded items (``dataset.checksum``): two evaluations are comparable only when it
matches. Its top-level ``accuracy`` and per-item ``score`` are the first config's metric
(by default the paper's, from the spec), so the leaderboard and the audit read them as
they read any benchmark.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from harness.io import atomic_write_json, read_json, read_jsonl
from harness.metrics.definitions import accuracy, mean_length, mean_length_correct
from harness.model import count_parameters, describe_model, load_checkpoint
from harness.prompts import format_prompts
from harness.rollout.hf import generate, sample
from harness.seeding import seed_everything, set_threads
from harness.tasks.registry import verify_items


def evaluate_checkpoint(
    checkpoint: str | Path,
    items: list[dict[str, Any]],
    *,
    max_new_tokens: int,
    batch_size: int,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Greedy-decode every item and verify it. Returns per-item records and the responses."""
    model, tok = load_checkpoint(checkpoint)
    return evaluate_model(model, tok, items, max_new_tokens=max_new_tokens, batch_size=batch_size,
                          label=Path(checkpoint).parent.name)


def evaluate_model(
    model: torch.nn.Module,
    tok: Any,
    items: list[dict[str, Any]],
    *,
    max_new_tokens: int,
    batch_size: int,
    label: str = "",
    prompt_format: dict[str, Any] | None = None,
    backend: Any = None,
    samples: int = 0,
    temperature: float = 1.0,
    top_p: float = 1.0,
    verify: Callable[[list[str], list[dict[str, Any]]], list[Any]] = verify_items,
) -> tuple[list[dict[str, Any]], list[str]]:
    """``evaluate_checkpoint`` on a model already in memory (prompts as ``harness.prompts`` formats them).

    samples 0: greedy, one record per item {id, score, status, length}. samples k >= 1:
    k draws per item at ``temperature`` and nucleus ``top_p`` (1.0: the full distribution;
    torch's global generator: seed it first); the record's score and length are the means
    over the draws, ``draws`` keeps each [score, length], and status is the first draw's.
    Texts: one per item (greedy) or k per item, items in order, draws contiguous.
    verify(texts [N], items [N]) -> verdicts [N]: the registry's judge by default; spec
    benchmarks pass ``harness.tasks.specs.verify_spec_items``.
    """
    if samples < 0:
        raise ValueError(f"eval samples must be >= 0 (0 = greedy), got {samples}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"eval top_p must be in (0, 1], got {top_p}")
    if top_p < 1.0 and backend is not None and "top_p" not in inspect.signature(backend.generate).parameters:
        raise ValueError(f"eval top_p={top_p}: the {type(backend).__name__} backend samples the full distribution "
                         "only (no top_p argument); use backend hf, or top_p 1.0")
    k = max(samples, 1)
    records: list[dict[str, Any]] = []
    texts: list[str] = []
    step = max(1, batch_size // k)
    for start in tqdm(range(0, len(items), step), desc=f"eval {label}", unit="batch", mininterval=2.0):
        chunk = items[start : start + step]
        prompts = format_prompts(tok, chunk, prompt_format)
        with torch.no_grad():
            if samples == 0:
                r = (backend.generate if backend is not None else generate)(
                    model, tok, prompts, max_new_tokens=max_new_tokens, greedy=True)
            elif backend is not None:
                r = backend.generate(model, tok, prompts, num_samples=k, max_new_tokens=max_new_tokens,
                                     temperature=temperature, **({"top_p": top_p} if top_p < 1.0 else {}))
            else:
                r = sample(model, tok, prompts, num_samples=k, max_new_tokens=max_new_tokens, temperature=temperature,
                           **({"top_p": top_p} if top_p < 1.0 else {}))
        verdicts = verify(r.texts, [it for it in chunk for _ in range(k)])
        lengths = r.lengths.tolist()
        for i, it in enumerate(chunk):
            vs, ns = verdicts[i * k : (i + 1) * k], lengths[i * k : (i + 1) * k]
            rec: dict[str, Any] = {"id": it["id"], "score": sum(v.score for v in vs) / k, "status": vs[0].status,
                                   "length": sum(ns) / k if samples else int(ns[0])}
            if samples:
                rec["draws"] = [[v.score, int(n)] for v, n in zip(vs, ns)]
            records.append(rec)
        texts += r.texts
    return records, texts


def run_evaluation(
    *, checkpoint: str, data: str | None, out: str, objective: str, seed: int, benchmark: str,
    max_new_tokens: int, batch_size: int, threads: int = 1, run_json: str | None = None,
    prompt_format: dict[str, Any] | None = None, device: str = "cpu", dtype: str = "float32", backend: str = "hf",
    samples: int = 0, temperature: float = 1.0, sampling: list[dict[str, Any]] | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """Evaluate and write the eval JSON atomically; returns it.

    A ``benchmark`` that names a spec (harness/tasks/specs.py) goes to `run_spec_evaluation`
    with ``data`` as its local copy, ``sampling`` its configs and ``limit`` its first items;
    ``samples``/``temperature`` then must be left at their defaults (the configs say it).
    """
    from harness.tasks.specs import SPECS

    if benchmark in SPECS:
        if samples or temperature != 1.0:
            raise ValueError(f"benchmark {benchmark}: a spec benchmark takes its k and temperature from "
                             f"'sampling' (a list of {{k, temperature, top_p}}), not samples={samples}/"
                             f"temperature={temperature}")
        return run_spec_evaluation(
            checkpoint=checkpoint, benchmark=benchmark, path=data, out=out, objective=objective, seed=seed,
            sampling=sampling, max_new_tokens=max_new_tokens, batch_size=batch_size, threads=threads,
            run_json=run_json, prompt_format=prompt_format, device=device, dtype=dtype, backend=backend, limit=limit)
    if sampling is not None or limit is not None or data is None:
        raise ValueError(f"benchmark {benchmark}: 'sampling' and 'limit' are for the papers' benchmarks "
                         f"({sorted(SPECS)}); an arena benchmark needs 'data' (its JSONL split) and takes "
                         "samples/temperature")
    set_threads(threads)
    seed_everything(seed)
    items = read_jsonl(data)
    model, tok = load_checkpoint(checkpoint, dtype=dtype)
    model.to(device)
    from harness.rollout.backends import engine_or_none

    engine = engine_or_none(backend)
    records, _ = evaluate_model(model, tok, items, max_new_tokens=max_new_tokens, batch_size=batch_size,
                                label=Path(checkpoint).parent.name, prompt_format=prompt_format, backend=engine,
                                samples=samples, temperature=temperature)
    scores = [r["score"] for r in records]
    lengths = [r["length"] for r in records]
    steps = int(read_json(run_json)["steps"]) if run_json else 0
    result = {
        "objective": objective,
        "seed": seed,
        "benchmark": benchmark,
        "domain": items[0]["domain"] if items else "",
        "checkpoint": str(checkpoint),
        "n": len(records),
        "accuracy": accuracy(scores),
        "mean_length": mean_length(lengths),
        "mean_length_correct": mean_length_correct(lengths, scores),
        "items": records,
        "decoding": {"greedy": samples == 0, "max_new_tokens": max_new_tokens,
                     **({"samples": samples, "temperature": temperature, "metric": f"avg@{samples}"} if samples else {}),
                     **({"prompt_format": prompt_format} if prompt_format else {})},
        "model": {"name": describe_model(model), "params": count_parameters(model)},
        "steps": steps,
    }
    atomic_write_json(out, result)
    return result


# --- the papers' benchmarks: sampled metrics per config -------------------------------------

def answer_key(domain: str, response: str) -> Hashable | None:
    """The key a response votes with in maj@k: its extracted final answer (the verifiers'
    extraction: last \\boxed{}, "Answer: ...", last number), a number by its exact value
    ("0.50" and "1/2" vote together), other text without spaces; None when there is no
    answer (it never wins) and for code (maj@k is not defined for programs)."""
    if domain == "code":
        return None
    from verifiers.answer_extraction import AnswerTooLarge, MalformedBox, extract_answer, parse_number_literal

    try:
        found = extract_answer(response)
    except (AnswerTooLarge, MalformedBox):
        return None
    if found is None:
        return None
    number = parse_number_literal(found.text)
    if number is not None:
        return f"={number.value}"
    return "".join(found.text.split()).upper() if domain == "science" else "".join(found.text.split())


def sampling_configs(spec: Any, sampling: list[dict[str, Any]] | None, max_new_tokens: int) -> list[Any]:
    """The configs to score, as ``specs.Sampling``: ``sampling`` entries {k, temperature, top_p,
    metric?, max_new_tokens?} (a clear error naming the entry and key otherwise), or the spec's
    own paper setting when None. max_new_tokens defaults to the run's (eval.max_new_tokens),
    not the paper's 32k: the model's context decides. temperature 0 is greedy, with k = 1."""
    from harness.metrics.sampling import SAMPLED_METRICS
    from harness.tasks.specs import Sampling

    if sampling is None:
        return [Sampling(spec.sampling.metric, spec.sampling.k, spec.sampling.temperature, spec.sampling.top_p,
                         max_new_tokens, spec.sampling.source)]
    if not isinstance(sampling, list) or not sampling:
        raise ValueError(f"{spec.name}: 'sampling' must be a non-empty list of {{k, temperature, top_p}}; got {sampling!r}")
    configs = []
    for i, entry in enumerate(sampling):
        where = f"{spec.name}: sampling[{i}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: must be a mapping {{k, temperature, top_p}}; got {entry!r}")
        unknown = set(entry) - {"k", "temperature", "top_p", "metric", "max_new_tokens"}
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: k, temperature, top_p, metric, "
                             "max_new_tokens")
        for key in ("k", "temperature"):
            if key not in entry:
                raise ValueError(f"{where}: key '{key}' is missing")
        k, temperature, top_p = entry["k"], float(entry["temperature"]), float(entry.get("top_p", 1.0))
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"{where}: key 'k' must be an integer >= 1; got {k!r}")
        if temperature < 0 or (temperature == 0 and k != 1):
            raise ValueError(f"{where}: key 'temperature' must be > 0, or 0 (greedy) with k = 1; got "
                             f"temperature={temperature}, k={k}")
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"{where}: key 'top_p' must be in (0, 1]; got {top_p}")
        metric = entry.get("metric", "greedy" if temperature == 0 else "avg@k")
        if metric not in SAMPLED_METRICS or (metric == "greedy") != (temperature == 0):
            raise ValueError(f"{where}: key 'metric' must be one of {SAMPLED_METRICS} (greedy exactly when "
                             f"temperature is 0); got {metric!r}")
        configs.append(Sampling(metric, k, temperature, top_p, int(entry.get("max_new_tokens", max_new_tokens)),
                                "config"))
    return configs


def score_sampled(domain: str, ids: Sequence[str], draws: Sequence[Sequence[Sequence[float]]],
                  texts: Sequence[Sequence[str]], k: int, metric: str) -> dict[str, Any]:
    """avg@k, unbiased pass@k and maj@k of one config, and each item's value of ``metric``.

    ids: [P]; draws: [P, k] of [score, length]; texts: [P, k] the verifier's responses (for
    the maj@k vote). Returns {"metrics": {"avg@k", "pass@k", "maj@k" (None for code)} with k
    written out, "items": [{id, score (the item's ``metric``), length (mean over draws),
    draws, answers}]}.
    """
    from harness.metrics.sampling import avg_at_k, maj_at_k, pass_at_k_of_scores, per_problem_scores

    scores = [[float(d[0]) for d in row] for row in draws]
    answers = [[answer_key(domain, t) for t in row] for row in texts]
    metrics: dict[str, float | None] = {
        f"avg@{k}": avg_at_k(scores, k),
        f"pass@{k}": pass_at_k_of_scores(scores, k),
        f"maj@{k}": None if domain == "code" else maj_at_k(answers, scores, k),
    }
    per_item = per_problem_scores(metric, scores, k, answers)
    items = [{"id": item_id, "score": value, "length": sum(float(d[1]) for d in row) / len(row),
              "draws": [[float(d[0]), int(d[1])] for d in row], "answers": list(answer_row)}
             for item_id, value, row, answer_row in zip(ids, per_item, draws, answers)]
    return {"metrics": metrics, "items": items}


def run_spec_evaluation(
    *, checkpoint: str, benchmark: str, path: str | None, out: str, objective: str, seed: int,
    sampling: list[dict[str, Any]] | None, max_new_tokens: int, batch_size: int, threads: int = 1,
    run_json: str | None = None, prompt_format: dict[str, Any] | None = None, device: str = "cpu",
    dtype: str = "float32", backend: str = "hf", limit: int | None = None,
) -> dict[str, Any]:
    """Evaluate a checkpoint on a paper benchmark and write the eval JSON atomically; returns it.

    Items: ``specs.load_benchmark(benchmark, path)`` (path None: $HARNESS_BENCHMARK_DIR/<name>,
    else the hub), first ``limit`` only when given. Each config of `sampling_configs` draws k
    responses per item (seeded by ``seed``) and is scored by `score_sampled`. The JSON:
    the usual keys (accuracy, n, items, mean_length, decoding, model, steps) for the FIRST
    config's metric, "metric" naming it (e.g. "avg@32"), "dataset" {name, source, revision,
    checksum, n_items} and "sampling" [{k, temperature, top_p, max_new_tokens, metric,
    metrics, items}] for every config.
    """
    from harness.rollout.backends import engine_or_none
    from harness.tasks.registry import verifier_response
    from harness.tasks.specs import DATA_DIR_ENV, load_benchmark, local_path, verify_spec_items

    set_threads(threads)
    seed_everything(seed)
    source = path if path is not None else local_path(benchmark)
    loaded = load_benchmark(benchmark, source, limit=limit)
    if not loaded.items:
        raise ValueError(f"{benchmark}: no items loaded from {loaded.source} (limit={limit}); check the copy "
                         f"(or ${DATA_DIR_ENV})")
    configs = sampling_configs(loaded.spec, sampling, max_new_tokens)
    model, tok = load_checkpoint(checkpoint, dtype=dtype)
    model.to(device)
    engine = engine_or_none(backend)
    ids = [it["id"] for it in loaded.items]
    scored = []
    for c in configs:
        greedy = c.temperature == 0
        records, texts = evaluate_model(
            model, tok, loaded.items, max_new_tokens=c.max_new_tokens, batch_size=batch_size,
            label=f"{Path(checkpoint).parent.name} {benchmark} k={c.k}", prompt_format=prompt_format, backend=engine,
            samples=0 if greedy else c.k, temperature=1.0 if greedy else c.temperature, top_p=c.top_p,
            verify=verify_spec_items)
        draws = [[[r["score"], r["length"]]] if greedy else r["draws"] for r in records]
        per_item = [texts[i * c.k:(i + 1) * c.k] for i in range(len(loaded.items))]
        responses = [[verifier_response(it, t) for t in row] for it, row in zip(loaded.items, per_item)]
        result = score_sampled(loaded.spec.domain, ids, draws, responses, c.k, c.metric)
        for item, record in zip(result["items"], records):
            item["status"] = record["status"]
        scored.append({"k": c.k, "temperature": c.temperature, "top_p": c.top_p, "max_new_tokens": c.max_new_tokens,
                       "metric": c.metric.replace("@k", f"@{c.k}"), **result})
    primary = scored[0]
    scores = [it["score"] for it in primary["items"]]
    lengths = [it["length"] for it in primary["items"]]
    result_json = {
        "objective": objective,
        "seed": seed,
        "benchmark": benchmark,
        "domain": loaded.spec.domain,
        "checkpoint": str(checkpoint),
        "n": len(scores),
        "metric": primary["metric"],
        "accuracy": accuracy(scores),
        "mean_length": mean_length(lengths),
        "mean_length_correct": mean_length_correct(lengths, scores),
        "items": [{k: v for k, v in it.items() if k != "answers"} for it in primary["items"]],
        "dataset": {"name": benchmark, "title": loaded.spec.title, "source": loaded.source,
                    "dataset": loaded.spec.dataset, "revision": loaded.spec.revision, "config": loaded.spec.config,
                    "split": loaded.spec.split, "checksum": loaded.checksum, "n_items": len(loaded.items),
                    "limit": limit},
        "sampling": scored,
        "decoding": {"greedy": primary["temperature"] == 0, "max_new_tokens": primary["max_new_tokens"],
                     "samples": primary["k"], "temperature": primary["temperature"], "top_p": primary["top_p"],
                     "metric": primary["metric"], **({"prompt_format": prompt_format} if prompt_format else {})},
        "model": {"name": describe_model(model), "params": count_parameters(model)},
        "steps": int(read_json(run_json)["steps"]) if run_json else 0,
    }
    atomic_write_json(out, result_json)
    return result_json
