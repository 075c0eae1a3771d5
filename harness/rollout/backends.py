"""Pick a generation backend by name, and a GPU for a training job.

    backend = get_backend(config["rollout"]["backend"])       # "hf" (default) or "vllm"
    r = backend.generate(model, tokenizer, prompts, num_samples=G, max_new_tokens=L)

Every backend has ``generate(model, tokenizer, prompts, *, num_samples, max_new_tokens,
temperature, greedy) -> Rollouts`` (``harness.rollout.hf``). "vllm" falls back to "hf"
with a warning when vLLM is not installed or no CUDA device is visible, so a GPU config
still runs (slowly) anywhere.

Local multi-GPU runs: Snakemake's ``resources: gpu=1`` with ``--resources gpu=N`` keeps at
most N training jobs running but does not say which device a job should use, and does
not set CUDA_VISIBLE_DEVICES. ``claim_device`` does: it takes an exclusive ``flock`` on
``<lock_dir>/gpu<i>.lock`` for the first free device and sets CUDA_VISIBLE_DEVICES to it;
the lock lives as long as the process (the kernel releases it on exit, even on kill -9).
With ``device: cuda`` every GPU rule's shell starts with it (workflow/rules/common.smk):

    <python> -m harness.rollout.backends with-free-gpu --lock-dir results/.gpu_locks -- <python> -m harness train --settings ...

claims a device, then execs the command with the lock kept open. Under Slurm
(CUDA_VISIBLE_DEVICES already set by the scheduler) it claims nothing.
"""
from __future__ import annotations

import argparse
import fcntl
import importlib.util
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["BACKENDS", "get_backend", "claim_device", "visible_gpu_count"]

BACKENDS = ("hf", "vllm")


def _vllm_unavailable() -> str | None:
    """Why vLLM cannot run here, or None when it can."""
    if importlib.util.find_spec("vllm") is None:
        return "vLLM is not installed (pip install 'rl-objective-arena[gpu]' on a CUDA machine)"
    import torch

    if not torch.cuda.is_available():
        return "no CUDA device is visible"
    return None


def get_backend(name: str = "hf", **options: Any) -> Any:
    """The backend called ``name``: the ``harness.rollout.hf`` module, or a ``VLLMBackend(**options)``.

    options: the vLLM engine settings (gpu_memory_utilization, enable_sleep_mode, dtype,
    max_model_len, seed, engine_kwargs); ignored by "hf".
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown rollout backend {name!r}; available: {list(BACKENDS)}")
    if name == "vllm":
        why = _vllm_unavailable()
        if why is None:
            from harness.rollout.vllm import VLLMBackend

            return VLLMBackend(**options)
        warnings.warn(f"rollout backend 'vllm' requested but {why}: falling back to 'hf' (same sampling, slower)", stacklevel=2)
    from harness.rollout import hf

    return hf


def engine_or_none(name: str = "hf", **options: Any) -> Any | None:
    """The backend ``name`` for a caller that has its own HF path: None for "hf", and None when
    "vllm" fell back to HF (after ``get_backend``'s warning); else the engine."""
    if name == "hf":
        return None
    backend = get_backend(name, **options)
    return None if backend_name(backend) == "hf" else backend


def backend_name(backend: Any) -> str:
    """'hf' or 'vllm': what ``get_backend`` actually returned (for run.json)."""
    return "hf" if isinstance(backend, ModuleType) else str(getattr(backend, "name", type(backend).__name__))


# ---------------------------------------------------------------- one GPU per job

_HELD: dict[int, int] = {}  # device -> lock fd, kept open for the life of the process


def visible_gpu_count() -> int:
    """NVIDIA GPUs on this machine, counted without initialising CUDA (ARENA_NUM_GPUS overrides)."""
    if os.environ.get("ARENA_NUM_GPUS"):
        return int(os.environ["ARENA_NUM_GPUS"])
    gpus = Path("/proc/driver/nvidia/gpus")
    return len(list(gpus.iterdir())) if gpus.is_dir() else 0


def claim_device(
    n_devices: int | None = None,
    lock_dir: str | os.PathLike[str] = "results/.gpu_locks",
    *,
    wait_s: float = 3600.0,
    poll_s: float = 1.0,
    set_env: bool = True,
) -> int | None:
    """Lock the first free GPU for this process and point CUDA_VISIBLE_DEVICES at it.

    Call before anything initialises CUDA. Returns the device index, or None when
    CUDA_VISIBLE_DEVICES is already set (Slurm, or the user chose) or there is no GPU.
    Waits up to ``wait_s`` for a device to free up, then raises TimeoutError.
    """
    if set_env and os.environ.get("CUDA_VISIBLE_DEVICES"):
        return None
    n = visible_gpu_count() if n_devices is None else n_devices
    if n <= 0:
        return None
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    while True:
        for device in range(n):
            if device in _HELD:
                continue
            fd = os.open(lock_dir / f"gpu{device}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            _HELD[device] = fd
            if set_env:
                os.environ["CUDA_VISIBLE_DEVICES"] = str(device)
            return device
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"no free GPU among {n} after {wait_s:.0f} s (locks in {lock_dir}); run at most {n} GPU jobs at once "
                f"(snakemake --resources gpu={n})"
            )
        time.sleep(poll_s)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m harness.rollout.backends with-free-gpu [--lock-dir D] -- CMD ...``: run CMD on a free GPU."""
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd = argv[argv.index("--") + 1 :] if "--" in argv else []
    ap = argparse.ArgumentParser(prog="python -m harness.rollout.backends", description=main.__doc__)
    ap.add_argument("action", choices=["with-free-gpu"])
    ap.add_argument("--lock-dir", default="results/.gpu_locks")
    ap.add_argument("--devices", type=int, default=None, help="number of GPUs (default: counted)")
    args = ap.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    if not cmd:
        ap.error("give the command after --")
    device = claim_device(args.devices, args.lock_dir)
    if device is not None:
        os.set_inheritable(_HELD[device], True)  # the lock must outlive the exec
        print(f"[with-free-gpu] CUDA_VISIBLE_DEVICES={device} (lock {args.lock_dir}/gpu{device}.lock)", file=sys.stderr)
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main()
