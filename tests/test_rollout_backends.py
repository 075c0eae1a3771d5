"""Rollout backends: "hf" by default, "vllm" falling back to "hf" with a warning, the vLLM
backend's layout and control flow (with a stand-in ``vllm`` module: the real one is never
installed on CPU machines), and one GPU per training job."""
from __future__ import annotations

import importlib.machinery
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest
import torch

from harness.rollout import backends, hf
from harness.rollout.vllm import VLLMBackend, assemble_rollouts

REPO = Path(__file__).resolve().parent.parent


def test_hf_is_the_default_backend() -> None:
    assert backends.get_backend() is hf
    assert backends.backend_name(backends.get_backend("hf")) == "hf"


def test_unknown_backend_lists_the_available_ones() -> None:
    with pytest.raises(ValueError, match=r"available: \['hf', 'vllm'\]"):
        backends.get_backend("sglang")


def test_vllm_falls_back_to_hf_with_a_warning_when_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = backends.importlib.util.find_spec
    monkeypatch.setattr(backends.importlib.util, "find_spec", lambda n, *a: None if n == "vllm" else real_find_spec(n, *a))
    with pytest.warns(UserWarning, match="vLLM is not installed.*falling back to 'hf'"):
        assert backends.get_backend("vllm", gpu_memory_utilization=0.3) is hf


def test_vllm_falls_back_to_hf_with_a_warning_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = backends.importlib.util.find_spec
    spec = importlib.machinery.ModuleSpec("vllm", None)
    monkeypatch.setattr(backends.importlib.util, "find_spec", lambda n, *a: spec if n == "vllm" else real_find_spec(n, *a))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="no CUDA device"):
        assert backends.get_backend("vllm") is hf


def test_hf_backend_samples_groups_contiguously(tiny) -> None:
    model, tok = tiny
    backend = backends.get_backend("hf")
    torch.manual_seed(1)
    r = backend.generate(model, tok, ["1+2=", "13+4="], num_samples=3, max_new_tokens=6)
    assert r.sequences.shape[0] == 6 and len(r.texts) == 6 and r.completion_mask.shape[1] <= 6
    assert torch.equal(r.sequences[:3, : r.prompt_len], r.sequences[:1, : r.prompt_len].expand(3, -1))
    g1 = backend.generate(model, tok, ["1+2="], max_new_tokens=6, greedy=True)
    g2 = backend.generate(model, tok, ["1+2="], max_new_tokens=6, greedy=True)
    assert g1.texts == g2.texts


def test_vllm_layout_equals_the_hf_layout(tiny) -> None:
    model, tok = tiny
    torch.manual_seed(2)
    prompts = ["1+2=", "13+4="]
    r = hf.generate(model, tok, prompts, num_samples=3, max_new_tokens=8)
    ids = [row[: int(n)].tolist() for row, n in zip(r.completion_ids, r.lengths)]
    finished = [tok.eos_token_id in c for c in ids]
    # vLLM may leave the EOS out of token_ids: assemble_rollouts puts it back for finished samples
    engine_ids = [c[:-1] if f else c for c, f in zip(ids, finished)]
    v = assemble_rollouts(tok, prompts, engine_ids, num_samples=3, finished=finished)
    T = v.completion_mask.shape[1]
    assert v.prompt_len == r.prompt_len and v.texts == r.texts
    torch.testing.assert_close(v.completion_mask, r.completion_mask[:, :T])
    assert torch.equal(v.sequences, r.sequences[:, : r.prompt_len + T])
    assert torch.equal(v.attention_mask, r.attention_mask[:, : r.prompt_len + T])


def test_vllm_layout_keeps_tokens_up_to_and_including_the_first_eos(tiny) -> None:
    _, tok = tiny
    eos, pad = tok.eos_token_id, tok.pad_token_id
    v = assemble_rollouts(tok, ["1+2="], [[10, 11], [12, eos, 13], [14]], num_samples=3, finished=[True, True, False])
    assert v.lengths.tolist() == [3.0, 2.0, 1.0]
    assert v.completion_ids.tolist() == [[10, 11, eos], [12, eos, pad], [14, pad, pad]]
    assert v.texts == tok.batch_decode([[10, 11], [12], [14]])


class _FakeLLM:
    """Records what VLLMBackend asks of vLLM's LLM (vLLM 0.22-0.32 API surface it uses)."""

    def __init__(self, **kwargs: object) -> None:
        self.kwargs, self.calls, self.loaded = kwargs, [], []
        runner_model = types.SimpleNamespace(load_weights=lambda weights: self.loaded.extend(n for n, _ in weights))
        worker = types.SimpleNamespace(model_runner=types.SimpleNamespace(model=runner_model))
        self.llm_engine = types.SimpleNamespace(model_executor=types.SimpleNamespace(driver_worker=worker))

    def sleep(self, level: int) -> None:
        self.calls.append(f"sleep{level}")

    def wake_up(self, tags: list[str]) -> None:
        self.calls.append("wake:" + ",".join(tags))

    def reset_prefix_cache(self) -> None:
        self.calls.append("reset_prefix_cache")

    def generate(self, prompts: list[dict], sampling_params: object, use_tqdm: bool) -> list:
        self.calls.append("generate")
        self.params = sampling_params
        out = types.SimpleNamespace(token_ids=[10, 11], finish_reason="length")
        return [types.SimpleNamespace(outputs=[out] * sampling_params.n) for _ in prompts]


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    m = types.ModuleType("vllm")
    m.LLM = _FakeLLM
    m.SamplingParams = lambda **kw: types.SimpleNamespace(**kw)
    monkeypatch.setitem(sys.modules, "vllm", m)
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    return m


def test_vllm_backend_samples_like_hf_and_syncs_weights_after_each_update(tiny, fake_vllm, tmp_path: Path) -> None:
    model, tok = tiny
    model.config._name_or_path = str(tmp_path)
    backend = VLLMBackend(enable_sleep_mode=False, seed=7)
    r = backend.generate(model, tok, ["1+2=", "3="], num_samples=4, max_new_tokens=16, temperature=0.7)
    llm = backend.llm
    assert llm.kwargs["model"] == str(tmp_path) and llm.kwargs["distributed_executor_backend"] == "external_launcher"
    p = llm.params
    assert (p.n, p.temperature, p.top_p, p.top_k, p.max_tokens) == (4, 0.7, 1.0, 0, 16)
    assert r.sequences.shape[0] == 8 and r.completion_mask.sum() == 16
    names = {n for n, _ in model.named_parameters()}
    assert set(llm.loaded) == names
    llm.loaded.clear()
    backend.generate(model, tok, ["1+2="], num_samples=2, max_new_tokens=4)
    assert llm.loaded == [], "weights re-sent although the model did not change"
    with torch.no_grad():
        next(model.parameters()).add_(0.0)  # an in-place update, as optimizer.step
    backend.generate(model, tok, ["1+2="], num_samples=2, max_new_tokens=4)
    assert set(llm.loaded) == names, "weights not re-sent after an update"
    g = backend.generate(model, tok, ["1+2="], num_samples=3, max_new_tokens=4, greedy=True)
    assert (llm.params.n, llm.params.temperature) == (1, 0.0) and len(g.texts) == 3


def test_vllm_backend_sleeps_between_generations(tiny, fake_vllm, tmp_path: Path) -> None:
    model, tok = tiny
    model.config._name_or_path = str(tmp_path)
    backend = VLLMBackend(enable_sleep_mode=True)
    backend.generate(model, tok, ["1+2="], num_samples=2, max_new_tokens=4)
    backend.generate(model, tok, ["1+2="], num_samples=2, max_new_tokens=4)
    one = ["wake:weights", "reset_prefix_cache", "wake:kv_cache", "generate", "sleep2"]
    assert backend.llm.calls == ["sleep2", *one, *one]


def _claim_script(lock_dir: Path, devices: int, wait_s: float) -> str:
    return textwrap.dedent(f"""
        import os, sys, time
        from harness.rollout.backends import claim_device
        try:
            d = claim_device({devices}, {str(lock_dir)!r}, wait_s={wait_s}, poll_s=0.05)
        except TimeoutError:
            d = "timeout"
        print(d, os.environ.get("CUDA_VISIBLE_DEVICES"), flush=True)
        sys.stdin.read()  # hold the lock until the test closes stdin
    """)


# run by the exec'd command: is the device lock still held (through the inherited descriptor)?
HOLDS_LOCK = (
    "import fcntl, os; print(os.environ['CUDA_VISIBLE_DEVICES']); fd = os.open({lock!r}, os.O_RDWR)\n"
    "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); print('free')\n"
    "except BlockingIOError:\n    print('held')"
)


def test_claim_device_gives_each_job_its_own_gpu(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"} | {"PYTHONPATH": str(REPO)}
    procs = []
    try:
        seen = []
        for _ in range(3):
            p = subprocess.Popen([sys.executable, "-c", _claim_script(tmp_path, 2, 0.2)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True, env=env)
            procs.append(p)
            seen.append(p.stdout.readline().split())
        assert seen[0] == ["0", "0"] and seen[1] == ["1", "1"] and seen[2][0] == "timeout"
        procs[0].stdin.close()  # job 0 ends: its device frees up
        procs[0].wait(timeout=10)
        cmd = [sys.executable, "-m", "harness.rollout.backends", "with-free-gpu", "--devices", "2", "--lock-dir", str(tmp_path),
               "--", sys.executable, "-c", HOLDS_LOCK.format(lock=str(tmp_path / "gpu0.lock"))]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=30)
        assert out.returncode == 0 and out.stdout.split() == ["0", "held"], out.stderr
    finally:
        for p in procs:
            if p.poll() is None:
                p.stdin.close()
                p.wait(timeout=10)


def test_claim_device_leaves_a_scheduler_assignment_alone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert backends.claim_device(4, tmp_path) is None
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3" and not list(tmp_path.iterdir())
