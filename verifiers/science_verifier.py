"""Science answers: numbers with units (pint, tolerance) and multiple-choice letters.

Reference: ``{"answer": "9.8 m/s^2", "rel_tol": 0.01}`` (rel_tol optional, default
DEFAULT_REL_TOL; "abs_tol" optional, default 0) or ``{"answer": "C"}``, or the answer string.

Where the answer is: the last \\boxed{} or "A:"/"Answer:" line (verifiers.answer_extraction);
else, for a number, the last line holding a digit (its leftmost "number unit" suffix that
parses: a documented fallback that rewards a response merely ending on the quantity), and
for a choice, the last "answer is X" phrase in the prose.

Multiple choice (a reference that is one letter A-E), decided here: string work on capped,
whitespace-collapsed text with linear regexes, no numbers, no pint.
- The answer must *be* a choice: a lone letter (any case), optionally bracketed, bolded,
  ``\\text{}``-wrapped or followed by its option text after a marker ("C) 36 m", "C. 36 m"),
  or a clear phrase ("The answer is C", "option C"). A letter is never pulled out of a word
  ("E.g. C", "Each", "A bit"); anything else is a parse_error.
- Several different letters ("C or D", "C, D", "(C) 5 m or (D) 4 m") are a hedge: wrong.
- In prose (no answer line) only "answer is X" with an upper-case X counts: lower-case "a"
  and "e" there are an article and Euler's number.

Quantities: everything that parses a number or touches pint runs in a pool of killable
worker processes (verifiers._science_worker: its docstring states the units and tolerance
policy) with a per-check wall-time limit (status "timeout") and an address-space limit
("memory_limit"). The caller ships each worker at most a few thousand characters.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

from verifiers._science_worker import MAX_INPUT_CHARS, collapse_whitespace
from verifiers.answer_extraction import AnswerTooLarge, MalformedBox, extract_answer
from verifiers.verdict import Verdict, failed, from_worker_reply, right, wrong
from verifiers.worker_pool import WorkerPool

DEFAULT_REL_TOL = 1e-2
DEFAULT_TIMEOUT_S = 5.0
MAX_CHOICE_ANSWER_CHARS = 2_000  # a longer answer is not one letter
MAX_FALLBACK_LINE_CHARS = 500    # the tail of the last digit-bearing line that is searched

_CHOICE_REFERENCE = re.compile(r"\(?([A-E])\)?")
_ASCII_DIGIT = re.compile(r"[0-9]")

# Choice grammar, applied to whitespace-collapsed text of at most MAX_CHOICE_ANSWER_CHARS:
# only optional fixed words and bounded repeats, so a fullmatch is linear.
_WRAPPER = re.compile(r"\\(?:text|textbf|textrm|textit|mathrm|mathbf|mathit|rm|bf|boxed|fbox|"
                      r"underline|emph|mbox) ?\{([^{}]{0,200})\}")
_DECORATION = str.maketrans("", "", "*_$`")
_PHRASE = (r"(?i:(?:(?:so|thus|hence|therefore),? )?(?:the )?(?:correct |right |final |best )?"
           r"(?:answer|option|choice)(?: is| would be| should be)?(?: option| choice)?:? )")
_TOKEN = r"[(\[]?[A-Ea-e][)\]]?"
_LIST_SEPARATOR = r"(?:, ?| ?/ ?| ?& ?|,? or |,? and | )"
_CHOICE_LIST = re.compile(rf"{_PHRASE}?(?i:both |either )?"
                          rf"(?P<list>{_TOKEN}(?:{_LIST_SEPARATOR}{_TOKEN}){{1,4}})")
_CHOICE_SINGLE = re.compile(rf"{_PHRASE}?(?P<open>[(\[]?)(?P<letter>[A-Ea-e])(?P<close>[)\]]?)"
                            rf"(?P<mark>[.:]?)(?: (?P<rest>.{{1,{MAX_CHOICE_ANSWER_CHARS}}}))?")
_LETTER = re.compile(r"[A-Ea-e]")
_VERDICT_SUFFIX = re.compile(r"(?i:is (?:the )?(?:correct|right)(?: answer| option| choice)?|"
                             r"is the answer)")
# Option text after "C)" may hold units ("D) 5 C" is coulombs), so only another marked
# letter ("(D)", "D)", "or D") or a lone letter as the whole rest counts as a second choice.
_REST_ALONE = re.compile(rf"(?i:(?:or|and|&|/) )?{_TOKEN}")
_REST_MARKED = re.compile(r"(?<![A-Za-z0-9])(?:[(\[]([A-Ea-e])[)\]]|([A-Ea-e])\))|"
                          r"(?<![A-Za-z0-9])(?i:or|and) [(\[]?([A-E])[)\]]?(?![A-Za-z0-9])")
# Prose: the last "answer is X" in the raw response (up to MAX_RESPONSE_CHARS); fixed words
# and bounded gaps only, so finditer is linear.
_PROSE_CHOICE = re.compile(r"(?i:answer)(?i:[ \t]is|[ \t]would be|[ \t]should be)?"
                           r"(?i:[ \t]option|[ \t]choice)?[ \t]{0,3}:?[ \t]{0,3}"
                           r"(?:\*\*|\$|\\text\{|\\textbf\{|\\boxed\{)?[(\[]?([A-E])[)\]]?"
                           r"(?![A-Za-z0-9])")
_PROSE_HEDGE = re.compile(r"[*$}]{0,2}[)\]]?[ \t]{0,3}(?:,|/|&|or|and)[ \t]{0,3}[(\[]?([A-E])"
                          r"[)\]]?(?![A-Za-z0-9])")

_pool: WorkerPool | None = None


def science_pool() -> WorkerPool:
    global _pool
    if _pool is None:
        size = int(os.environ.get("VERIFIERS_SCIENCE_WORKERS", min(2, os.cpu_count() or 1)))
        _pool = WorkerPool("verifiers._science_worker", size)
    return _pool


@dataclass(frozen=True)
class ScienceReference:
    answer: str
    rel_tol: float
    abs_tol: float


def science_reference(reference) -> ScienceReference:
    """The answer and tolerances of a benchmark item (dict or answer string). A malformed
    item is a programming error, not model output: ValueError naming what is wrong."""
    rel_tol, abs_tol = DEFAULT_REL_TOL, 0.0
    if isinstance(reference, dict):
        answer = reference.get("answer")
        rel_tol = reference.get("rel_tol", DEFAULT_REL_TOL)
        abs_tol = reference.get("abs_tol", 0.0)
    else:
        answer = reference
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        answer = repr(answer)
    if not isinstance(answer, str) or not answer.strip():
        raise ValueError(f"science reference needs an 'answer' string, got {reference!r:.80}")
    try:
        rel_tol, abs_tol = float(rel_tol), float(abs_tol)
    except (TypeError, ValueError):
        raise ValueError(f"science reference tolerances must be numbers, got rel_tol="
                         f"{rel_tol!r:.20}, abs_tol={abs_tol!r:.20}") from None
    # rel_tol >= 1 would accept 0 for every reference; a negative tolerance accepts nothing
    if not (0.0 <= rel_tol < 1.0 and math.isfinite(abs_tol) and abs_tol >= 0.0):
        raise ValueError(f"science reference needs 0 <= rel_tol < 1 and a finite abs_tol >= 0, "
                         f"got rel_tol={rel_tol!r}, abs_tol={abs_tol!r}")
    return ScienceReference(answer.strip(), rel_tol, abs_tol)


class Hedge(str):
    """A choice answer that names several different letters ("C or D")."""


def _normalise_choice(text: str) -> str:
    text = collapse_whitespace(text)
    for _ in range(3):  # "\boxed{\textbf{C}}": wrappers nest
        before = text
        text = _WRAPPER.sub(r"\1", text)
        if text == before:
            break
    return collapse_whitespace(text.translate(_DECORATION)).rstrip(".")


def choice_in_answer(text: str) -> str | Hedge | None:
    """The upper-case letter that the extracted answer ``text`` is, a Hedge, or None when
    the answer is not a choice."""
    if len(text) > MAX_CHOICE_ANSWER_CHARS:
        return None
    text = _normalise_choice(text)
    listed = _CHOICE_LIST.fullmatch(text)
    if listed:
        letters = sorted({letter.upper() for letter in _LETTER.findall(listed.group("list"))})
        return letters[0] if len(letters) == 1 else Hedge("".join(letters))
    single = _CHOICE_SINGLE.fullmatch(text)
    if not single:
        return None
    letter, rest = single.group("letter").upper(), single.group("rest")
    if rest is None:
        return letter
    marked = bool(single.group("open") or single.group("close") or single.group("mark"))
    if not marked and rest[0].isalpha() and not _VERDICT_SUFFIX.fullmatch(rest):
        return None  # "A bit of both", "C is what I'd guess": a word, not a choice marker
    if _REST_ALONE.fullmatch(rest):
        other = _LETTER.search(rest.split(" ")[-1]).group(0).upper()
        return letter if other == letter else Hedge(letter + other)
    for found in _REST_MARKED.finditer(rest):
        other = next(g for g in found.groups() if g).upper()
        if other != letter:
            return Hedge(letter + other)
    return letter


def choice_in_prose(response: str) -> str | Hedge | None:
    """The letter of the last "answer is X" in ``response`` (upper-case X only), a Hedge
    when "or Y" / ", Y" follows it, or None."""
    found = None
    for found in _PROSE_CHOICE.finditer(response):
        pass
    if found is None:
        return None
    hedge = _PROSE_HEDGE.match(response, found.end())
    if hedge and hedge.group(1) != found.group(1):
        return Hedge(found.group(1) + hedge.group(1))
    return found.group(1)


def _choice_verdict(letter: str | Hedge | None, expected: str, from_answer: bool) -> Verdict:
    if letter is None:
        return failed("parse_error" if from_answer else "no_answer",
                      "the answer is not a choice letter A-E" if from_answer else
                      "no \\boxed{}, 'A:' line or 'answer is X' in the response")
    if isinstance(letter, Hedge):
        return wrong(f"hedges between {', '.join(letter)}")
    return right("choice") if letter == expected else wrong(f"{letter} != {expected}")


def _last_line_with_digit(response: str) -> str | None:
    """Tail of the last line holding an ASCII digit, whitespace collapsed (linear: rfind)."""
    position = max(response.rfind(digit) for digit in "0123456789")
    if position < 0:
        return None
    start = response.rfind("\n", 0, position) + 1
    end = response.find("\n", position)
    pieces = [piece for piece in response[start:len(response) if end < 0 else end].splitlines()
              if _ASCII_DIGIT.search(piece)]
    line = collapse_whitespace(pieces[-1])
    if len(line) > MAX_FALLBACK_LINE_CHARS:  # cut, then drop the token the cut went through
        line = line[-MAX_FALLBACK_LINE_CHARS:].partition(" ")[2]
    return line


def _triage(response: str, reference: ScienceReference) -> Verdict | tuple:
    """A final Verdict when extraction or the choice grammar decides, else a worker request
    key (answer, fallback, reference answer, rel_tol, abs_tol)."""
    try:
        extracted = extract_answer(response)
    except (AnswerTooLarge, MalformedBox) as error:
        return failed("parse_error", str(error))
    from_answer = extracted is not None and extracted.rule in ("boxed", "answer_line")

    choice = _CHOICE_REFERENCE.fullmatch(reference.answer)
    if choice:
        letter = choice_in_answer(extracted.text) if from_answer else choice_in_prose(response)
        return _choice_verdict(letter, choice.group(1), from_answer)

    if from_answer:
        if len(extracted.text) > MAX_INPUT_CHARS:
            return failed("parse_error", f"answer has {len(extracted.text)} chars")
        answer, fallback = extracted.text, False
    else:
        line = _last_line_with_digit(response) if extracted is not None else None
        if not line:
            return failed("no_answer", "no \\boxed{}, 'A:' line or number in the response")
        answer, fallback = line, True
    return answer, fallback, reference.answer, reference.rel_tol, reference.abs_tol


def verify_science_batch(responses: list[str], references: list,
                         timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Verdict]:
    """One Verdict per (response, reference); quantity checks go to the worker pool, each
    with ``timeout_s`` of wall time, identical checks once."""
    verdicts: list[Verdict | None] = [None] * len(responses)
    pending: dict[tuple, list[int]] = {}
    for index, (response, reference) in enumerate(zip(responses, references, strict=True)):
        decided = _triage(response, science_reference(reference))
        if isinstance(decided, Verdict):
            verdicts[index] = decided
        else:
            pending.setdefault(decided, []).append(index)
    if pending:
        keys = list(pending)
        requests = [{"answer": answer, "fallback": fallback, "reference": expected,
                     "rel_tol": rel_tol, "abs_tol": abs_tol}
                    for answer, fallback, expected, rel_tol, abs_tol in keys]
        for key, reply in zip(keys, science_pool().run(requests, timeout_s)):
            verdict = from_worker_reply(reply, "science check", max_detail=300)
            for index in pending[key]:
                verdicts[index] = verdict
    return verdicts  # type: ignore[return-value]


def verify_science(response: str, reference, timeout_s: float = DEFAULT_TIMEOUT_S) -> Verdict:
    """Verdict for one response; see verify_science_batch."""
    return verify_science_batch([response], [reference], timeout_s)[0]
