"""Pull the final answer out of a model's response; read number literals; match numbers.

Extraction order (first rule that finds something wins):
1. the LAST ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced;
2. the LAST line of the form ``A: ...`` / ``Answer: ...`` / ``Final answer: ...``, markdown
   emphasis around it ignored (``**Final Answer: 24**``);
3. fallback: the LAST number in the response (integer, decimal, ``a/b``, ``1,000``).
   The fallback rewards a model that merely ends on the right number, so training code
   that wants a stricter format should check ``ExtractedAnswer.rule``.

Number literals (``parse_number_literal``): an integer (``007``, ``+3``, digit groups
``1,000`` ``1{,}000`` ``1\\,000`` ``1 000``), a decimal (``24.0``, ``.5``), scientific
notation (``1e3``, ``1.5 \\times 10^{3}``, ``10^{6}``), a fraction (``3/4``, ``\\frac{3}{4}``),
a mixed number (``3\\frac{1}{2}``), a repeating decimal (``0.\\overline{3}``), a percentage;
around it ``x =`` (the last side of an equation), a currency sign, a trailing unit
(``\\text{ apples}``, ``cm``, ``^\\circ``) and redundant brackets are ignored. Anything with
an operator between numbers is not a literal ("61 + 73", "2^{10}", "\\sqrt{16}").

Rounding policy (``numbers_match``, the one function every math path uses): two numbers
match when their exact values are equal; otherwise only when one of them is a decimal with
at least MIN_SIGNIFICANT_DIGITS significant digits and the other's value lies within half a
unit of that decimal's last written digit, i.e. the decimal is the other value correctly
rounded ("0.333333" for 1/3 and "1.41421356" for sqrt 2 match; "0.333", "0.333334" and
"24.0000001" for 24 do not).

Everything here runs in the caller's process on untrusted text, so it uses only
linear-time scans, regexes on length-capped text, and refuses oversized input.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

MAX_RESPONSE_CHARS = 1_000_000  # larger responses are a parse_error, not a scan
# Larger extracted answers are a parse_error, refused before any parser. 8,000 is 3.5x the
# longest correct answer met so far (a 2,289-char polynomial, wrongly refused at the old
# 2,000). The worker's LaTeX parser (ANTLR) needs about 1 ms a char on dense polynomials, so
# near the cap a check can run into its time limit and come back "timeout": the cap bounds
# the in-process scans, the killable worker's time and memory limits bound the rest.
MAX_ANSWER_CHARS = 8_000
MAX_FAST_NUMBER_CHARS = 400     # number literals up to this length are read in-process
MAX_EXPONENT = 400              # 1e{k}, 10^{k} with |k| above this are not read in-process
# A decimal stands for the values it rounds from only when it carries at least this many
# significant digits; shorter decimals are exact ("0.333" is not 1/3). Six matches the six
# places math-verify rounds to by default, but counted in significant digits, so that
# 0.000001 is not "equal" to 0 and 333333.3 can stand for 10^6/3.
MIN_SIGNIFICANT_DIGITS = 6

_BOX_COMMANDS = ("\\boxed", "\\fbox")
_ANSWER_LINE = re.compile(r"^[ \t*]*(?:A|Answer|Final answer)[ \t*]*:[ \t*]*([^\n]*)$",
                          re.IGNORECASE | re.MULTILINE)
# A minus sign counts only when it cannot be a binary minus ("19-5" ends on 5, not -5).
# Digit groups: "1,000" is one thousand, not "000" (thin and no-break spaces count too).
_NUMBER = re.compile(r"(?:(?<![\w.)\]}])-)?(?:\d{1,3}(?:(?:,|\{,\}|\\,|[\u00a0\u2009\u202f])\d{3})+(?!\d)"
                     r"|\d+)(?:\.\d+)?(?:/\d+)?")
_GROUP_SEPARATOR = re.compile(r",|\{,\}|\\,|[\u00a0\u2009\u202f]")


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
    """Peel the delimiters around an answer: "$...$", "\\(...\\)", "\\[...\\]", a full stop."""
    answer = answer.strip()
    for _ in range(3):
        before = answer
        if len(answer) >= 2 and answer[0] == "$" and answer[-1] == "$":
            answer = answer.strip("$").strip()
        for opening, closing in (("\\(", "\\)"), ("\\[", "\\]")):
            if answer.startswith(opening) and answer.endswith(closing) and len(answer) >= 4:
                answer = answer[2:-2].strip()
        if answer.endswith(".") and not answer.endswith(".."):
            answer = answer[:-1].rstrip()
        if answer == before:
            break
    return answer


def _strip_emphasis(text: str) -> str:
    """Drop markdown bold/italic markers left at the end of an answer line ("24**")."""
    text = text.rstrip()
    for _ in range(3):  # "24** __": a few runs at most; each pass is linear in the line
        core = text.rstrip("*_")
        if len(text) - len(core) < 2:  # one star may be mathematics ("z^*")
            break
        text = core.rstrip()
    return text


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
        text = _strip_emphasis(line.group(1)) if line is not None else ""
        if text.strip():
            found = ExtractedAnswer(_clean(text), "answer_line")
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


# ---------------------------------------------------------------------------------------
# Number literals

@dataclass(frozen=True)
class NumberLiteral:
    """A number as written.

    value: its exact value (a percentage's value is the written number, 50 for "50%").
    last_digit_unit: for a decimal, the place value of its last written digit (0.001 for
    "0.333", 100 for "1.5e3"): the decimal stands for values within half of it when it has
    MIN_SIGNIFICANT_DIGITS; None for exact literals (integers, fractions, repeating decimals).
    reduced: False for a fraction p/q with gcd(p, q) > 1 or q == 1, which is an unevaluated
    division ("84/12", "\\frac{12}{2}"), not a value in its final form.
    """

    value: Fraction
    last_digit_unit: Fraction | None = None
    significant_digits: int = 0
    percent: bool = False
    reduced: bool = True


_UNICODE_SPACES = dict.fromkeys(map(ord, "\u00a0\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
                                         "\u2009\u200a\u202f\u205f\u3000\t"), " ")
_UNICODE_SPACES.update({ord("\u2212"): "-", ord("\u2013"): "-", ord("\u00d7"): "*",
                        ord("\u00b7"): "*", ord("\u22c5"): "*"})
_LATEX_SPACING = re.compile(r"\\(?:[,;: ]|quad|qquad|enspace|thinspace|medspace|thickspace)"
                            r"(?![A-Za-z])|~")
_NEGATIVE_SPACE = re.compile(r"\\!")
_SIZED_DELIMITER = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)[lr]?(?![A-Za-z])\s*\.?")
_NO_OP_COMMAND = re.compile(r"\\(?:displaystyle|textstyle)(?![A-Za-z])")
_MULTIPLY = re.compile(r"\\(?:times|cdot|ast)(?![A-Za-z])")
_FRAC = re.compile(r"\\[dt]frac(?![A-Za-z])")
_RUNS_OF_SPACES = re.compile(r" {2,}")
_INEQUALITY = re.compile(r"[<>\u2264\u2265\u2260]|!=|\\(?:le|ge|ne|leq|geq|neq|lt|gt|leqslant|geqslant)"
                         r"(?![A-Za-z])")
_APPROX = re.compile(r"\\approx(?![A-Za-z])|\u2248")
_TEXT_COMMANDS = r"\\(?:text|textrm|textbf|textit|textnormal|textsf|mbox|mathrm|mathbf|operatorname)"
_WRAPPED_NUMBER = re.compile(_TEXT_COMMANDS + r"\s*\{\s*([-+]?[0-9.,]*)\s*\}")
_CURRENCY = re.compile(r"^(?:\\\$|\$|\\textdollar|\u20ac|\u00a3|\\euro)\s*")
_PERCENT_SUFFIX = re.compile(r"\s*(?:\\%|%|\\text\s*\{\s*percent\s*\}|\s+percent)\s*$")
_DEGREE_SUFFIX = re.compile(r"\s*(?:\^\s*\{?\s*\\circ\s*\}?|\\circ|\u00b0|\\degree)\s*$")
_POWER = r"(?:\s*\^\s*(?:\{\s*-?\d\s*\}|-?\d))?"
# Each repetition needs a separator, so a run of letters splits one way only (no backtracking
# blow-up on "\text{aaaa...a1}").
_UNIT_LETTERS = r"[A-Za-z\u00b5\u03bc\u03a9\u00c5]+"
_UNIT_WORDS = _UNIT_LETTERS + r"(?:\s*[./*]\s*" + _UNIT_LETTERS + r"|\s+" + _UNIT_LETTERS + r")*"
_UNIT_GROUP_SUFFIX = re.compile(_TEXT_COMMANDS + r"\s*\{\s*(" + _UNIT_WORDS + _POWER + r")\s*\}"
                                + _POWER + r"\s*$")
_UNIT_WORD_SUFFIX = re.compile(r"(?<![\\A-Za-z])([A-Za-z]{2,}(?:\s*/\s*[A-Za-z]+)?)" + _POWER + r"\s*$")
# Words that change the number, not units: "2 pi", "5 thousand", "12 squared" are not 2, 5, 12.
_NOT_UNITS = frozenset({"e", "i", "j", "pi", "sqrt", "log", "ln", "sin", "cos", "tan", "exp",
                        "inf", "infty", "infinity", "mod", "choose", "to", "hundred", "thousand",
                        "million", "billion", "trillion", "dozen", "half", "squared", "cubed",
                        "factorial", "times", "over", "plus", "minus"})

_SIGN = re.compile(r"([+-]?)\s*(.*)", re.DOTALL)
_DECIMAL = re.compile(r"(\d+)(?:\.(\d*))?|\.(\d+)")
_GROUPED = re.compile(r"(\d{1,3}(,|\{,\}| )\d{3}(?:\2\d{3})*)(?:\.(\d+))?")  # one separator throughout
_E_NOTATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)[eE]([+-]?\d{1,4})")
_TIMES_TEN = re.compile(r"(?:([1-9](?:\.\d+)?)\s*\*\s*)?10\s*\^\s*(?:\{\s*([+-]?\d{1,4})\s*\}|(\d))")
_REPEATING = re.compile(r"(\d*)\.(\d*)\s*\\overline\s*\{\s*(\d{1,50})\s*\}")
_FRACTION = re.compile(r"\\frac\s*\{\s*([+-]?)\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}|\\frac\s*(\d)\s*(\d)"
                       r"|([+-]?)(\d+)\s*/\s*(\d+)")
_MIXED = re.compile(r"(\d+)\s*\\frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}")


def _normalise_spelling(text: str) -> str:
    """One spelling for spacing, sized brackets, multiplication signs and \\dfrac/\\tfrac."""
    text = text.translate(_UNICODE_SPACES)
    text = _NEGATIVE_SPACE.sub("", text)
    text = _LATEX_SPACING.sub(" ", text)
    text = _SIZED_DELIMITER.sub("", text)
    text = _NO_OP_COMMAND.sub("", text)
    text = _MULTIPLY.sub("*", text)
    text = _FRAC.sub("\\\\frac", text)
    return _RUNS_OF_SPACES.sub(" ", text).strip()


def _last_side(text: str) -> str | None:
    """The value an equation chain ends on: "x = 5" -> "5", "61 + 73 = 134" -> "134"."""
    if _INEQUALITY.search(text):
        return None
    _, equals, tail = _APPROX.sub("=", text).rpartition("=")
    return (tail.strip() or None) if equals else text


def _strip_annotations(text: str) -> tuple[str, bool]:
    """Remove what is said about a number rather than part of it: currency, a trailing unit
    or degree sign, "\\text{5}" wrappers. Returns (text, whether it ended in a percent sign)."""
    text = _WRAPPED_NUMBER.sub(r"\1", text)
    text = _CURRENCY.sub("", text)
    percent = False
    for _ in range(4):  # "5 \text{ m}^2 \text{ per day}": a few trailing annotations at most
        before = text
        match = _PERCENT_SUFFIX.search(text)
        if match and not percent:
            percent, text = True, text[:match.start()]
        text = _DEGREE_SUFFIX.sub("", text)
        match = _UNIT_GROUP_SUFFIX.search(text)
        if match and match.group(1).strip().lower() not in _NOT_UNITS:
            text = text[:match.start()]
        match = _UNIT_WORD_SUFFIX.search(text)
        if match and match.group(1).lower() not in _NOT_UNITS and match.start() > 0:
            text = text[:match.start()]
        text = text.strip()
        if text == before:
            break
    return text, percent


def _strip_brackets(text: str) -> str:
    """"(134)", "{134}", "[134]" -> "134" when the brackets wrap the whole text."""
    pairs = {"(": ")", "{": "}", "[": "]"}
    for _ in range(8):
        if len(text) < 2 or text[0] not in pairs or text[-1] != pairs[text[0]]:
            return text
        depth = 0
        for index, ch in enumerate(text):
            if ch in "({[":
                depth += 1
            elif ch in ")}]":
                depth -= 1
            if depth == 0 and index < len(text) - 1:
                return text  # "(1)+(2)": the first bracket closes before the end
        text = text[1:-1].strip()
    return text


def _decimal(integer: str, fraction: str | None, exponent: int = 0) -> tuple[Fraction, Fraction | None, int]:
    digits = integer + (fraction or "")
    value = Fraction(int(digits or "0"), 10 ** len(fraction or "")) * Fraction(10) ** exponent
    significant = len(digits.lstrip("0"))
    if fraction is None and exponent == 0:
        return value, None, significant  # an integer is exact
    return value, Fraction(10) ** (exponent - len(fraction or "")), significant


def _read_core(text: str) -> NumberLiteral | None:
    """The literal that is the whole of ``text`` (already normalised and stripped)."""
    sign_match = _SIGN.fullmatch(text)
    sign = -1 if sign_match.group(1) == "-" else 1
    body = sign_match.group(2)
    signed = bool(sign_match.group(1))

    match = _DECIMAL.fullmatch(body)
    if match:
        value, unit, significant = _decimal(match.group(1) or "", match.group(2) if match.group(1)
                                            else match.group(3))
        return NumberLiteral(sign * value, unit, significant)
    match = _GROUPED.fullmatch(body)
    if match:
        integer = _GROUP_SEPARATOR.sub("", match.group(1)).replace(" ", "")
        value, unit, significant = _decimal(integer, match.group(3))
        return NumberLiteral(sign * value, unit, significant)
    match = _E_NOTATION.fullmatch(body)
    if match and abs(int(match.group(2))) <= MAX_EXPONENT:
        integer, _, fraction = match.group(1).partition(".")
        value, unit, significant = _decimal(integer, fraction, int(match.group(2)))
        return NumberLiteral(sign * value, unit, significant)
    match = _TIMES_TEN.fullmatch(body)
    if match:
        exponent = int(match.group(2) or match.group(3))
        if abs(exponent) > MAX_EXPONENT:
            return None
        integer, _, fraction = (match.group(1) or "1").partition(".")
        value, unit, significant = _decimal(integer, fraction, exponent)
        if match.group(1) is None:  # "10^{6}" is the exact power
            unit, significant = None, 1
        return NumberLiteral(sign * value, unit, significant)
    match = _REPEATING.fullmatch(body)
    if match:
        integer, fixed, period = match.groups()
        scale = 10 ** len(fixed)
        value = (int(integer or "0") + Fraction(int(fixed or "0"), scale)
                 + Fraction(int(period), (10 ** len(period) - 1) * scale))
        return NumberLiteral(sign * value)
    match = _FRACTION.fullmatch(body)
    if match:
        if match.group(2) is not None:
            inner_sign, numerator, denominator = match.group(1), match.group(2), match.group(3)
        elif match.group(4) is not None:
            inner_sign, numerator, denominator = "", match.group(4), match.group(5)
        else:
            inner_sign, numerator, denominator = match.group(6), match.group(7), match.group(8)
        if inner_sign and signed:
            return None  # "-\frac{-1}{2}": two signs are an operation
        p, q = int(numerator), int(denominator)
        if q == 0:
            return None
        sign = -sign if inner_sign == "-" else sign
        return NumberLiteral(sign * Fraction(p, q), reduced=q > 1 and math.gcd(p, q) == 1)
    match = _MIXED.fullmatch(body)
    if match:
        whole, p, q = (int(group) for group in match.groups())
        if q < 2 or p >= q:
            return None  # "3\frac{5}{2}" is not a mixed number
        return NumberLiteral(sign * (whole + Fraction(p, q)), reduced=math.gcd(p, q) == 1)
    return None


def parse_number_literal(text: str) -> NumberLiteral | None:
    """The number literal that ``text`` is, or None when it is anything else (an expression,
    a set, words). See the module docstring for the forms; never evaluates an operation."""
    text = _clean(text)
    if not text or len(text) > MAX_FAST_NUMBER_CHARS:
        return None
    text = _last_side(_normalise_spelling(text))
    if text is None:
        return None
    text, percent = _strip_annotations(text)
    literal = _read_core(_strip_brackets(text))
    if literal is None:
        return None
    return NumberLiteral(literal.value, literal.last_digit_unit, literal.significant_digits,
                         percent, literal.reduced) if percent else literal


# Inside a formula only unambiguous group separators join digits: thin spaces and "{,}"
# ("1\,000" is one thousand); a plain space or comma may separate elements or factors there.
_THIN_DIGIT_GROUPS = re.compile(r"(?<![\d.^_])\d{1,3}(?:(?:\\,|\{,\}|[\u00a0\u2009\u202f])\d{3})+(?!\d)")
_THIN_SEPARATOR = re.compile(r"\\,|\{,\}|[\u00a0\u2009\u202f]")


def normalise_for_parser(text: str) -> str:
    """What a LaTeX parser misreads, spelled as it expects: digit groups joined
    ("\\{1\\,000, 2\\}" -> "\\{1000, 2\\}", not 1*000), unicode spaces, "~", the
    unicode minus and multiplication signs. Applied to both sides before the worker parses."""
    text = _THIN_DIGIT_GROUPS.sub(lambda match: _THIN_SEPARATOR.sub("", match.group(0)), text)
    return text.translate(_UNICODE_SPACES).replace("~", " ")


def _readings(number: NumberLiteral) -> list[tuple[Fraction, Fraction | None]]:
    """(value, last-digit unit) pairs a literal may mean: "50%" is 0.5 or, as in
    "what percent ...? 50", the number 50 (math-verify reads it both ways too)."""
    readings = [(number.value, number.last_digit_unit)]
    if number.percent:
        unit = number.last_digit_unit / 100 if number.last_digit_unit is not None else None
        readings.insert(0, (number.value / 100, unit))
    return readings


def numbers_match(answer: NumberLiteral, reference: NumberLiteral) -> bool:
    """The rounding policy: equal exact values, or one side is a decimal with at least
    MIN_SIGNIFICANT_DIGITS significant digits that the other value rounds to (within half a
    unit of its last digit). Symmetric: a decimal reference "1.41421356" stands for sqrt 2."""
    for a, a_unit in _readings(answer):
        for b, b_unit in _readings(reference):
            if a == b:
                return True
            for unit, significant in ((a_unit, answer.significant_digits),
                                      (b_unit, reference.significant_digits)):
                if unit is not None and significant >= MIN_SIGNIFICANT_DIGITS \
                        and 2 * abs(a - b) <= unit:
                    return True
    return False
