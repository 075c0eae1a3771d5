"""What the benchmark scripts share: one thread, the tiny model, peak memory, a table.

Import this module before torch: it pins OpenMP to one thread unless the caller set
OMP_NUM_THREADS, so a benchmark never competes with itself for the two cores.
"""
from __future__ import annotations

import os
import platform
import resource
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parent.parent
# Scripts run from benchmarks/ put that folder first on the path, where benchmarks/verifiers.py
# would shadow the `verifiers` package: drop it (common is already imported) and put the repo first.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(REPO))

# The embedded default's model (config/config.yaml `model:`), used when no checkpoint is given.
DEFAULT_MODEL_CFG = {"hidden_size": 128, "layers": 4, "heads": 4}
DEFAULT_MODEL_PATH = REPO / "results" / "base" / "model"


def prepare_model(path: str | None, scratch: Path, seed: int = 0) -> tuple[str, str]:
    """(checkpoint directory, description): ``path`` if it is a checkpoint, else a fresh
    tiny Llama (``DEFAULT_MODEL_CFG``, random weights, seeded) saved under ``scratch``.

    A random model seldom emits EOS, so most completions run to the token cap.
    """
    if path and (Path(path) / "config.json").exists():
        return str(path), f"checkpoint {path}"
    import torch

    from harness.model import build_char_tokenizer, build_tiny_llama, save_checkpoint

    torch.manual_seed(seed)
    tokenizer = build_char_tokenizer()
    model = build_tiny_llama(len(tokenizer), DEFAULT_MODEL_CFG, tokenizer)
    out = save_checkpoint(model, tokenizer, scratch / "model")
    why = f"{path} has no config.json; " if path else ""
    return str(out), f"{why}random tiny Llama from config {DEFAULT_MODEL_CFG}"


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine_line() -> str:
    """One line naming the machine, its load and the library versions, for the printout."""
    import torch
    import transformers

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return (
        f"machine: {platform.machine()} {os.cpu_count()} cores, load avg {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}; "
        f"torch {torch.__version__} ({torch.get_num_threads()} thread), transformers {transformers.__version__}, "
        f"python {platform.python_version()}"
    )


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain fixed-width table (first column left-aligned, the rest right-aligned)."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])
