"""The embedded world's model: a tiny Llama built from a config and a character tokenizer.

Both are saved in Hugging Face format, so `AutoTokenizer` / `AutoModelForCausalLM`,
lm-eval and any HF tool load a checkpoint directly.
"""
from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>"]
CHARSET = string.digits + string.ascii_letters + " \n+-*/=?:.,()^%<>[]{}_'\"!;|&#$@\\~`"


def build_char_tokenizer() -> PreTrainedTokenizerFast:
    """A character-level HF tokenizer: one token per character, BOS prepended, pads left."""
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for ch in CHARSET:
        vocab.setdefault(ch, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", vocab["<s>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )


def build_tiny_llama(vocab_size: int, model_cfg: dict[str, Any], tokenizer: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    """A randomly initialised Llama of the size in ``model_cfg`` (hidden_size, layers, ...)."""
    cfg = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=int(model_cfg["hidden_size"]),
        intermediate_size=int(model_cfg.get("intermediate_size", 3 * model_cfg["hidden_size"])),
        num_hidden_layers=int(model_cfg["layers"]),
        num_attention_heads=int(model_cfg["heads"]),
        num_key_value_heads=int(model_cfg.get("kv_heads", model_cfg["heads"])),
        max_position_embeddings=int(model_cfg.get("max_positions", 256)),
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        attn_implementation="eager",
    )
    return LlamaForCausalLM(cfg)


def count_parameters(model: torch.nn.Module) -> int:
    """Unique trainable parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def describe_model(model: torch.nn.Module) -> str:
    """A name that says what the model is: its hub id, or e.g. 'llama-h128-l4' for one built from a config."""
    cfg = model.config
    name = getattr(cfg, "_name_or_path", "") or ""
    if name and not Path(name).exists():
        return name  # a hub id
    return f"{cfg.model_type}-h{cfg.hidden_size}-l{cfg.num_hidden_layers}"


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _ready_tokenizer(tok: Any) -> Any:
    """Left padding (the generation code needs it) and a pad token (EOS when the model has none)."""
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok


def load_checkpoint(path: str | Path, dtype: str = "float32") -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """Model (``dtype``, eval mode) and tokenizer from an HF-format directory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{path} is not a model checkpoint (no config.json); rerun the rule that makes it")
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; available: {sorted(DTYPES)}")
    tok = _ready_tokenizer(AutoTokenizer.from_pretrained(path))
    model = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[dtype])
    model.eval()
    return model, tok


def load_pretrained(model_cfg: dict[str, Any]) -> tuple[torch.nn.Module, Any]:
    """The config's ``model.pretrained`` (a local HF directory, or a hub id where there is network).

    ``model_cfg`` keys: pretrained, dtype (float32 | bfloat16 | float16), attn_implementation.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    name = str(model_cfg["pretrained"])
    dtype = str(model_cfg.get("dtype", "float32"))
    if dtype not in DTYPES:
        raise ValueError(f"model.dtype: unknown dtype {dtype!r}; available: {sorted(DTYPES)}")
    local = Path(name)
    if (local.exists() or name.startswith((".", "/", "models/", "results/"))) and not (local / "config.json").exists():
        raise FileNotFoundError(f"model.pretrained: {name} is not an HF model directory (no config.json)")
    kwargs: dict[str, Any] = {"dtype": DTYPES[dtype]}
    if model_cfg.get("attn_implementation"):
        kwargs["attn_implementation"] = model_cfg["attn_implementation"]
    tok = _ready_tokenizer(AutoTokenizer.from_pretrained(name))
    model = AutoModelForCausalLM.from_pretrained(name, **kwargs)
    model.eval()
    return model, tok


def save_checkpoint(model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, path: str | Path) -> Path:
    """Save model + tokenizer into ``path`` atomically (temp dir + rename)."""
    import tempfile

    from harness.io import atomic_replace_dir

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    return atomic_replace_dir(tmp, path)
