"""Hostile science answers: every string gets a Verdict (never an exception), nothing hostile
is right, each returns in bounded time, parsing is linear in the response, and the pint
work runs in killable workers with a time and memory limit.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verifiers import STATUSES, Verdict, verify, verify_batch
from verifiers import _science_worker, science_verifier
from verifiers.answer_extraction import MAX_RESPONSE_CHARS
from verifiers.science_verifier import science_pool
from verifiers.verdict import from_worker_reply
from verifiers.worker_pool import Lost, Timeout

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 2.0
G = "9.8 m/s^2"
SPACES = " " * 999_000

# id -> (response, reference); none of these is a right answer
HOSTILE = {
    # exponents: pint evaluates "**" on whatever it is given
    "issue_unit_power_tower": ("A: 1 m^(9^(9^4))", G),
    "issue_bare_power_tower": ("A: 9^(9^9)", "42"),
    "bare_power_tower_with_unit": ("A: 9^(9^9) m/s^2", G),
    "python_power_tower": ("A: 10**10**10**10 m", "1 m"),
    "braced_power_tower": ("A: 1 m^{9^{9^{9}}}", "1 m"),
    "times_ten_power_tower": ("A: 1 \\times 10^{10^{10}} m", "1 m"),
    "huge_unit_exponent": ("A: 1 m^999999999", "1 m"),
    "negative_huge_unit_exponent": ("A: 1 m^-99999", "1 m"),
    "stacked_unit_exponents": ("A: 1 m^2^3", "1 m^8"),
    "group_exponent_overflow": ("A: 1 ((m^12)^12)^12", "1 m"),
    "fractional_unit_exponent": ("A: 2 m^(1/2)", "2 m"),
    "superscript_tower": ("A: 1 m²²²²²²²²", "1 m"),
    "huge_decimal_exponent": ("A: 1e999999999 m", "1 m"),
    "overflowing_decimal_exponent": ("A: 9.9e999 m/s^2", G),
    "two_thousand_digit_mantissa": ("A: " + "9" * 1_900 + " m/s^2", G),
    "nan_and_inf": ("A: nan m/s^2", G),
    "infinity_word": ("A: inf m", "1 m"),
    # shapes that made the old parser quadratic or deep
    "issue_spaces_between_tokens": ("A: 9.8" + SPACES + "m/s^2", G),
    "spaces_in_fallback_line": ("9.8" + SPACES + "kg", G),
    "deep_parentheses": ("A: 1 " + "(" * 500 + "m" + ")" * 500, "1 m"),
    "many_unit_factors": ("A: 1 " + " ".join(["m", "s", "kg", "A", "K", "mol", "cd", "g", "N"]),
                          "1 m"),
    "long_unit_name": ("A: 1 " + "m" * 1_500, "1 m"),
    "latex_wrapper_nest": ("A: 1 " + "\\text{" * 300 + "m" + "}" * 300, "1 m"),
    # code and control characters
    "python_import": ("A: __import__('os').system('true') m", "1 m"),
    "semicolon_statement": ("A: 9.8 m/s^2; import os", G),
    "pint_eval_syntax": ("A: 9.8 * meter / second ** 2 if True else 0", G),
    "null_byte": ("A: 9.8\x00 m/s^2", G),
    "lone_surrogate": ("A: 9.8 m/s^2\ud800", G),
    "bidi_override": ("A: 8.9\u202e m/s^2", G),
    "unicode_digits": ("A: ٩.٨ m/s^2", G),
    "unclosed_box": ("\\boxed{9.8 m/s^2", G),
    "empty_box": ("\\boxed{}", G),
    # answers that hedge or restate instead of answering
    "hedged_quantity": ("A: 9.8 m/s^2 or 10 m/s^2", G),
    "quantity_equation": ("A: 9.8 m/s^2 = 980 cm/s^2", G),
    "choice_for_quantity": ("A: C", G),
    "quantity_for_choice": ("A: 36 m", "C"),
    "unit_only": ("A: m/s^2", G),
}
NOT_RIGHT = {"ok", "parse_error", "no_answer"}
PADDED_RIGHT_ANSWER = "spaces_between_fallback_tokens"


@pytest.fixture(scope="module", autouse=True)
def warm_science_pool():
    science_pool().warm()


def test_there_are_at_least_30_hostile_science_inputs():
    assert len(HOSTILE) >= 30


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_science_answer_is_a_verdict_not_right_within_twice_the_timeout(case):
    response, reference = HOSTILE[case]
    start = time.monotonic()
    verdict = verify("science", response, reference, timeout_s=TIMEOUT_S)
    assert time.monotonic() - start < 2 * TIMEOUT_S
    assert isinstance(verdict, Verdict)
    assert verdict.score == 0.0, verdict
    assert verdict.status in NOT_RIGHT, verdict


def test_hostile_answers_in_one_batch_match_their_single_verdicts_and_workers_keep_serving():
    cases = [HOSTILE[c] for c in sorted(HOSTILE)]
    batch = verify_batch("science", [r for r, _ in cases], [ref for _, ref in cases],
                         timeout_s=TIMEOUT_S)
    assert batch == [verify("science", r, ref, timeout_s=TIMEOUT_S) for r, ref in cases]
    after = verify_batch("science", ["A: 980 cm/s^2", "A: 50", "A: c"], [G, "50 %", "C"])
    assert [v.score for v in after] == [1.0, 1.0, 1.0]


# --- size and linearity -----------------------------------------------------------------

def _megabyte_shapes(n: int) -> dict[str, tuple[str, str]]:
    """Hostile response shapes of exactly ``n`` characters, each with the reference it is
    aimed at. None is right except PADDED_RIGHT_ANSWER (whitespace is collapsed, so padding
    a right answer leaves it right: the whole megabyte went through to the worker)."""
    def fit(text: str) -> str:
        return (text * (n // len(text) + 1))[:n]
    return {
        "spaces_between_answer_tokens": ("A: 9.8" + " " * (n - 11) + "m/s^2", G),
        "spaces_between_fallback_tokens": ("9.8" + " " * (n - 8) + "m/s^2", G),
        "spaces_after_answer_is": ("The answer is" + " " * (n - 14) + "C", "C"),
        "tabs_and_newlines": ("A: 9.8 " + fit("\t\n ")[: n - 12] + "m/s^2", G),
        "one_digit_line": (fit("9 "), G),
        "digits_then_unit": (fit("9")[: n - 6] + " m/s^2", G),
        "number_unit_pairs_on_one_line": (fit("9.8 m/s^3 "), G),
        "carets_after_a_unit": ("9.8 m" + fit("^")[: n - 5], G),
        "open_parentheses": ("9.8 " + fit("(")[: n - 4], G),
        "open_boxes": (fit("\\boxed{"), G),
        "answer_is_without_letter": (fit("the answer is "), "C"),
        "letters_in_words": (fit("E.g. Each A bit "), "E"),
        "answer_lines": (fit("A: E.g.\n"), "E"),
        "percent_signs": (fit("5%"), "50 %"),
        "superscripts": ("1 m" + fit("²")[: n - 3], "1 m"),
        "latex_wrappers": (fit("\\text{"), G),
    }


@pytest.mark.parametrize("shape", sorted(_megabyte_shapes(1000)))
def test_a_megabyte_response_returns_in_under_a_second(shape):
    response, reference = _megabyte_shapes(MAX_RESPONSE_CHARS)[shape]
    assert len(response) == MAX_RESPONSE_CHARS  # the largest response that is scanned
    start = time.perf_counter()
    verdict = verify("science", response, reference)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"{shape}: {elapsed:.2f} s"
    expected = 1.0 if shape == PADDED_RIGHT_ANSWER else 0.0
    assert verdict.score == expected and verdict.status in NOT_RIGHT, verdict


def test_a_response_over_the_size_limit_is_a_parse_error_without_a_scan():
    start = time.perf_counter()
    verdict = verify("science", "A: 9.8 m/s^2" + " " * MAX_RESPONSE_CHARS, G)
    assert time.perf_counter() - start < 1.0
    assert (verdict.score, verdict.status) == (0.0, "parse_error"), verdict


def test_the_worker_is_sent_a_bounded_request_whatever_the_response_size(monkeypatch):
    """Timing-free: whatever the response, the worker parses at most a few thousand chars."""
    sent: list[dict] = []
    pool = science_pool()
    real_run = pool.run

    def recording_run(requests, timeout_s):
        sent.extend(requests)
        return real_run(requests, timeout_s)

    monkeypatch.setattr(pool, "run", recording_run)
    shapes = _megabyte_shapes(MAX_RESPONSE_CHARS)
    verify_batch("science", [r for r, _ in shapes.values()], [ref for _, ref in shapes.values()])
    assert sent, "no shape reached the worker: the bound below would be vacuous"
    assert max(len(request["answer"]) for request in sent) <= _science_worker.MAX_INPUT_CHARS


def _all_patterns(module) -> list[re.Pattern]:
    found = []

    def collect(value):
        if isinstance(value, re.Pattern):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                collect(item)
    for value in vars(module).values():
        collect(value)
    return found


def _repeats(tree, inside_repeat: bool, problems: list[str], pattern: str) -> None:
    import re._constants as constants
    for op, argument in tree:
        if op in (constants.MAX_REPEAT, constants.MIN_REPEAT, constants.POSSESSIVE_REPEAT):
            low, high, body = argument
            if high == constants.MAXREPEAT:
                problems.append(f"unbounded repeat in {pattern!r}")
            if high > 1 and inside_repeat:
                problems.append(f"nested repeat in {pattern!r}")
            _repeats(body, inside_repeat or high > 1, problems, pattern)
        elif op == constants.SUBPATTERN:
            _repeats(argument[-1], inside_repeat, problems, pattern)
        elif op == constants.BRANCH:
            for branch in argument[1]:
                _repeats(branch, inside_repeat, problems, pattern)
        elif op in (constants.ASSERT, constants.ASSERT_NOT):
            _repeats(argument[1], inside_repeat, problems, pattern)


def test_science_regexes_have_only_bounded_unnested_repeats():
    """Timing-free linearity: a regex without unbounded or nested repeats does a bounded
    amount of work per starting position, so a scan is linear in the text."""
    import re._parser as parser
    patterns = _all_patterns(science_verifier) + _all_patterns(_science_worker)
    assert len(patterns) >= 20, "the audit found too few patterns to mean anything"
    problems: list[str] = []
    for pattern in patterns:
        _repeats(parser.parse(pattern.pattern, pattern.flags), False, problems, pattern.pattern)
    assert not problems, problems
    # and the audit itself catches the shapes it forbids
    for bad in (r"\s*(.*?)\s*", r"(?:a{0,3}){0,3}", r"x+"):
        caught: list[str] = []
        _repeats(parser.parse(bad), False, caught, bad)
        assert caught, bad


def _best_time(response: str, reference) -> float:
    parsed = science_verifier.science_reference(reference)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        science_verifier._triage(response, parsed)
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize("shape", ["spaces_between_answer_tokens", "spaces_between_fallback_tokens",
                                   "spaces_after_answer_is", "number_unit_pairs_on_one_line",
                                   "letters_in_words", "answer_lines", "open_parentheses"])
def test_caller_side_parsing_time_grows_linearly(shape):
    """4x the response costs about 4x (quadratic would be 16x); best of three, with slack
    for timer noise on a busy machine."""
    small = _megabyte_shapes(MAX_RESPONSE_CHARS // 4)[shape]
    large = _megabyte_shapes(MAX_RESPONSE_CHARS)[shape]
    t_small, t_large = _best_time(*small), _best_time(*large)
    assert t_large <= 8 * t_small + 0.02, f"{shape}: {t_small:.4f} s -> {t_large:.4f} s"


# --- the worker's limits ----------------------------------------------------------------

def test_a_check_past_its_wall_time_is_a_timeout_and_the_pool_recovers():
    """No bounded input runs long any more, so a stopped worker stands in for one stuck in
    C code: it is killed at the deadline, reported as a timeout, and replaced."""
    pool = science_pool()
    pool.warm()
    stopped = [worker.proc.pid for worker in pool._workers]
    for pid in stopped:
        os.kill(pid, signal.SIGSTOP)
    try:
        start = time.monotonic()
        verdicts = verify_batch("science", [f"A: {980 + i} cm/s^2" for i in range(len(stopped))],
                                [G] * len(stopped), timeout_s=0.5)
        elapsed = time.monotonic() - start
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
    assert [(v.score, v.status) for v in verdicts] == [(0.0, "timeout")] * len(stopped)
    assert elapsed < 5.0
    assert not set(stopped) & {worker.proc.pid for worker in pool._workers}
    assert verify("science", "A: 980 cm/s^2", G).score == 1.0


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="needs /proc (Linux)")
def test_science_workers_run_under_the_address_space_limit():
    pool = science_pool()
    pool.warm()
    limits = []
    for worker in pool._workers:
        text = Path(f"/proc/{worker.proc.pid}/limits").read_text()
        line = next(l for l in text.splitlines() if l.startswith("Max address space"))
        limits.append(int(line.split()[3]))
    assert limits and all(limit == _science_worker.WORKER_ADDRESS_SPACE_BYTES for limit in limits)


def _from_reply(reply):
    return from_worker_reply(reply, "science check", max_detail=300)


def test_memory_and_time_failures_map_to_their_statuses():
    assert _from_reply(Timeout(2.0)).status == "timeout"
    # the kernel's SIGKILL on a worker over its limit, and MemoryError caught in the worker
    assert _from_reply(Lost("worker exited (code -9): pipe closed")).status == "memory_limit"
    assert _from_reply({"status": "memory_limit", "detail": "over"}).status == "memory_limit"
    assert _from_reply(Lost("worker exited (code 1): pipe closed")).status == "internal_error"
    assert _from_reply({"status": "ok", "score": 1.0}).score == 1.0
    for forged in ({"status": "timeout", "score": 1.0}, {"status": "great", "score": 1.0}, "ok"):
        assert _from_reply(forged).score == 0.0


def test_pint_is_never_imported_in_the_calling_process():
    code = ("import sys; from verifiers import verify; "
            "v = verify('science', 'A: 980 cm/s^2', '9.8 m/s^2'); "
            "print(v.score, 'pint' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1.0", "False"]


# --- any string -------------------------------------------------------------------------

_HOSTILE_ALPHABET = st.sampled_from(
    list("0123456789.eE+-*/^()[]{} \t\n%°²⁻µΩ×·,:;$\\") +
    ["m", "s", "kg", "rad", "degree", "A", "C", "c", "E.g.", "A: ", "Answer: ", "\\boxed{",
     "\\text{", "\\frac{", "^{", "\\times 10^", "**", "answer is ", " or ", "\x00", "\ud800"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_HOSTILE_ALPHABET, max_size=40).map("".join) | st.text(max_size=200))
def test_any_string_gets_a_verdict_and_only_a_string_that_names_the_answer_is_right(response):
    references = [G, "50 %", "C", {"answer": "0.5", "rel_tol": 0.0}]
    verdicts = verify_batch("science", [response] * len(references), references)
    assert all(isinstance(v, Verdict) and v.status in STATUSES for v in verdicts)
    if not re.search(r"[0-9]", response):  # no digit: no number, so no quantity is right
        assert [v.score for v in verdicts[:2]] == [0.0, 0.0], (response, verdicts)
        assert verdicts[3].score == 0.0, (response, verdicts)
    if "c" not in response.lower():
        assert verdicts[2].score == 0.0, (response, verdicts)
