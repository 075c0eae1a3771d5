"""The verifiers contract: Verdict, dispatch, CLI, sandbox refusal, pools that heal."""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from verifiers import STATUSES, Verdict, verify, verify_batch
from verifiers import sandbox
from verifiers.cli import main as cli_main
from verifiers.math_verifier import math_pool

ADD = {"tests": "def check(candidate):\n    assert candidate(2, 3) == 5\n", "entry_point": "add"}
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_verdict_is_frozen_and_validated():
    verdict = Verdict(1.0, "ok", "fine")
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.score = 0.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        Verdict(1.0, "timeout", "only ok can score")
    with pytest.raises(ValueError):
        Verdict(0.5, "ok", "no partial credit")
    with pytest.raises(ValueError):
        Verdict(0.0, "great", "unknown status")
    assert STATUSES == {"ok", "no_answer", "parse_error", "timeout", "runtime_error",
                        "memory_limit", "sandbox_violation", "output_limit",
                        "internal_error"}


def test_unknown_domain_and_length_mismatch_are_errors():
    with pytest.raises(ValueError, match="unknown verifier domain"):
        verify("poetry", "x", "y")
    with pytest.raises(ValueError, match="2 responses but 1 references"):
        verify_batch("math", ["A: 1", "A: 2"], ["1"])


def test_verifiers_import_nothing_from_harness():
    code = ("import sys, verifiers, verifiers.cli, verifiers.math_verifier, "
            "verifiers.code_verifier, verifiers.science_verifier, verifiers._code_worker, "
            "verifiers._math_worker; print([m for m in sys.modules if m.startswith('harness')])")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_code_verifier_refuses_without_bubblewrap(monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    sandbox.sandbox_problem.cache_clear()
    try:
        with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install bubblewrap"):
            verify("code", "def add(a, b):\n    return a + b\n", ADD)
    finally:
        sandbox.sandbox_problem.cache_clear()


def test_cli_refuses_code_without_bubblewrap(monkeypatch, capsys):
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    sandbox.sandbox_problem.cache_clear()
    try:
        code = cli_main(["code", "--response", "def add(a, b): return a + b",
                         "--reference", json.dumps(ADD)])
    finally:
        sandbox.sandbox_problem.cache_clear()
    assert code == 2
    assert "apt-get install bubblewrap" in capsys.readouterr().err


def test_unsafe_no_sandbox_flag_runs_without_bubblewrap(monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    sandbox.sandbox_problem.cache_clear()
    try:
        right = verify("code", "def add(a, b):\n    return a + b\n", ADD, unsafe_no_sandbox=True)
        wrong = verify("code", "def add(a, b):\n    return a - b\n", ADD, unsafe_no_sandbox=True)
        slow = verify("code", "def add(a, b):\n    while True: pass\n", ADD,
                      unsafe_no_sandbox=True, timeout_s=1.0)
    finally:
        sandbox.sandbox_problem.cache_clear()
    assert (right.score, wrong.score) == (1.0, 0.0)
    assert slow.status == "timeout"


@pytest.mark.parametrize("argv, expected", [
    (["math", "--response", "so\nA: \\frac{1}{2}", "--reference", "0.5"], (1.0, "ok")),
    (["math", "--response", "nothing", "--reference", "{\"answer\": \"3\"}"], (0.0, "no_answer")),
    (["science", "--response", "A: 980 cm/s^2", "--reference", "{\"answer\": \"9.8 m/s^2\"}"],
     (1.0, "ok")),
    (["code", "--response", "def add(a, b):\n    return a + b", "--reference", json.dumps(ADD),
      "--timeout-s", "5"], (1.0, "ok")),
])
def test_cli_prints_the_verdict_as_json(argv, expected, capsys):
    assert cli_main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["score"], printed["status"]) == expected
    assert set(printed) == {"score", "status", "detail"}


def test_math_pool_replaces_a_worker_killed_from_outside():
    pool = math_pool()
    pool.warm()
    for worker in list(pool._workers):
        os.kill(worker.proc.pid, signal.SIGKILL)
    time.sleep(0.1)
    verdict = verify("math", "\\boxed{x+x}", "2x", timeout_s=30)
    assert (verdict.score, verdict.status) == (1.0, "ok")


def test_verify_batch_works_from_a_non_main_thread():
    results = {}

    def work():
        results["math"] = verify_batch("math", ["\\boxed{\\{1,2\\}}"], ["\\{2,1\\}"], timeout_s=30)
        results["code"] = verify_batch("code", ["def add(a, b):\n    return a + b\n"], [ADD])

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(120)
    assert [v.score for v in results["math"] + results["code"]] == [1.0, 1.0]


def test_plain_data_round_trips_through_the_proxy():
    tests = textwrap.dedent("""
        def check(candidate):
            value = candidate((1, 2), {3, 4}, {"k": [1.5, None, True]}, frozenset({5}))
            assert value == ((1, 2), {3, 4}, {"k": [1.5, None, True]}, frozenset({5}))
            assert type(value[0]) is tuple and type(value[1]) is set
            assert candidate(x=-7) == -7
    """)
    source = "def echo(*args, x=None):\n    return args if args else x\n"
    assert verify("code", source, {"tests": tests, "entry_point": "echo"}).score == 1.0


def test_candidate_exceptions_reach_tests_that_expect_them():
    tests = textwrap.dedent("""
        def check(candidate):
            try:
                candidate(-1)
            except ValueError:
                pass
            else:
                raise AssertionError("no ValueError")
            assert candidate(4) == 2
    """)
    source = "def root(x):\n    if x < 0:\n        raise ValueError('negative')\n    return x ** 0.5\n"
    assert verify("code", source, {"tests": tests, "entry_point": "root"}).score == 1.0


def test_tests_that_swallow_errors_cannot_be_passed_by_a_timeout():
    tests = textwrap.dedent("""
        def check(candidate):
            try:
                candidate(1)
            except BaseException:
                pass
    """)
    source = "def spin(x):\n    while True:\n        pass\n"
    verdict = verify("code", source, {"tests": tests, "entry_point": "spin"}, timeout_s=1.0)
    assert (verdict.score, verdict.status) == (0.0, "timeout")


def test_tests_that_never_call_the_candidate_do_not_pass():
    verdict = verify("code", "def f():\n    return 1\n",
                     {"tests": "def check(candidate):\n    pass\n", "entry_point": "f"})
    assert (verdict.score, verdict.status) == (0.0, "internal_error")


def test_code_reference_without_tests_is_a_clear_error():
    with pytest.raises(ValueError, match="'tests'"):
        verify("code", "def f(): pass", {"answer": "1"})


def test_large_unicode_candidate_source_reaches_the_sandbox():
    padding = "# " + "é" * 150_000 + "\n"
    source = padding + "def add(a, b):\n    return a + b\n"
    assert verify("code", source, ADD).score == 1.0


def test_candidate_runs_in_bubblewrap_as_nobody_without_project_or_home():
    assert sandbox.sandbox_problem() is None, sandbox.sandbox_problem()
    tests = textwrap.dedent("""
        def check(candidate):
            uid, root, writable = candidate()
            assert uid == 65534, uid
            assert not {"work", "root", "home", "etc"} & set(root), root
            assert writable is False
    """)
    source = textwrap.dedent("""
        import os
        def probe():
            try:
                open("/tmp/probe", "w").close()
                writable = True
            except OSError:
                writable = False
            return os.getuid(), sorted(os.listdir("/")), writable
    """)
    verdict = verify("code", source, {"tests": tests, "entry_point": "probe"})
    assert (verdict.score, verdict.status) == (1.0, "ok"), verdict
