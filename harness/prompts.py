"""How an item's prompt becomes the text the model sees: one function for training and evaluation.

A suite's items carry a model-agnostic ``prompt`` ("Q: ...\\n"). A model may want it wrapped:
an instruct model in its chat template, with a system message and an instruction that asks
for the final ``A: <answer>`` line the verifiers read. The config's ``model.prompt_format``
says how (empty: the prompt as is, which is what the tiny char-level models learn):

    prompt_format: {chat: true, system: "You are a helpful assistant.", instruction: "..."}

Items the model continues (``completion_of_prompt``: HumanEval) are never wrapped: the
verifier judges prompt + completion as one program.
"""
from __future__ import annotations

from typing import Any

FORMAT_KEYS = ("chat", "system", "instruction")


def format_prompt(tokenizer: Any, item: dict[str, Any], fmt: dict[str, Any] | None) -> str:
    """The text given to the model for ``item`` under ``fmt`` (see the module docstring)."""
    if not fmt or item.get("completion_of_prompt"):
        return item["prompt"]
    unknown = set(fmt) - set(FORMAT_KEYS)
    if unknown:
        raise ValueError(f"model.prompt_format: unknown key(s) {sorted(unknown)}; allowed: {list(FORMAT_KEYS)}")
    user = item["prompt"] + (fmt.get("instruction") or "")
    if not fmt.get("chat"):
        return user
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError("model.prompt_format.chat is true but the tokenizer has no chat template")
    messages = ([{"role": "system", "content": fmt["system"]}] if fmt.get("system") else []) + [{"role": "user", "content": user}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def format_prompts(tokenizer: Any, items: list[dict[str, Any]], fmt: dict[str, Any] | None) -> list[str]:
    """``format_prompt`` over a list: [len(items)] texts."""
    return [format_prompt(tokenizer, it, fmt) for it in items]
