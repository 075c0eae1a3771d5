"""The vLLM backend against stand-in ``vllm`` modules shaped like each release family it meets.

vLLM is never installed on the CPU machines, so each stand-in carries exactly the API surface
of one family, read from the releases' sources: 0.34 (``LLM.collective_rpc`` reaching a worker
whose ``reload_weights`` takes ``weights_iterator`` and ``is_checkpoint_format``), 0.33 (whose
worker's ``reload_weights(*args, **kwargs)`` forwards to its model runner's), releases with
``LLM.apply_model`` but an older ``reload_weights``, TRL 1.16's private driver-worker path, and
one with none of them. The backend takes the public route where there is one, keeps the
private one as a fallback, and fails with the version and the supported range otherwise.
"""
from __future__ import annotations

import sys
import tomllib
import types
import warnings
from pathlib import Path

import pytest
import torch

from harness.rollout import vllm as vllm_backend
from harness.rollout.vllm import VLLM_SPEC, VLLMBackend, VLLMVersionError

REPO = Path(__file__).resolve().parent.parent


class RunnerModel:
    def __init__(self, log: list) -> None:
        self.log = log

    def load_weights(self, weights) -> set[str]:
        weights = list(weights)
        self.log.append(("load_weights", [name for name, _ in weights]))
        return {name for name, _ in weights}


class Worker034:
    """vLLM 0.34's GPU worker: in-place reload from an iterator of checkpoint-format weights."""

    def __init__(self, log: list) -> None:
        self.log, self.model = log, RunnerModel(log)

    def reload_weights(self, weights_iterator=None, weights_path=None, is_checkpoint_format=True) -> None:
        self.log.append(("reload_weights", [n for n, _ in weights_iterator], is_checkpoint_format))

    def apply_model(self, fn):
        return fn(self.model)


class Runner033:
    def __init__(self, log: list) -> None:
        self.log = log

    def reload_weights(self, weights_iterator=None, weights_path=None, is_checkpoint_format=True) -> None:
        self.log.append(("reload_weights", [n for n, _ in weights_iterator], is_checkpoint_format))


class Worker033(Worker034):
    """vLLM 0.33's worker: reload_weights forwards everything to its model runner's."""

    def __init__(self, log: list) -> None:
        super().__init__(log)
        self.model_runner = Runner033(log)

    def reload_weights(self, *args, **kwargs) -> None:  # type: ignore[override]
        self.model_runner.reload_weights(*args, **kwargs)


class WorkerOld(Worker034):
    """An older worker: reload_weights only reloads from disk."""

    def reload_weights(self, weights_iterator=None, process_weights_after_loading=True) -> None:  # type: ignore[override]
        raise AssertionError("the old reload_weights must not be used")


class FakeLLM:
    """The public LLM surface of one vLLM family: generate, sleep/wake_up, reset_prefix_cache,
    and (by family) collective_rpc, apply_model, or only the private driver worker."""

    family = "0.34"

    def __init__(self, **kwargs) -> None:
        self.kwargs, self.log = kwargs, []
        self.worker = {"0.34": Worker034, "0.33": Worker033}.get(self.family, WorkerOld)(self.log)
        if self.family == "private":
            runner = types.SimpleNamespace(model=self.worker.model)
            self.llm_engine = types.SimpleNamespace(
                model_executor=types.SimpleNamespace(driver_worker=types.SimpleNamespace(model_runner=runner)))

    def __getattr__(self, name: str):
        public = {"0.34": ("collective_rpc", "apply_model"), "0.33": ("collective_rpc", "apply_model"),
                  "apply_model": ("collective_rpc", "apply_model"),
                  "private": (), "none": ()}[self.family]
        if name in public:
            return getattr(self, f"_{name}")
        raise AttributeError(name)

    def _collective_rpc(self, method, timeout=None, args=(), kwargs=None):
        kwargs = kwargs or {}
        if callable(method):  # vLLM calls it with the worker as its first argument
            return [method(self.worker, *args, **kwargs)]
        return [getattr(self.worker, method)(*args, **kwargs)]

    def _apply_model(self, func):
        return [self.worker.apply_model(func)]

    def sleep(self, level: int = 1) -> None:
        self.log.append(f"sleep{level}")

    def wake_up(self, tags=None) -> bool:
        self.log.append("wake:" + ",".join(tags or []))
        return True

    def reset_prefix_cache(self) -> bool:
        self.log.append("reset_prefix_cache")
        return True

    def generate(self, prompts, sampling_params=None, use_tqdm=True):
        self.log.append("generate")
        out = types.SimpleNamespace(token_ids=[10, 11], finish_reason="length")
        return [types.SimpleNamespace(outputs=[out] * sampling_params.n) for _ in prompts]


def stand_in(monkeypatch: pytest.MonkeyPatch, family: str, version: str | None = None) -> type:
    llm = type(f"LLM_{family.replace('.', '_')}", (FakeLLM,), {"family": family})
    module = types.ModuleType("vllm")
    module.LLM = llm
    module.SamplingParams = lambda **kw: types.SimpleNamespace(**kw)
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setattr(vllm_backend, "installed_vllm_version", lambda: version)
    monkeypatch.delenv(vllm_backend.WEIGHT_SYNC_ENV, raising=False)
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    return llm


def generate_twice(tiny, tmp_path: Path, **options) -> VLLMBackend:
    model, tok = tiny
    model.config._name_or_path = str(tmp_path)
    backend = VLLMBackend(**options)
    backend.generate(model, tok, ["1+2="], num_samples=2, max_new_tokens=4)
    with torch.no_grad():
        next(model.parameters()).add_(0.0)  # an in-place update, as optimizer.step
    backend.generate(model, tok, ["1+2="], num_samples=2, max_new_tokens=4)
    return backend


def test_vllm_034_takes_weights_through_the_workers_public_reload(tiny, tmp_path: Path, monkeypatch) -> None:
    stand_in(monkeypatch, "0.34", "0.34.0")
    backend = generate_twice(tiny, tmp_path, enable_sleep_mode=True)
    names = [n for n, _ in tiny[0].named_parameters()]
    assert backend.weight_route == "reload_weights"
    one = ["wake:weights", ("reload_weights", names, True), "reset_prefix_cache", "wake:kv_cache", "generate", "sleep2"]
    assert backend.llm.log == ["sleep2", *one, *one]


def test_vllm_033s_forwarding_worker_is_seen_through_to_its_runners_reload(tiny, tmp_path: Path, monkeypatch) -> None:
    stand_in(monkeypatch, "0.33", "0.33.0")
    backend = generate_twice(tiny, tmp_path, enable_sleep_mode=False)
    assert backend.weight_route == "reload_weights"
    assert [entry[0] for entry in backend.llm.log if isinstance(entry, tuple)] == ["reload_weights", "reload_weights"]


def test_an_engine_without_the_new_reload_uses_apply_model(tiny, tmp_path: Path, monkeypatch) -> None:
    stand_in(monkeypatch, "apply_model", "0.25.1")
    backend = generate_twice(tiny, tmp_path, enable_sleep_mode=False)
    names = [n for n, _ in tiny[0].named_parameters()]
    assert backend.weight_route == "apply_model"
    assert backend.llm.log == [("load_weights", names), "reset_prefix_cache", "generate",
                               ("load_weights", names), "reset_prefix_cache", "generate"]


def test_the_private_driver_worker_path_is_the_last_fallback(tiny, tmp_path: Path, monkeypatch) -> None:
    stand_in(monkeypatch, "private", "0.22.0")
    backend = generate_twice(tiny, tmp_path, enable_sleep_mode=False)
    assert backend.weight_route == "driver_worker"
    assert [entry[0] for entry in backend.llm.log if isinstance(entry, tuple)] == ["load_weights", "load_weights"]


def test_an_engine_with_no_weight_route_fails_with_the_version_and_the_supported_range(tiny, tmp_path: Path,
                                                                                       monkeypatch) -> None:
    stand_in(monkeypatch, "none", "0.40.0")
    model, tok = tiny
    model.config._name_or_path = str(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(VLLMVersionError) as err:
            VLLMBackend().generate(model, tok, ["1+2="], num_samples=2, max_new_tokens=4)
    message = str(err.value)
    assert message.startswith("vLLM 0.40.0 offers no way to update the engine's weights in place")
    assert VLLM_SPEC in message and "'hf'" in message


def test_an_engine_without_sleep_mode_api_fails_clearly(tiny, tmp_path: Path, monkeypatch) -> None:
    llm = stand_in(monkeypatch, "0.34", "0.21.0")
    llm.sleep = property(lambda self: (_ for _ in ()).throw(AttributeError("sleep")))  # no LLM.sleep
    model, tok = tiny
    model.config._name_or_path = str(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(VLLMVersionError, match=r"vLLM 0\.21\.0 has no LLM\.sleep; .* supports vLLM >=0\.22,<0\.35"):
            VLLMBackend(enable_sleep_mode=True).generate(model, tok, ["1+2="], num_samples=1, max_new_tokens=4)


def test_a_version_outside_the_range_warns_and_uses_the_route_it_has(tiny, tmp_path: Path, monkeypatch) -> None:
    stand_in(monkeypatch, "0.34", "0.36.0")
    with pytest.warns(UserWarning, match=r"vLLM 0\.36\.0 is outside the supported range"):
        backend = generate_twice(tiny, tmp_path, enable_sleep_mode=False)
    assert backend.weight_route == "reload_weights"


def test_the_weight_route_can_be_forced_for_a_first_run(tiny, tmp_path: Path, monkeypatch) -> None:
    stand_in(monkeypatch, "0.34", "0.34.0")
    monkeypatch.setenv(vllm_backend.WEIGHT_SYNC_ENV, "apply_model")
    assert generate_twice(tiny, tmp_path, enable_sleep_mode=False).weight_route == "apply_model"
    monkeypatch.setenv(vllm_backend.WEIGHT_SYNC_ENV, "magic")
    with pytest.raises(ValueError, match="reload_weights"):
        generate_twice(tiny, tmp_path)


def test_the_engine_gets_trls_batching_limits_and_runs_in_process(tiny, tmp_path: Path, monkeypatch) -> None:
    stand_in(monkeypatch, "0.34", "0.34.0")
    backend = generate_twice(tiny, tmp_path, enable_sleep_mode=False)
    kw = backend.llm.kwargs
    assert kw["max_num_batched_tokens"] == 4096 and kw["max_num_seqs"] == 256
    assert kw["distributed_executor_backend"] == "external_launcher"
    backend = generate_twice(tiny, tmp_path, enable_sleep_mode=False, max_num_seqs=64,
                             engine_kwargs={"max_num_batched_tokens": 8192})
    assert (backend.llm.kwargs["max_num_seqs"], backend.llm.kwargs["max_num_batched_tokens"]) == (64, 8192)


def test_the_gpu_extra_pins_the_supported_vllm_range() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert f"vllm{VLLM_SPEC}" in extras["gpu"]
