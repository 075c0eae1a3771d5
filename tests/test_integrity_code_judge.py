"""The code second opinion (harness/integrity/code_judge.py): the item's tests run again on
another harness path inside the same bubblewrap sandbox.

Expected verdicts are fixed by construction (hand-written programs against hand-written
tests, and the code suite's own reference solution), and checked against the training
verifier too, so a judge that always agreed with itself or always answered 0 fails here.
The hostile corpus is the training verifier's own (tests/test_verifiers_code_hostile.py):
each candidate there returns the right answer only if its attack worked, or tries to fake
a pass without computing it, so a second opinion of 1.0 on any of them is an escape or a
forged pass.
"""
from __future__ import annotations

import importlib.util
import math
import os
import textwrap
import time
from pathlib import Path

import pytest

from harness.integrity import code_judge
from harness.integrity import _code_judge_sandboxed as wire
from harness.integrity.monitor import SECOND_OPINION, IntegrityMonitor, MonitorSettings
from verifiers import sandbox, verify, verify_batch

pytestmark = pytest.mark.skipif(sandbox.sandbox_problem() is not None,
                                reason=f"no bubblewrap sandbox here: {sandbox.sandbox_problem()}")

ADD_TESTS = textwrap.dedent("""
    def check(candidate):
        assert candidate(2, 3) == 5
        assert candidate(10, -4) == 6
        assert candidate(0, 0) == 0
""")
ADD = {"domain": "code", "id": "add", "prompt": "# add two numbers\n", "tests": ADD_TESTS, "entry_point": "add"}
RIGHT = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return a - b\n"  # right on (0, 0) only: fails the first assertion
HOSTILE_TIMEOUT_S = 1.5


def _judge(program: str, tests: str = ADD_TESTS, entry_point: str = "add", timeout_s: float = 5.0) -> float | None:
    return code_judge.judge_program(program, tests, entry_point, "", timeout_s)["score"]


def _bwrap_children() -> list[int]:
    """This process's child processes that are bubblewrap (a judge's sandboxes left running)."""
    found = []
    for pid, (parent, _) in sandbox.process_table().items():
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if parent == os.getpid() and name == "bwrap":
            found.append(pid)
    return found


# --- the wire format ----------------------------------------------------------------------

def test_literal_lines_round_trip_plain_values_and_refuse_anything_that_would_run() -> None:
    values = [5, -0.0, 1e308, "a\nb'\"", b"\x00\xff", None, True, (1, [2, {3: "x"}]), {1, 2}, set(),
              frozenset({1}), {"k": (1.5, 2j)}, complex(-1, -2), [float("inf"), -float("inf")]]
    for value in values:
        back = wire.literal(wire.encode_line(wire.plain(value)).decode())
        assert back == value and type(back) is type(value), value
    assert math.isnan(wire.literal(wire.encode_line(float("nan")).decode()))
    for text in ["__import__('os').system('true')", "(1).__class__", "open('/etc/passwd')", "x", "[i for i in ()]",
                 "lambda: 1", "{**{}}", "[" * 100_000 + "]" * 100_000]:
        with pytest.raises(ValueError):
            wire.literal(text)
    with pytest.raises(wire.Unencodable):
        wire.plain(object())
    with pytest.raises(wire.Unencodable):  # an object that would answer == with True never crosses
        wire.plain(type("Anything", (), {"__eq__": lambda self, other: True})())


def test_program_is_the_last_python_fence_else_the_whole_response() -> None:
    assert code_judge.program_of("x\n```python\na = 1\n```\nthen\n```py\nb = 2\n```\n") == "b = 2\n"
    assert code_judge.program_of("```text\nnot code\n```\n```\nc = 3\n```") == "c = 3\n"
    assert code_judge.program_of("def f(): pass\n") == "def f(): pass\n"


# --- verdicts -----------------------------------------------------------------------------

def test_right_and_wrong_programs_get_the_verdict_the_training_verifier_gives() -> None:
    from harness.tasks.registry import SUITES

    item = SUITES["code"]("validation", limit=1)[0]
    entry = item["entry_point"]
    wrong_synth = f"def {entry}(x):\n    return 'not a number'\n"
    cases = [(RIGHT, ADD, 1.0), (WRONG, ADD, 0.0), ("```python\n" + RIGHT + "```", ADD, 1.0),
             (item["solution"], item, 1.0), (wrong_synth, item, 0.0)]
    verifier = verify_batch("code", [program for program, _, _ in cases], [ref for _, ref, _ in cases])
    for (program, ref, expected), verdict in zip(cases, verifier):
        assert verdict.score == expected, (program, verdict)
        opinion = code_judge.judge_program(code_judge.program_of(program), ref["tests"], ref["entry_point"],
                                           ref.get("prompt", ""))
        assert opinion["score"] == expected, (program, opinion)
    assert _bwrap_children() == []


def test_an_accept_all_verifier_shows_as_disagreements_that_are_kept_as_samples(tmp_path: Path) -> None:
    texts = [RIGHT, WRONG, "```python\n" + RIGHT + "```", "def add(a, b):\n    return 5\n"]
    wrong = {1, 3}  # by construction: a - b, and a constant right on the first assertion only
    assert [verify("code", t, ADD).score for t in texts] == [0.0 if i in wrong else 1.0 for i in range(4)]
    settings = MonitorSettings(second_opinion_rewarded=4, second_opinion_unrewarded=4)

    def observe(rewards: list[float]) -> dict:
        monitor = IntegrityMonitor(tmp_path / "integrity.jsonl", max_new_tokens=200, seed=0, settings=settings)
        monitor.observe(1, [ADD], texts, [40] * len(texts), rewards)
        return monitor.rows[-1]

    planted = observe([1.0] * len(texts))  # the planted hole: a training verifier that accepts everything
    assert planted["second_opinion"]["judged"] == 4 and planted["second_opinion"]["abstain"] == 0
    assert planted["second_opinion"]["disagree"] == len(wrong)
    kept = [s for s in planted["samples"] if s["detector"] == SECOND_OPINION]
    assert sorted(s["completion"] for s in kept) == sorted(texts[i] for i in wrong)
    assert all(s["reward"] == 1.0 and s["second_opinion"] == 0.0 for s in kept)
    assert all(s["reason"].startswith(code_judge.JUDGE) for s in kept)

    honest = observe([v.score for v in verify_batch("code", texts, [ADD] * len(texts))])
    assert honest["second_opinion"]["judged"] == 4 and honest["second_opinion"]["disagree"] == 0
    assert not [s for s in honest["samples"] if s["detector"] == SECOND_OPINION]


def test_without_a_sandbox_the_judge_abstains_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "sandbox_problem", lambda: "bubblewrap (bwrap) is required")
    opinion = code_judge.judge_program(RIGHT, ADD_TESTS, "add")
    assert opinion["score"] is None and "bubblewrap (bwrap) is required" in opinion["detail"]


def test_tests_that_do_not_load_or_never_call_the_candidate_give_no_opinion() -> None:
    assert _judge(RIGHT, tests="def check(candidate):\n    assert helper_missing(1)\n") is None
    assert _judge(RIGHT, tests="def check(candidate):\n    pass\n") is None
    assert _judge(RIGHT, tests="this is not python") is None


def test_programs_past_their_time_limit_fail_together_and_leave_no_sandbox() -> None:
    sleeper = "import time\ndef add(a, b):\n    time.sleep(60)\n"
    checks = [{"program": sleeper, "tests": ADD_TESTS, "entry_point": "add", "timeout_s": 2.0}] * 3
    checks.append({"program": RIGHT, "tests": ADD_TESTS, "entry_point": "add", "timeout_s": 2.0})
    started = time.monotonic()
    assert [o["score"] for o in code_judge.judge_programs(checks)] == [0.0, 0.0, 0.0, 1.0]
    # a batch's checks run at once: one after another the sleepers alone would take 3 x 2 s
    assert time.monotonic() - started < 4.5
    assert _bwrap_children() == []


# --- hostile candidates -------------------------------------------------------------------

def _hostile_corpus() -> object:
    path = Path(__file__).with_name("test_verifiers_code_hostile.py")
    spec = importlib.util.spec_from_file_location("hostile_corpus_for_the_code_judge", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


VERDICT_LINE = '{"passed": true, "status": "ok", "detail": "all tests passed", "calls": 3}'
OWN_FORGERIES = {
    "print_a_pass_verdict_then_exit_zero": f"import os\nprint({VERDICT_LINE!r}, flush=True)\nos._exit(0)\n"
                                           "def add(a, b):\n    return a + b\n",
    "verdict_line_on_every_fd_then_exit_zero": textwrap.dedent(f"""
        import os
        for fd in range(0, 64):
            try:
                os.write(fd, ({VERDICT_LINE!r} + "\\n").encode())
            except OSError:
                pass
        os._exit(0)
        def add(a, b):
            return a + b
    """),
    "exit_zero_from_the_first_call": "import os\ndef add(a, b):\n    os._exit(0)\n",
    "kill_every_process_it_can_see_then_exit_zero": "import os, signal\ndef add(a, b):\n"
                                                    "    os.kill(-1, signal.SIGKILL)\n    os._exit(0)\n",
    # this judge's stand-ins for the corpus case it leaves out (NOT_APPLICABLE)
    "read_kernel_only_proc_files_here": textwrap.dedent("""
        def add(a, b):
            for path in ("/proc/kmsg", "/proc/kpagecount", "/proc/timer_list", "/proc/1/environ", "/proc/1/mem"):
                try:
                    open(path, "rb").read(64)
                    return a + b
                except OSError:
                    pass
            return -1
    """),
    "see_or_signal_another_process": textwrap.dedent("""
        import os
        def add(a, b):
            others = [int(e) for e in os.listdir("/proc") if e.isdigit() and int(e) != os.getpid()]
            return a + b if others or os.getpid() != 1 else -1
    """),
    "excepthook_turns_failure_into_exit_zero": textwrap.dedent("""
        import os, sys, atexit
        sys.excepthook = lambda *args: os._exit(0)
        atexit.register(lambda: os._exit(0))
        def add(a, b):
            return a - b
    """),
}


#: corpus cases whose premise is the verifier's zygote, with why they do not apply here
NOT_APPLICABLE = {
    "read_kernel_only_proc_files": "it counts reading /proc/1/maps as a way out, since on the verifier's path pid 1 is "
                                   "the zygote; here pid 1 is the candidate itself, alone in its pid namespace "
                                   "(see_or_signal_another_process), and its own maps are no escape. The kernel-only "
                                   "files it probes are in read_kernel_only_proc_files_here",
}


def test_hostile_candidates_never_get_a_passing_second_opinion(tmp_path: Path) -> None:
    corpus = _hostile_corpus()
    outside = tmp_path / "written_by_a_candidate"
    cases = {name: (corpus._source(source), ADD_TESTS, "add") for name, (source, _) in corpus.HOSTILE.items()
             if name not in NOT_APPLICABLE}
    cases.update({name: (corpus._source(source), corpus._source(tests), "f")
                  for name, (source, tests, _) in corpus.FORGED.items()})
    cases.update({name: (source, ADD_TESTS, "add") for name, source in OWN_FORGERIES.items()})
    cases["write_outside_then_answer"] = (
        f"def add(a, b):\n    try:\n        open({str(outside)!r}, 'w').write('x')\n    except OSError:\n"
        f"        return -1\n    return a + b\n", ADD_TESTS, "add")
    names = list(cases)
    passed = {}
    for first in range(0, len(names), 8):  # batches of 8, as the monitor sends them (8 judged a step)
        batch = names[first:first + 8]
        opinions = code_judge.judge_programs([
            {"program": cases[n][0], "tests": cases[n][1], "entry_point": cases[n][2], "timeout_s": HOSTILE_TIMEOUT_S}
            for n in batch])
        passed.update({n: o["detail"] for n, o in zip(batch, opinions) if o["score"] == 1.0})
    assert passed == {}, passed
    assert len(cases) > 60  # the whole corpus ran, not an empty import
    assert not outside.exists()
    assert not os.path.exists(corpus.HOST_MARKER) and not os.path.exists(corpus.PROJECT_MARKER)
    assert _bwrap_children() == []
    # the judge still works after the corpus, so the zeros above were not a broken sandbox
    assert _judge(RIGHT) == 1.0
