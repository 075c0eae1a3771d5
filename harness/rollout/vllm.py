"""vLLM rollouts for GPU runs, with the interface and sampling of ``harness.rollout.hf``.

    backend = VLLMBackend(gpu_memory_utilization=0.35)
    r = backend.generate(model, tokenizer, prompts, num_samples=8, max_new_tokens=1024)   # -> Rollouts

Colocated with training: one vLLM engine in the training process, on the training GPU.
Between generations it sleeps (level 2: KV cache and weights freed), so the optimizer
gets the memory back; before a generation it wakes up and receives the training
model's current weights. Without sleep mode, weights are re-sent only when they changed:
every ``torch.Tensor`` carries a version counter that in-place updates
(``optimizer.step``) bump, so "weights synced after each update" needs no call from the
trainer; with sleep mode (level 2 drops them) they are re-sent before every generation.

Same sampling as the HF backend: temperature as given, top_p 1, top_k disabled (0),
``max_tokens`` = max_new_tokens, n = num_samples per prompt (groups contiguous),
greedy = temperature 0 (one decode per prompt); a per-call seed (``seed`` + call count) makes a run
repeatable on the same GPU and vLLM version. Output layout is ``Rollouts``: prompts
left-padded to P (the tokenizer's own padding), completions right-padded with the pad
id, completion mask 1 up to and including the first EOS, texts decoded without special
tokens.

Supported vLLM: ``VLLM_SPEC`` (the ``gpu`` extra pins it). The weights reach the engine
through vLLM's public API, the first route the installed version has (``weight_sync_route``):

- ``reload_weights``: ``llm.collective_rpc("reload_weights", kwargs={"weights_iterator": ...,
  "is_checkpoint_format": True})``, the worker's in-place reload (vLLM's own
  start/finish-reload around ``model.load_weights``, which also re-runs its post-load
  processing); read from the sources of vLLM 0.34 (vllm/v1/worker/gpu_worker.py) and 0.33
  (whose worker forwards to its model runner's), detected by the method's signature;
- ``apply_model``: ``llm.apply_model(lambda model: model.load_weights(...))``, the public
  way to the same ``load_weights`` TRL 1.16 calls through private attributes;
- ``driver_worker``: TRL 1.16's own path (``llm.llm_engine.model_executor.driver_worker
  .model_runner.model.load_weights``), the fallback for versions without the two above.

``ARENA_VLLM_WEIGHT_SYNC=<route>`` forces one (for a first run on a new version). A version
with none of them, or without the sleep-mode API the backend uses, fails when the engine is
built with ``VLLMVersionError`` naming the installed version and the supported range; a
version outside the range that has a route warns. The engine runs in this process
(``distributed_executor_backend="external_launcher"``, TRL's colocate setting), with TRL's
batching limits (``max_num_seqs``, ``max_num_batched_tokens=4096``: vLLM's memory profiler
misjudges the free memory at its larger default). ``sleep(level=2)`` / ``wake_up(tags=["weights"])``
/ ``wake_up(tags=["kv_cache"])`` as vLLM's sleep-mode docs. vLLM is imported only when a
``VLLMBackend`` first generates; it is the optional extra ``gpu`` and is never installed on
the CPU machines (it pulls CUDA wheels). Tested without a GPU against stand-in ``vllm``
modules of each route (tests/test_gpu_path_vllm.py); ``benchmarks/gpu_check.py`` checks the
weight sync on a GPU (vLLM's log-probs after an update equal HF's of the updated model).
"""
from __future__ import annotations

import importlib.metadata
import inspect
import os
import socket
import warnings
from functools import partial
from typing import Any

import torch

from harness.rollout.hf import Rollouts

__all__ = ["VLLMBackend", "VLLMVersionError", "VLLM_SPEC", "WEIGHT_SYNC_ROUTES", "assemble_rollouts", "weight_sync_route"]

#: the vLLM releases this backend supports (pyproject's `gpu` extra pins the same range)
VLLM_SPEC = ">=0.22,<0.35"
#: ways to send the training weights, in the order tried (module docstring)
WEIGHT_SYNC_ROUTES = ("reload_weights", "apply_model", "driver_worker")
WEIGHT_SYNC_ENV = "ARENA_VLLM_WEIGHT_SYNC"
#: TRL's setting: with vLLM's larger default its memory profiler misjudges the free memory
MAX_NUM_BATCHED_TOKENS = 4096


class VLLMVersionError(RuntimeError):
    """The installed vLLM lacks an API this backend needs."""


def installed_vllm_version() -> str | None:
    try:
        return importlib.metadata.version("vllm")
    except importlib.metadata.PackageNotFoundError:
        return None


def _unsupported(what: str) -> VLLMVersionError:
    version = installed_vllm_version() or "unknown version"
    return VLLMVersionError(
        f"vLLM {version} {what}; harness.rollout.vllm supports vLLM {VLLM_SPEC} "
        f"(pip install 'rl-objective-arena[gpu]' installs one), or set rollout.backend / eval.backend to 'hf'")


def _check_version_range() -> None:
    version = installed_vllm_version()
    if version is None:
        return
    try:
        from packaging.specifiers import SpecifierSet

        inside = SpecifierSet(VLLM_SPEC).contains(version, prereleases=True)
    except Exception:  # noqa: BLE001 - an unparsable version: the route detection decides
        return
    if not inside:
        warnings.warn(f"vLLM {version} is outside the supported range {VLLM_SPEC}: using the weight route "
                      "it offers; run benchmarks/gpu_check.py on it first", stacklevel=3)


def _reload_weights_parameters(worker: Any) -> list[str]:
    """Run inside vLLM's worker (``collective_rpc``): the parameters of its ``reload_weights``.

    A worker whose method only forwards ``*args, **kwargs`` to its model runner (vLLM 0.33)
    answers with the runner's parameters."""
    runner = getattr(worker, "model_runner", None)
    for holder in (worker, runner):
        method = getattr(holder, "reload_weights", None)
        if not callable(method):
            continue
        parameters = inspect.signature(method).parameters
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            return list(parameters)
    return []


def _load_weights(weights: list[tuple[str, torch.Tensor]], model: Any) -> None:
    """Run inside vLLM's worker (``apply_model``): the model's own checkpoint loader."""
    model.load_weights(weights)


def _private_runner_model(llm: Any) -> Any | None:
    """TRL 1.16's way to vLLM's model (private attributes), or None."""
    executor = getattr(getattr(llm, "llm_engine", None), "model_executor", None)
    worker = getattr(executor, "driver_worker", None)
    for holder in (worker, getattr(worker, "worker", None)):
        runner = getattr(holder, "model_runner", None)
        if runner is not None and hasattr(runner, "model"):
            return runner.model
    return None


def weight_sync_route(llm: Any) -> str:
    """How this engine takes new weights: the first of ``WEIGHT_SYNC_ROUTES`` it offers, or the
    one $ARENA_VLLM_WEIGHT_SYNC names; VLLMVersionError when there is none."""
    forced = os.environ.get(WEIGHT_SYNC_ENV)
    if forced:
        if forced not in WEIGHT_SYNC_ROUTES:
            raise ValueError(f"{WEIGHT_SYNC_ENV}={forced!r}: choose one of {list(WEIGHT_SYNC_ROUTES)}")
        return forced
    if callable(getattr(llm, "collective_rpc", None)):
        try:
            parameters = llm.collective_rpc(_reload_weights_parameters)[0]
        except Exception:  # noqa: BLE001 - a version whose workers cannot answer: try the next route
            parameters = []
        if {"weights_iterator", "is_checkpoint_format"} <= set(parameters):
            return "reload_weights"
    if callable(getattr(llm, "apply_model", None)):
        return "apply_model"
    if _private_runner_model(llm) is not None:
        return "driver_worker"
    raise _unsupported("offers no way to update the engine's weights in place (LLM.collective_rpc with "
                       "the worker's reload_weights(weights_iterator=...), LLM.apply_model, or the driver "
                       "worker's model)")


def assemble_rollouts(
    tokenizer: Any, prompts: list[str], completions: list[list[int]], *, num_samples: int, finished: list[bool] | None = None
) -> Rollouts:
    """``Rollouts`` in the HF backend's layout from sampled completion token ids.

    completions: len(prompts) * num_samples token-id lists, the samples of a prompt
    contiguous; finished[i] True when completion i stopped at EOS (an EOS is appended
    if the engine left it out), False when it hit the length cap.
    """
    enc = tokenizer(prompts, return_tensors="pt", padding=True)
    input_ids = enc["input_ids"].repeat_interleave(num_samples, dim=0)
    attn = enc["attention_mask"].repeat_interleave(num_samples, dim=0)
    if len(completions) != input_ids.shape[0]:
        raise ValueError(f"{len(completions)} completions for {len(prompts)} prompts x {num_samples} samples")
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    rows = []
    for i, ids in enumerate(completions):
        ids = list(ids)
        if eos in ids:
            ids = ids[: ids.index(eos) + 1]
        elif finished is not None and finished[i]:
            ids.append(eos)
        rows.append(ids)
    T = max((len(r) for r in rows), default=0)
    completion = torch.full((len(rows), T), pad, dtype=input_ids.dtype)
    completion_mask = torch.zeros(len(rows), T)
    for i, ids in enumerate(rows):
        completion[i, : len(ids)] = torch.tensor(ids, dtype=input_ids.dtype)
        completion_mask[i, : len(ids)] = 1.0
    sequences = torch.cat([input_ids, completion], dim=1)
    attention_mask = torch.cat([attn, completion_mask.long()], dim=1)
    texts = tokenizer.batch_decode(completion, skip_special_tokens=True)
    return Rollouts(sequences, attention_mask, completion_mask, input_ids.shape[1], texts)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _weights_version(model: torch.nn.Module) -> tuple[int, ...]:
    """Changes whenever a parameter is updated in place (optimizer steps, load_state_dict)."""
    return tuple(p._version for p in model.parameters())


class VLLMBackend:
    """A colocated vLLM engine behind ``generate(model, tokenizer, prompts, ...) -> Rollouts``.

    The engine is built on the first call from ``model.config._name_or_path`` (the
    checkpoint the trainer loaded: vLLM reads its architecture and tokenizer there) and
    then always receives the training model's current weights.
    """

    name = "vllm"

    def __init__(
        self,
        *,
        gpu_memory_utilization: float = 0.35,
        enable_sleep_mode: bool = True,
        dtype: str = "bfloat16",
        max_model_len: int | None = None,
        seed: int = 0,
        max_num_seqs: int = 256,
        engine_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.gpu_memory_utilization = gpu_memory_utilization
        self.enable_sleep_mode = enable_sleep_mode
        self.dtype = dtype
        self.max_model_len = max_model_len
        self.seed = seed
        self.max_num_seqs = max_num_seqs
        self.engine_kwargs = dict(engine_kwargs or {})
        self.llm: Any = None
        self.weight_route: str | None = None
        self._synced: tuple[int, ...] | None = None
        self._calls = 0

    # ------------------------------------------------------------ engine

    def _engine(self, model: torch.nn.Module) -> Any:
        if self.llm is not None:
            return self.llm
        _check_version_range()
        from vllm import LLM

        # external_launcher runs the engine inside this process (no worker processes), which is
        # what makes the in-place weight load below possible; it wants torch.distributed's env.
        for key, value in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1"}.items():
            os.environ.setdefault(key, value)
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
        path = getattr(model.config, "_name_or_path", "") or getattr(model, "name_or_path", "")
        if not path:
            raise ValueError("VLLMBackend needs the model's checkpoint path (model.config._name_or_path) to build the engine")
        kwargs = {"max_num_seqs": self.max_num_seqs, "max_num_batched_tokens": MAX_NUM_BATCHED_TOKENS,
                  **self.engine_kwargs}
        llm = LLM(
            model=path,
            dtype=self.dtype,
            gpu_memory_utilization=self.gpu_memory_utilization,
            enable_sleep_mode=self.enable_sleep_mode,
            max_model_len=self.max_model_len,
            seed=self.seed,
            distributed_executor_backend="external_launcher",
            **kwargs,
        )
        needed = ["generate", "reset_prefix_cache"] + (["sleep", "wake_up"] if self.enable_sleep_mode else [])
        missing = [name for name in needed if not callable(getattr(llm, name, None))]
        if missing:
            raise _unsupported(f"has no LLM.{', LLM.'.join(missing)}")
        self.weight_route = weight_sync_route(llm)
        self.llm = llm
        if self.enable_sleep_mode:
            self.llm.sleep(level=2)
        self._synced = None  # level-2 sleep dropped the weights
        return self.llm

    def sync_weights(self, model: torch.nn.Module) -> None:
        """Send the training model's weights to the engine (HF parameter names; vLLM maps them)."""
        llm = self._engine(model)
        if self.enable_sleep_mode:
            llm.wake_up(tags=["weights"])
        with torch.no_grad():
            weights = [(name, param.detach()) for name, param in model.named_parameters()]
            if self.weight_route == "reload_weights":
                llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights, "is_checkpoint_format": True})
            elif self.weight_route == "apply_model":
                llm.apply_model(partial(_load_weights, weights))
            else:
                runner_model = _private_runner_model(llm)
                if runner_model is None:
                    raise _unsupported("has no driver worker model to load weights into (llm.llm_engine.model_executor"
                                       ".driver_worker.model_runner.model)")
                runner_model.load_weights(weights)
        llm.reset_prefix_cache()
        self._synced = _weights_version(model)

    # ------------------------------------------------------------ sampling

    @torch.no_grad()
    def generate(
        self,
        model: torch.nn.Module,
        tokenizer: Any,
        prompts: list[str],
        *,
        num_samples: int = 1,
        max_new_tokens: int,
        temperature: float = 1.0,
        greedy: bool = False,
        top_p: float = 1.0,
    ) -> Rollouts:
        """As ``harness.rollout.hf.generate``; weights are re-sent first if the model changed.
        top_p < 1: nucleus sampling (the papers' benchmark settings, harness/tasks/specs.py)."""
        from vllm import SamplingParams

        llm = self._engine(model)
        if self._synced != _weights_version(model):  # always after a level-2 sleep, which drops the weights
            self.sync_weights(model)
        if self.enable_sleep_mode:
            llm.wake_up(tags=["kv_cache"])
        self._calls += 1
        params = SamplingParams(
            n=1 if greedy else num_samples,
            temperature=0.0 if greedy else temperature,
            top_p=1.0 if greedy else top_p,
            top_k=0,
            max_tokens=max_new_tokens,
            seed=self.seed * 1_000_003 + self._calls,
            skip_special_tokens=True,
        )
        enc = tokenizer(prompts, padding=False)
        outputs = llm.generate([{"prompt_token_ids": ids} for ids in enc["input_ids"]], sampling_params=params, use_tqdm=False)
        if self.enable_sleep_mode:
            llm.sleep(level=2)
            self._synced = None
        # greedy decodes once per prompt; its num_samples copies are identical, as with HF
        copies = num_samples if greedy else 1
        samples = [o for out in outputs for o in out.outputs for _ in range(copies)]
        r = assemble_rollouts(
            tokenizer, prompts, [list(o.token_ids) for o in samples], num_samples=num_samples,
            finished=[o.finish_reason == "stop" for o in samples],
        )
        device = next(model.parameters()).device  # the trainer's log-prob passes run where the model is
        return Rollouts(r.sequences.to(device), r.attention_mask.to(device), r.completion_mask.to(device), r.prompt_len, r.texts)
