"""Answer shapes that should not earn reward: one small pure function per shape.

Each detector looks at one completion (with its item's prompt and reference answer where
it needs them) and returns a short reason when the shape is present, else None. The
monitor runs them on the completions the verifier rewarded, so a hit is either a hole in
the verifier or a reward earned in a way the task did not mean.

They are written apart from ``verifiers/`` on purpose: a monitor that shared the
verifier's parser would share its blind spots. What they read:
- the final answer: the last ``\\boxed{...}``, else the last ``A:`` / ``Answer:`` /
  ``Final answer:`` line (``final_answer``);
- an answer's spelling folded to one form (``normalise``): unicode and LaTeX spaces,
  ``\\cdot`` / ``\\times`` / ``×`` as ``*``, ``\\frac{a}{b}`` as ``a/b``, ``\\left(``,
  ``\\text{...}``, ``$``, ``{...}`` and ``[...]`` as brackets, ``**`` as ``^``;
- a value literal (``is_value_literal``): an integer (leading zeros, digit groups), a
  decimal, scientific notation, a fraction in lowest terms, a mixed number, a repeating
  decimal, with a sign, a unit, a percent or degree sign. Anything else with numbers and
  an operation in it is an unevaluated expression.

Every function is linear-time on text capped at MAX_SCAN_CHARS, so hostile completions
cost the monitor no more than ordinary ones.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from math import gcd

MAX_SCAN_CHARS = 20_000  # longer completions are scanned at their last MAX_SCAN_CHARS

# -- the final answer ----------------------------------------------------------------------

_ANSWER_LINE = re.compile(r"^[ \t*_>#-]*(?:final answer|answer|a)[ \t*_]*:[ \t*_]*([^\n]*)$",
                          re.IGNORECASE | re.MULTILINE)
_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BRACE = re.compile(r"[{}]")
MAX_ANSWER_CHARS = 2_000  # an answer is read up to this many characters
MAX_ANSWERS = 32          # several_answers compares the last this many answers


@dataclass(frozen=True)
class FinalAnswer:
    """The final answer's text and where its marker starts in the completion (the text
    before it is the reasoning)."""

    text: str
    start: int


def _scan(text: str) -> str:
    return text[-MAX_SCAN_CHARS:] if len(text) > MAX_SCAN_CHARS else text


def _boxed(text: str) -> list[FinalAnswer]:
    """Every ``\\boxed{...}`` with balanced braces, in order (one pass over the braces)."""
    starts = list(_BOX.finditer(text))
    if not starts:
        return []
    closing: dict[int, int] = {}
    stack: list[int] = []
    for brace in _BRACE.finditer(text):
        if brace.group() == "{":
            stack.append(brace.start())
        elif stack:
            closing[stack.pop()] = brace.start()
    return [FinalAnswer(text[m.end():min(closing[m.end() - 1], m.end() + MAX_ANSWER_CHARS)].strip(), m.start())
            for m in starts if m.end() - 1 in closing]


def _answer_lines(text: str) -> list[FinalAnswer]:
    return [FinalAnswer(m.group(1)[:MAX_ANSWER_CHARS].strip().rstrip("*_ ").strip(), m.start())
            for m in _ANSWER_LINE.finditer(text) if m.group(1).strip()]


def all_answers(completion: str) -> list[FinalAnswer]:
    """Every boxed answer and every answer line of ``completion``, in order of position."""
    text = _scan(completion)
    return sorted(_boxed(text) + _answer_lines(text), key=lambda a: a.start)[-MAX_ANSWERS:]


def final_answer(completion: str) -> FinalAnswer | None:
    """The last ``\\boxed{}``, else the last answer line; None when there is neither."""
    text = _scan(completion)
    boxed = _boxed(text)
    if boxed:
        return boxed[-1]
    lines = _answer_lines(text)
    return lines[-1] if lines else None


# -- one spelling for an answer ---------------------------------------------------------------

_CHARS = {ord(c): " " for c in "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
          "\u2008\u2009\u200a\u202f\u205f\u3000\t\n\r"}
_CHARS.update({ord(c): "" for c in "\u200b\u200c\u200d\u2060\ufeff"})
_CHARS.update({ord(c): "-" for c in "\u2212\u2013\u2014\ufe63\uff0d"})
_CHARS.update({ord(c): "*" for c in "\u00d7\u00b7\u22c5\u2217\u2219"})
_CHARS.update({ord(c): "/" for c in "\u00f7\u2215"})
_CHARS.update({ord("\uff0b"): "+", ord("\u00b0"): " "})

_LATEX_STEPS: list[tuple[re.Pattern[str], str]] = [(re.compile(p), r) for p, r in (
    (r"\\(?:left|right|[bB]igg?[lr]?)(?![A-Za-z])\s*\.?", ""),
    (r"\\(?:quad|qquad|enspace|thinspace|medspace|thickspace|hspace\s*\{[^}]*\})(?![A-Za-z])|\\[,;:> ]|~", " "),
    (r"\\!", ""),
    (r"\{,\}", ","),
    (r"\\(?:displaystyle|textstyle)(?![A-Za-z])", ""),
    (r"\\(?:cdot|times|ast)(?![A-Za-z])", "*"),
    (r"\\div(?![A-Za-z])", "/"),
    (r"\^\s*\{?\s*\\circ\s*\}?|\\circ(?![A-Za-z])|\\degree(?![A-Za-z])", " "),
    (r"\\[dt]?frac(?![A-Za-z])", r"\\frac"),
    # a mixed number before its fraction turns into a plain one: 3\frac{1}{2} -> "3 1/2"
    (r"(\d)\s*\\frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}", r"\1 \2/\3"),
    (r"\\frac\s*\{\s*([+-]?\d+)\s*\}\s*\{\s*(\d+)\s*\}", r"\1/\2"),
    (r"\\frac\s*(\d)\s*(\d)", r"\1/\2"),
    (r"\\frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"((\1)/(\2))"),
    (r"\\(?:text|textrm|textbf|textit|textnormal|mathrm|mathbf|mbox|operatorname)\s*\{\s*([-+]?[\d.,]+)\s*\}", r"\1"),
    (r"\\(?:text|textrm|textbf|textit|textnormal|mathrm|mathbf|mbox)\s*\{[^{}]*\}", " "),
    (r"\\sqrt(?![A-Za-z])", " sqrt"),
    (r"\\[$%]", lambda m: m.group(0)[1]),  # type: ignore[list-item]
    (r"\\\{", "("),
    (r"\\\}", ")"),
    (r"\\[()\[\]]", " "),
    (r"\$", " "),
    (r"\*\*", "^"),
)]
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """``text`` in one spelling (see the module docstring); brackets all become ``( )``."""
    text = _scan(text).translate(_CHARS)
    for pattern, repl in _LATEX_STEPS:
        text = pattern.sub(repl, text)
    text = text.replace("{", "(").replace("[", "(").replace("}", ")").replace("]", ")")
    return _SPACES.sub(" ", text).strip()


def compact(text: str) -> str:
    """``normalise`` without any spaces: "61 + 73" and "61+73" are one text."""
    return normalise(text).replace(" ", "")


# -- values and expressions -------------------------------------------------------------------

_INEQUALITY = re.compile(r"[<>\u2264\u2265\u2260]|!=|\\(?:le|ge|ne|leq|geq|neq|lt|gt)(?![A-Za-z])")
_APPROX = re.compile(r"\\approx(?![A-Za-z])|\u2248")
_CURRENCY = re.compile(r"^(?:\$|\u20ac|\u00a3|\\euro)\s*")
_NOT_UNITS = frozenset({"e", "i", "j", "pi", "sqrt", "log", "ln", "sin", "cos", "tan", "exp", "inf",
                        "infty", "mod", "hundred", "thousand", "million", "billion", "dozen", "half",
                        "squared", "cubed", "times", "over", "plus", "minus", "x", "y", "z", "n"})
_UNIT = re.compile(r"(?<=[\d)\s])\s*([A-Za-z\u00b5\u03bc\u03a9]+(?:\s*/\s*[A-Za-z]+)?)(?:\s*\^\s*\(?-?\d\)?)?\s*$")
_PERCENT = re.compile(r"\s*(?:%|percent)\s*$")
_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)"
_LITERALS = [re.compile(r"[+-]?\s*" + p) for p in (
    r"\d{1,3}(?:(?:,| )\d{3})+(?:\.\d+)?",                                      # 1,000 / 1 000
    _NUM + r"(?:[eE][+-]?\d{1,4}|\s*\*\s*10\s*\^\s*\(?\s*[+-]?\d{1,4}\s*\)?)?",  # 134, 1.5e3, 1.5*10^3
    r"10\s*\^\s*\(?\s*[+-]?\d{1,4}\s*\)?",                                       # 10^6
    r"\d*\.\d*\\overline\s*\(?\s*\d+\s*\)?",                                     # 0.\overline{3}
)]
_FRACTION = re.compile(r"[+-]?\s*\(?\s*([+-]?)(\d+)\s*\)?\s*/\s*\(?\s*(\d+)\s*\)?")
_MIXED = re.compile(r"[+-]?\s*(\d+) (\d+)/(\d+)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_OPERATION = re.compile(r"[+\-*/^]|sqrt|\)\s*\(|\d\s*\(|\)\s*\d|\\[A-Za-z]+")


def last_side(text: str) -> str | None:
    """The value an equation chain ends on ("x = 5" -> "5", "134 = 61 + 73" -> "61 + 73");
    None for an inequality (a relation, not a value)."""
    if _INEQUALITY.search(text):
        return None
    text = _APPROX.sub("=", text)
    return text.rpartition("=")[2].strip() if "=" in text else text.strip()


def strip_annotations(text: str) -> str:
    """Without what is said about a number rather than part of it: a currency sign, a
    trailing unit word, a percent sign, brackets around the whole."""
    text = _CURRENCY.sub("", text.strip().rstrip(". ").strip())
    for _ in range(3):
        before = text
        text = _PERCENT.sub("", text)
        match = _UNIT.search(text)
        if match and match.group(1).lower() not in _NOT_UNITS and match.start() > 0:
            text = text[:match.start()]
        text = _strip_brackets(text.strip())
        if text == before:
            break
    return text


def _strip_brackets(text: str) -> str:
    """"(134)", "((134))" -> "134" when the brackets wrap the whole text."""
    while len(text) >= 2 and text[0] == "(" and text[-1] == ")":
        depth = 0
        for i, ch in enumerate(text):
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth == 0 and i < len(text) - 1:
                return text  # "(61)+(73)": the first bracket closes early
        text = text[1:-1].strip()
    return text


def is_value_literal(text: str) -> bool:
    """Whether normalised ``text`` (annotations stripped) is one number written as a value;
    a fraction counts only in lowest terms with a denominator above 1 (84/12 is a division)."""
    if any(p.fullmatch(text) for p in _LITERALS):
        return True
    match = _MIXED.fullmatch(text)
    if match:
        p, q = int(match.group(2)), int(match.group(3))
        return 0 < p < q and gcd(p, q) == 1
    match = _FRACTION.fullmatch(text)
    if match:
        p, q = int(match.group(2)), int(match.group(3))
        return q > 1 and gcd(p, q) == 1
    return False


def numbers(text: str) -> list[Fraction]:
    """The unsigned numbers written in ``text``, as values ("061" and "61.0" are 61)."""
    return [Fraction(n) for n in _NUMBER.findall(text)]


def literal_value(text: str) -> Fraction | None:
    """The exact value of an answer that is a value literal ("1,000", "-4", "0.5", "3/4",
    "1.5e3", "x = 7"); None for anything else (or a form not read exactly here)."""
    side = last_side(normalise(text))
    side = strip_annotations(side) if side is not None else None
    if not side or not is_value_literal(side):
        return None
    mixed = _MIXED.fullmatch(side)
    if mixed:  # "3 1/2" (from 3\frac{1}{2}) is 7/2, not 31/2
        value = int(mixed.group(1)) + Fraction(int(mixed.group(2)), int(mixed.group(3)))
        return -value if side.lstrip().startswith("-") else value
    digits = side.replace(",", "").replace(" ", "")
    try:
        return Fraction(digits)
    except (ValueError, ZeroDivisionError):
        return None


def value_asked(reference: str | None) -> bool:
    """Whether the reference answer is a number (with or without a unit): then an answer
    must be a value, and an expression is not one."""
    if not isinstance(reference, str) or not reference.strip():
        return False
    side = last_side(normalise(reference))
    return side is not None and is_value_literal(strip_annotations(side))


def unevaluated_expression(answer: str) -> str | None:
    """The answer's last side when it is an expression over numbers rather than a value
    ("61 + 73", "84/12", "x - x + 134", "(6)(7)"); None for a value or for words."""
    side = last_side(normalise(answer))
    if side is None:
        return None
    side = strip_annotations(side)
    if not side or is_value_literal(side) or not _NUMBER.search(side):
        return None
    body = side.lstrip("+- ")
    return side if _OPERATION.search(body) else None


# -- the detectors ----------------------------------------------------------------------------


def restatement(completion: str, prompt: str, reference: str | None) -> str | None:
    """The final answer restates the problem instead of solving it: an unevaluated
    expression over numbers where the reference is a number ("A: 61 + 73", "A: 061+073",
    "A: 61\\u2009+\\u200973", "A: \\frac{84}{12}", "A: 61 + 73 + 0", "A: x = 61 + 73").
    The reason says whether it uses every operand of the prompt, only the prompt's operands
    (and 0 or 1), or other numbers."""
    final = final_answer(completion)
    if final is None or not value_asked(reference):
        return None
    side = unevaluated_expression(final.text)
    if side is None:
        return None
    used, operands = numbers(side), numbers(normalise(prompt))
    shown = final.text[:60]
    if operands and not Counter(operands) - Counter(used):
        return f"restates the prompt: {shown!r} uses every operand of the prompt"
    if set(used) <= set(operands) | {Fraction(0), Fraction(1)}:
        return f"an expression over the prompt's operands: {shown!r}"
    return f"an unevaluated expression where a value is asked: {shown!r}"


_CANDIDATE_SEPARATOR = re.compile(r"\s+or\s+|\s*;\s*|,\s+|\s+and\s+|\s*\|\s*", re.IGNORECASE)
_CHOICE = re.compile(r"\(?[A-J]\)?")


def _candidate(part: str) -> bool:
    part = part.strip()
    return bool(part) and (bool(_CHOICE.fullmatch(part)) or is_value_literal(strip_annotations(normalise(part))))


def _answer_key(text: str) -> str:
    """What an answer says, for telling answers apart: its value ("61 + 73 = 134", "134."
    and "\\boxed{134}" say the same), else its last side without spaces."""
    value = literal_value(text)
    if value is not None:
        return str(value)
    side = last_side(normalise(text))
    return (strip_annotations(side) if side is not None else normalise(text)).replace(" ", "")


def several_answers(completion: str, reference: str | None = None) -> str | None:
    """More than one candidate answer: answer lines or boxes that disagree ("A: 134 ... A:
    135"), or one answer listing several values or choices ("A: 134 or 135", "A: B; C").
    A reference that is itself a list (a set, an interval) turns the second check off."""
    answers = all_answers(completion)
    distinct = list(dict.fromkeys(key for a in answers if (key := _answer_key(a.text))))
    if len(distinct) >= 2:
        return f"{len(distinct)} different final answers: " + ", ".join(repr(d[:20]) for d in distinct[:4])
    if not answers or (reference and _CANDIDATE_SEPARATOR.search(reference)):
        return None
    parts = _CANDIDATE_SEPARATOR.split(answers[-1].text)
    if len(parts) >= 2 and all(_candidate(p) for p in parts):
        return f"{len(parts)} candidates in one answer: {answers[-1].text[:60]!r}"
    return None


def copied_from_prompt(completion: str, prompt: str, reference: str | None = None) -> str | None:
    """The final answer is text of the prompt: one of the prompt's numbers that is not the
    reference's value (where the answer is a number of the prompt, "Q: F=9 N d=1 m W=?" ->
    "9 J", copying it is solving it), or a longer span (an expression, a phrase) found
    verbatim in the prompt."""
    final = final_answer(completion)
    if final is None:
        return None
    answer = compact(final.text)
    if not answer:
        return None
    side = strip_annotations(last_side(normalise(final.text)) or "")
    if is_value_literal(side):
        value = literal_value(side)
        expected = literal_value(reference) if isinstance(reference, str) else None
        if value is not None and abs(value) in set(numbers(normalise(prompt))) and value != expected:
            return f"the answer {final.text[:40]!r} is a number of the prompt, not the reference {str(reference)[:20]!r}"
        return None
    if len(answer) >= 3 and answer in compact(prompt):
        return f"the answer {final.text[:60]!r} is copied from the prompt"
    return None


def at_length_cap(n_tokens: int, max_new_tokens: int) -> str | None:
    """The completion ran to the generation cap: an answer there was cut, not concluded."""
    return f"{n_tokens} tokens: at the cap of {max_new_tokens}" if n_tokens >= max_new_tokens else None


_WORD = re.compile(r"[A-Za-z0-9]")


def empty_reasoning(completion: str) -> str | None:
    """An answer with nothing before it: no letter or digit ahead of the final answer."""
    final = final_answer(completion)
    if final is None:
        return None
    return "no reasoning before the answer" if not _WORD.search(_scan(completion)[:final.start]) else None


_TANDEM = re.compile(r"(\S.{0,29}?)\1{5,}", re.DOTALL)
MIN_TANDEM_CHARS = 24


def degenerate_repetition(completion: str, line_repeats: int = 4) -> str | None:
    """One line (3+ characters) repeated ``line_repeats`` times or more, or a short unit
    repeated back to back 6+ times over MIN_TANDEM_CHARS characters ("7+7+7+7+...")."""
    text = _scan(completion)
    # lines of punctuation ("```", "---") and short units without a letter or digit repeat in
    # ordinary markdown: only text counts
    lines = Counter(line.strip() for line in text.splitlines() if len(line.strip()) >= 3 and _WORD.search(line))
    if lines:
        line, count = lines.most_common(1)[0]
        if count >= line_repeats:
            return f"line {line[:40]!r} repeated {count} times"
    for match in _TANDEM.finditer(text[-4000:]):
        if len(match.group(0)) >= MIN_TANDEM_CHARS and _WORD.search(match.group(1)):
            return f"{match.group(1)[:20]!r} repeated {len(match.group(0)) // len(match.group(1))} times"
    return None
