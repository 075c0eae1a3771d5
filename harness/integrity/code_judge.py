"""The code second opinion: the item's tests run again on another harness path.

What is the same as the training verifier (``verifiers/code_verifier.py``): the sandbox.
Both candidate and tests run under ``verifiers.sandbox.bwrap_command`` (bubblewrap started
as nobody when we are root, never host root; new user/pid/net/ipc/uts/cgroup namespaces, so
no network; read-only /usr, interpreter and site-packages only; read-only empty /tmp and
/dev; kernel /proc entries read-only; all capabilities dropped; no nested user namespaces;
clear environment; the interpreter as the namespace's pid 1; killed with its parent), with
the candidates' seccomp filter (``seccomp_program(allow_processes=False)``: no fork, no
clone without CLONE_THREAD, no ptrace, no process_vm_*, no keyrings, no SysV/POSIX IPC
objects, no unshare/setns) installed by bubblewrap for the whole process, and the
candidates' rlimits (``sandbox.Limits``: CPU seconds, 512 MiB address space, 1 MiB files,
64 open files, 64 processes/threads, no core dumps) set as hard limits by the process on
itself before it reads any program text. The host gives both a wall-clock limit and kills
each sandbox's process tree afterwards (``kill_process_tree``), and bubblewrap gets
SIGKILL when the judge worker that started it dies.

What differs, so a bug on one path does not repeat on the other:
- no zygote and no fork: two fresh ``python -I -S -B`` interpreters per judged program;
- the tests run in a sandbox of their own (``_code_judge_sandboxed.py``, role ``tests``),
  not in the host worker, and talk to the candidate's sandbox directly over a socket pair
  the host hands over and closes;
- the wire format is one ``repr`` per line read back by an AST walk over literal nodes,
  not length-prefixed JSON with the worker's encoder, and the in-place state of the
  arguments is not copied back;
- the verdict is the tests' interpreter's exit status (0 passed, 1 failed, 2 no verdict),
  confirmed by its one JSON line, not a reply on the worker's channel;
- the program is taken from the completion by this module's own reading of fences.

Why the candidate cannot forge a pass here: it shares its process with nothing that
decides the verdict. Its exit status and output are thrown away (only the tests'
interpreter's count), its return values reach the tests as builtin literals (no object
with an ``__eq__`` that always agrees), and everything it writes on the socket is parsed
as data. A candidate that exits or prints before the tests run leaves the tests reading
end-of-file: failed.
"""
from __future__ import annotations

import json
import math
import os
import re
import select
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SANDBOXED_SOURCE_PATH = Path(__file__).with_name("_code_judge_sandboxed.py")
#: the training verifier's own per-check limit (verifiers.code_verifier.DEFAULT_TIMEOUT_S),
#: so a program the verifier let finish is not failed here for being slow
DEFAULT_TIMEOUT_S = 10.0
#: sandbox start-up and the tests' loading on top of the candidate's time
HOST_GRACE_S = 5.0
MAX_PROGRAM_CHARS = 200_000
JUDGE = "code tests, second sandbox path"
_FENCE = re.compile(r"```(?P<lang>[^\n`]*)\n(?P<body>.*?)```", re.DOTALL)
_PYTHON_TAGS = ("", "python", "python3", "py")


def program_of(response: str) -> str:
    """The program in a model's response: the last fenced block tagged Python (or
    untagged) when the response has fences, else the whole response."""
    blocks = [m.group("body") for m in _FENCE.finditer(response) if m.group("lang").strip().lower() in _PYTHON_TAGS]
    return blocks[-1] if blocks else response


def _opinion(score: float | None, detail: str) -> dict[str, Any]:
    return {"score": score, "detail": detail[:300], "judge": JUDGE}


@dataclass
class _Running:
    """One judged program's two sandboxes while they run."""

    index: int
    candidate: subprocess.Popen
    runner: subprocess.Popen
    runner_stderr: Any          # a temporary file: a pipe nobody reads could stall the tests
    deadline: float
    timeout_s: float


def _start(role_arguments: list[str], channel_fd: int, stdin: int, stdout: Any, stderr: Any) -> subprocess.Popen:
    """One sandboxed interpreter running ``_code_judge_sandboxed.py`` in a role."""
    from verifiers import sandbox
    from verifiers.worker_pool import set_parent_death_signal

    seccomp_read, seccomp_write = os.pipe()
    try:
        os.write(seccomp_write, sandbox.seccomp_program(allow_processes=False))
    finally:
        os.close(seccomp_write)
    ids = sandbox.bwrap_host_ids()
    as_user = {} if ids is None else {"user": ids[0], "group": ids[1], "extra_groups": []}
    arguments = ["-I", "-S", "-B", "-c", SANDBOXED_SOURCE_PATH.read_text(encoding="utf-8"), *role_arguments]
    try:
        # preexec_fn: the judge runs in its single-threaded worker process (harness.integrity._judge_worker)
        return subprocess.Popen(
            sandbox.bwrap_command(seccomp_read, None, arguments), stdin=stdin, stdout=stdout, stderr=stderr,
            pass_fds=(seccomp_read, channel_fd), env={}, cwd="/", start_new_session=True,
            preexec_fn=set_parent_death_signal, **as_user)
    finally:
        os.close(seccomp_read)


def _feed(fd: int, data: bytes, deadline: float) -> None:
    """Write ``data`` to the pipe ``fd`` and close it, giving up at ``deadline`` (a sandbox
    that is gone or stuck then sees end-of-file, and the tests see it fail)."""
    os.set_blocking(fd, False)
    view = memoryview(data)
    try:
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([], [fd], [], remaining)[1]:
                return
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                continue
    except OSError:
        return
    finally:
        os.close(fd)


def _refusal(program: str) -> dict[str, Any] | None:
    if len(program) > MAX_PROGRAM_CHARS:
        return _opinion(0.0, f"program of {len(program)} chars (limit {MAX_PROGRAM_CHARS})")
    if not program.strip():
        return _opinion(0.0, "empty program")
    return None


def _launch(index: int, check: Mapping[str, Any], started: list[subprocess.Popen]) -> _Running:
    """Start both sandboxes of one check and hand each its input (appended to ``started``
    as they start, so the caller can kill them whatever happens)."""
    import tempfile

    from verifiers import sandbox

    timeout_s = float(check.get("timeout_s", DEFAULT_TIMEOUT_S))
    limits = json.dumps(sandbox.Limits(cpu_seconds=int(math.ceil(timeout_s)) + 1).as_rlimits())
    site_dirs = json.dumps(list(sandbox.sandbox_python().site_dirs))
    deadline = time.monotonic() + timeout_s + HOST_GRACE_S
    stderr = tempfile.TemporaryFile()
    tests_end, candidate_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pipes: list[int] = []
    try:
        candidate_in, candidate_feed = os.pipe()
        pipes += [candidate_in, candidate_feed]
        started.append(_start(["candidate", str(candidate_end.fileno()), limits, site_dirs, str(check["entry_point"])],
                              candidate_end.fileno(), candidate_in, subprocess.DEVNULL, subprocess.DEVNULL))
        runner_in, runner_feed = os.pipe()
        pipes += [runner_in, runner_feed]
        started.append(_start(["tests", str(tests_end.fileno()), limits, site_dirs],
                              tests_end.fileno(), runner_in, subprocess.PIPE, stderr))
    except BaseException:
        stderr.close()
        for fd in pipes:
            os.close(fd)
        raise
    finally:  # each sandbox holds its own end now; ours would keep the other side from seeing EOF
        tests_end.close()
        candidate_end.close()
    os.close(candidate_in)
    os.close(runner_in)
    _feed(candidate_feed, str(check["program"]).encode("utf-8", "replace"), deadline)
    request = {"tests": check["tests"], "prompt": check.get("prompt") or "", "entry_point": check["entry_point"],
               "timeout_s": timeout_s}
    _feed(runner_feed, json.dumps(request).encode(), deadline)
    return _Running(index, started[-2], started[-1], stderr, deadline, timeout_s)


def _collect(running: _Running) -> dict[str, Any]:
    try:
        out, _ = running.runner.communicate(timeout=max(0.1, running.deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return _opinion(0.0, f"timeout: the check ran past {running.timeout_s:g} s (+ {HOST_GRACE_S:g} s)")
    running.runner_stderr.seek(0)
    return _verdict(running.runner.returncode, out, running.runner_stderr.read(4096))


def judge_programs(checks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Opinions on ``checks``, in order; each {"program", "tests" (source defining
    ``check(candidate)``), "entry_point", "prompt" (trusted helpers the tests call, may be
    empty), "timeout_s" (the candidate's limit, default the verifier's)}.

    Every check's two sandboxes start before any is waited for, so a batch takes about as
    long as its slowest check, not the sum. Each opinion is {"score": 1.0 all tests passed /
    0.0 failed (an assertion, an exception, the candidate's process ending, the time limit)
    / None no verdict (no sandbox here, the tests did not load or never called the
    candidate), "detail", "judge"}. Model text is never run outside the sandbox; without a
    working sandbox every check is an abstention that says why."""
    from verifiers import sandbox
    from verifiers.code_verifier import kill_process_tree

    problem = sandbox.sandbox_problem()
    if problem is not None:
        return [_opinion(None, f"no sandbox here, no second opinion: {problem}") for _ in checks]
    opinions: list[dict[str, Any] | None] = [_refusal(str(check["program"])) for check in checks]
    started: list[subprocess.Popen] = []
    running: list[_Running] = []
    try:
        for index, check in enumerate(checks):
            if opinions[index] is None:
                running.append(_launch(index, check, started))
        for run in running:
            opinions[run.index] = _collect(run)
    finally:
        for proc in started:
            if proc.poll() is None:  # not reaped yet, so its pid cannot have been reused
                kill_process_tree(proc.pid)
            proc.wait()
        for run in running:
            run.runner_stderr.close()
    return opinions  # type: ignore[return-value]


def judge_program(program: str, tests: str, entry_point: str, prompt: str = "",
                  timeout_s: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    """``judge_programs`` for one program."""
    return judge_programs([{"program": program, "tests": tests, "entry_point": entry_point, "prompt": prompt,
                            "timeout_s": timeout_s}])[0]


def _verdict(returncode: int, out: bytes, err: bytes) -> dict[str, Any]:
    """The opinion from the tests' interpreter's exit status and its verdict line; the two
    must agree, else no opinion."""
    try:
        verdict = json.loads(out.decode("utf-8").splitlines()[0])
    except (ValueError, IndexError):
        tail = err.decode("utf-8", "replace").strip()[-200:]
        return _opinion(None, f"the tests' sandbox gave no verdict (exit {returncode}): {tail}")
    detail = f"{verdict.get('status')}: {verdict.get('detail')} ({verdict.get('calls')} calls)"
    if returncode == 0 and verdict.get("passed") is True:
        return _opinion(1.0, detail)
    if returncode == 1 and verdict.get("passed") is False:
        return _opinion(0.0, detail)
    if returncode == 2 and verdict.get("passed") is None:
        return _opinion(None, detail)
    return _opinion(None, f"exit {returncode} disagrees with the verdict line: {detail}")


def request_for_code(completion: str, item: dict[str, Any], timeout_s: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    """The judge worker's request for one completion of a code ``item``: the program as the
    task defines it (``harness.tasks.registry.verifier_response``: stop strings, the prompt
    prepended for completion-style items), then this module's fence reading."""
    from harness.tasks.registry import verifier_response

    return {"domain": "code", "program": program_of(verifier_response(item, completion)),
            "tests": str(item.get("tests", "")), "entry_point": str(item.get("entry_point", "")),
            "prompt": str(item.get("prompt") or ""),
            "timeout_s": float(timeout_s)}
