"""Pull the final answer out of a model's response, and parse plain numbers exactly.

Extraction order (first rule that finds something wins):
1. the LAST ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced;
2. the LAST line of the form ``A: ...`` / ``Answer: ...`` / ``Final answer: ...``;
3. fallback: the LAST number in the response (integer, decimal or ``a/b``).
   The fallback rewards a model that merely ends on the right number, so training code
   that wants a stricter format should check ``ExtractedAnswer.rule``.

Everything here runs in the caller's process on untrusted text, so it uses only
linear-time scans and regexes without nested quantifiers, and refuses oversized input.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

MAX_RESPONSE_CHARS = 1_000_000  # larger responses are a parse_error, not a scan
MAX_ANSWER_CHARS = 2_000        # larger extracted answers are a parse_error
MAX_FAST_NUMBER_CHARS = 400     # plain numbers up to this length are compared in-process

_BOX_COMMANDS = ("\\boxed", "\\fbox")
_ANSWER_LINE = re.compile(r"^[ \t*]*(?:A|Answer|Final answer)[ \t*]*:[ \t*]*([^\n]*)$",
                          re.IGNORECASE | re.MULTILINE)
# A minus sign counts only when it cannot be a binary minus ("19-5" ends on 5, not -5).
_NUMBER = re.compile(r"(?:(?<![\w.)\]}])-)?\d+(?:\.\d+)?(?:/\d+)?")

_PLAIN_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_PLAIN_FRACTION = re.compile(r"([+-]?\d+)[ \t]*/[ \t]*(\d+)")
_LATEX_FRACTION = re.compile(r"([+-]?)\\[dt]?frac\{([+-]?\d+)\}\{(\d+)\}")


class AnswerTooLarge(ValueError):
    """The response or the extracted answer exceeds the size limits."""


class MalformedBox(ValueError):
    """The last \\boxed{ has no matching closing brace."""


@dataclass(frozen=True)
class ExtractedAnswer:
    text: str
    rule: str  # "boxed" | "answer_line" | "last_number"


def _last_boxed(response: str) -> str | None:
    start = max(response.rfind(cmd) for cmd in _BOX_COMMANDS)
    if start < 0:
        return None
    cmd_len = len("\\boxed") if response.startswith("\\boxed", start) else len("\\fbox")
    i = start + cmd_len
    while i < len(response) and response[i] in " \t":
        i += 1
    if i >= len(response):
        raise MalformedBox("\\boxed at the end of the response has no argument")
    if response[i] != "{":  # "\boxed 5": the argument is the next token
        match = re.match(r"[^\s$]+", response[i:])
        if not match:
            raise MalformedBox("\\boxed has no argument")
        return match.group(0)
    depth = 0
    for j in range(i, len(response)):
        ch = response[j]
        if ch == "{" and response[j - 1] != "\\":
            depth += 1
        elif ch == "}" and response[j - 1] != "\\":
            depth -= 1
            if depth == 0:
                return response[i + 1:j]
    raise MalformedBox("the last \\boxed{ is never closed")


def _clean(answer: str) -> str:
    answer = answer.strip()
    for _ in range(3):  # peel "$...$", "\(...\)", trailing full stop
        before = answer
        if len(answer) >= 2 and answer[0] == "$" and answer[-1] == "$":
            answer = answer.strip("$").strip()
        if answer.startswith("\\(") and answer.endswith("\\)"):
            answer = answer[2:-2].strip()
        if answer.endswith(".") and not answer.endswith(".."):
            answer = answer[:-1].rstrip()
        if answer == before:
            break
    return answer


def extract_answer(response: str) -> ExtractedAnswer | None:
    """The final answer of ``response`` or None; raises AnswerTooLarge / MalformedBox."""
    if not isinstance(response, str):
        raise TypeError(f"response must be str, got {type(response).__name__}")
    if len(response) > MAX_RESPONSE_CHARS:
        raise AnswerTooLarge(f"response has {len(response)} chars (limit {MAX_RESPONSE_CHARS})")
    found: ExtractedAnswer | None = None
    boxed = _last_boxed(response)
    if boxed is not None:
        found = ExtractedAnswer(_clean(boxed), "boxed")
    else:
        line = None
        for line in _ANSWER_LINE.finditer(response):
            pass
        if line is not None and line.group(1).strip():
            found = ExtractedAnswer(_clean(line.group(1)), "answer_line")
        else:
            number = None
            for number in _NUMBER.finditer(response):
                pass
            if number is not None:
                found = ExtractedAnswer(number.group(0), "last_number")
    if found is None or not found.text:
        return None
    if len(found.text) > MAX_ANSWER_CHARS:
        raise AnswerTooLarge(f"answer has {len(found.text)} chars (limit {MAX_ANSWER_CHARS})")
    return found


def parse_plain_number(text: str) -> Fraction | None:
    """Exact value of an integer, decimal, ``a/b`` or ``\\frac{a}{b}``; None for anything else.

    No exponents ("1e999999999" would allocate) and a length cap, so this is always cheap.
    """
    text = _clean(text).replace("\\!", "").replace("{,}", "")
    if not text or len(text) > MAX_FAST_NUMBER_CHARS:
        return None
    if _PLAIN_DECIMAL.fullmatch(text):
        return Fraction(text)
    match = _PLAIN_FRACTION.fullmatch(text)
    if match:
        numerator, denominator = int(match.group(1)), int(match.group(2))
        return Fraction(numerator, denominator) if denominator else None
    match = _LATEX_FRACTION.fullmatch(text)
    if match:
        numerator, denominator = int(match.group(2)), int(match.group(3))
        if not denominator:
            return None
        value = Fraction(numerator, denominator)
        return -value if match.group(1) == "-" else value
    return None
