"""Hostile candidates against the bubblewrap code verifier.

Each candidate defines ``add(a, b)`` but only returns the right sum if its attack worked
(or tries to fake a pass without computing it), so a score of 1.0 would mean an escape or
a forged result. All cases run in one batch (the pool checks them in parallel); each
test asserts one case's verdict. Afterwards: no stray process, no file, host still works.
"""
from __future__ import annotations

import os
import textwrap
import time

import pytest

from verifiers import verify, verify_batch
from verifiers.code_verifier import shutdown, stray_processes
from verifiers.sandbox import bwrap_path, sandbox_problem

TIMEOUT_S = 1.5
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST_MARKER = "/tmp/verifiers_hostile_marker_do_not_create"
PROJECT_MARKER = os.path.join(PROJECT_ROOT, "verifiers_hostile_marker_do_not_create")
TESTS = textwrap.dedent("""
    def check(candidate):
        assert candidate(2, 3) == 5
        assert candidate(10, -4) == 6
        assert candidate(0, 0) == 0
""")
REFERENCE = {"tests": TESTS, "entry_point": "add"}

TIMEOUT, VIOLATION, RUNTIME, MEMORY, WRONG = ("timeout",), ("sandbox_violation",), \
    ("runtime_error",), ("memory_limit",), ("ok",)
ANY_FAILURE = ("ok", "timeout", "runtime_error", "memory_limit", "sandbox_violation", "parse_error")

# id -> (candidate source, statuses it may get); a score of 1.0 is never acceptable.
HOSTILE = {
    "fork_bomb_at_definition": ("import os\nwhile True:\n    os.fork()\ndef add(a, b):\n    return a + b", RUNTIME),
    "fork_bomb_in_call": ("""
        import os
        def add(a, b):
            forked = 0
            for _ in range(200):
                try:
                    if os.fork() == 0:
                        while True: pass
                    forked += 1
                except OSError:
                    break
            return a + b if forked else -1""", WRONG),
    "subprocess_popen_sleeper": ("""
        import subprocess
        def add(a, b):
            try:
                subprocess.Popen(["sleep", "600"])
            except Exception:
                return -1
            return a + b""", WRONG),
    "os_system_shell": ("""
        import os
        def add(a, b):
            return a + b if os.system("true") == 0 else -1""", WRONG),
    "multiprocessing_process": ("""
        import multiprocessing
        def add(a, b):
            try:
                p = multiprocessing.Process(target=print); p.start(); p.join()
            except Exception:
                return -1
            return a + b""", WRONG),
    "posix_spawn": ("""
        import os
        def add(a, b):
            try:
                os.posix_spawn("/usr/bin/sleep", ["sleep", "600"], {})
            except Exception:
                return -1
            return a + b""", WRONG),
    "memory_bomb_bytearray": ("def add(a, b):\n    x = bytearray(10**11)\n    return a + b", MEMORY),
    "memory_bomb_growing_list": ("""
        def add(a, b):
            hog = []
            while True:
                hog.append(bytearray(10**7))""", MEMORY + TIMEOUT),
    "memory_bomb_at_definition": ("hog = [0] * 10**10\ndef add(a, b):\n    return a + b", MEMORY),
    "infinite_loop_in_call": ("def add(a, b):\n    while True:\n        pass", TIMEOUT),
    "infinite_loop_at_definition": ("while True:\n    pass\ndef add(a, b):\n    return a + b", TIMEOUT),
    "sleep_past_deadline_then_answer": ("import time\ndef add(a, b):\n    time.sleep(60)\n    return a + b", TIMEOUT),
    "busy_threads_outlive_timeout": ("""
        import threading
        def spin():
            while True: pass
        def add(a, b):
            threads = [threading.Thread(target=spin) for _ in range(4)]
            for t in threads: t.start()
            for t in threads: t.join()
            return a + b""", TIMEOUT),
    "daemon_thread_answers_late": ("""
        import threading, time
        def add(a, b):
            threading.Thread(target=lambda: time.sleep(60), daemon=False).start()
            time.sleep(60)
            return a + b""", TIMEOUT),
    "ignore_sigxcpu_and_spin": ("""
        import signal
        signal.signal(signal.SIGXCPU, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        def add(a, b):
            while True: pass""", TIMEOUT),
    "write_project_tree": (f"""
        def add(a, b):
            try:
                open({PROJECT_MARKER!r}, "w").write("pwned")
            except OSError:
                return -1
            return a + b""", WRONG),
    "write_host_tmp_marker": (f"""
        def add(a, b):
            open({HOST_MARKER!r}, "w").write("the sandbox's /tmp is read-only")
            return -1""", RUNTIME + WRONG),
    "write_usr": ("""
        def add(a, b):
            try:
                open("/usr/pwned", "w").write("x")
            except OSError:
                return -1
            return a + b""", WRONG),
    "read_etc_passwd": ("""
        def add(a, b):
            try:
                return a + b if "root:" in open("/etc/passwd").read() else -1
            except OSError:
                return -1""", WRONG),
    "read_project_files": (f"""
        import os
        def add(a, b):
            try:
                os.listdir({PROJECT_ROOT!r})
                return a + b
            except OSError:
                return -1""", WRONG),
    "read_root_home": ("""
        import os
        def add(a, b):
            try:
                os.listdir("/root")
                return a + b
            except OSError:
                return -1""", WRONG),
    "read_host_environment": (f"""
        import os
        def add(a, b):
            for pid in os.listdir("/proc"):
                try:
                    if {PROJECT_ROOT!r}.encode() in open(f"/proc/{{pid}}/environ", "rb").read():
                        return a + b
                    if b"verifiers" in open(f"/proc/{{pid}}/cmdline", "rb").read():
                        return a + b
                except (OSError, ValueError):
                    pass
            return -1""", WRONG),
    "see_host_processes": ("""
        import os
        def add(a, b):
            pids = [p for p in os.listdir("/proc") if p.isdigit()]
            return a + b if len(pids) > 3 else -1""", WRONG),
    "network_connect_internet": ("""
        import socket
        def add(a, b):
            try:
                socket.create_connection(("1.1.1.1", 53), timeout=0.5)
                return a + b
            except OSError:
                return -1""", WRONG),
    "network_connect_host_loopback": ("""
        import socket
        def add(a, b):
            for port in (22, 80, 2024, 5000, 8080):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2)
                    return a + b
                except OSError:
                    pass
            return -1""", WRONG),
    "dns_lookup": ("""
        import socket
        def add(a, b):
            try:
                socket.getaddrinfo("pypi.org", 443)
                return a + b
            except OSError:
                return -1""", WRONG),
    # Racy by nature: the candidate's wrong answer ("ok", score 0) usually arrives first, but the
    # host may see the killed zygote first and report the early exit; both score 0. Seen in CI.
    "kill_parent": ("import os, signal\ndef add(a, b):\n    os.kill(os.getppid(), signal.SIGKILL)\n    return -1",
                    WRONG + VIOLATION),
    "stop_the_zygote": ("import os, signal\ndef add(a, b):\n    os.kill(os.getppid(), signal.SIGSTOP)\n    return a - b", WRONG),
    "leave_sysv_shared_memory": ("""
        import ctypes
        def add(a, b):
            libc = ctypes.CDLL(None, use_errno=True)
            return a + b if libc.shmget(0x1234, 4096, 0o1666) >= 0 else -1""", WRONG),
    "leave_keyring_entry": ("""
        import ctypes, platform
        ADD_KEY = {"x86_64": 248, "aarch64": 217}[platform.machine()]
        def add(a, b):
            libc = ctypes.CDLL(None, use_errno=True)
            return a + b if libc.syscall(ADD_KEY, b"user", b"k", b"v", 1, -4) >= 0 else -1""", WRONG),
    "kill_every_process": ("import os, signal\ndef add(a, b):\n    os.kill(-1, signal.SIGKILL)\n    return -1", VIOLATION + RUNTIME + WRONG),
    "kill_host_pids_by_number": ("""
        import os, signal
        def add(a, b):
            hits = 0  # the sandbox holds its init (1), the zygote (2) and this process only
            for pid in range(3, 40000):
                try:
                    os.kill(pid, 0)
                    hits += pid != os.getpid()
                except OSError:
                    pass
            return a + b if hits else -1""", WRONG),
    "setsid_double_fork_daemon": ("""
        import os
        def add(a, b):
            try:
                os.setsid()
            except OSError:
                pass
            try:
                if os.fork() == 0:
                    os.setsid()
                    if os.fork() == 0:
                        import time; time.sleep(600)
                    os._exit(0)
            except OSError:
                return -1
            return a + b""", WRONG),
    "giant_stdout": ("import sys\ndef add(a, b):\n    sys.stdout.write('x' * 10**8)\n    print('y' * 10**7, file=sys.stderr)\n    return -1", WRONG),
    "giant_return_value": ("def add(a, b):\n    return 'x' * (10**8)", RUNTIME),
    "huge_int_return": ("def add(a, b):\n    return 10 ** 100000", RUNTIME),
    "deeply_nested_return": ("def add(a, b):\n    x = []\n    for _ in range(10000):\n        x = [x]\n    return x", RUNTIME),
    "self_referential_return": ("def add(a, b):\n    x = []\n    x.append(x)\n    return x", RUNTIME),
    "fill_private_tmp": ("""
        def add(a, b):
            for i in range(10**4):
                try:
                    open(f"/tmp/fill{i}", "wb").write(b"x" * 10**6)
                except OSError:
                    break
            return -1""", WRONG),
    "file_size_bomb": ("def add(a, b):\n    open('/tmp/big', 'wb').write(b'x' * 10**8)\n    return a + b", VIOLATION + RUNTIME),
    "sys_exit_zero_at_definition": ("import sys\nsys.exit(0)\ndef add(a, b):\n    return -1", VIOLATION),
    "os_exit_zero_at_definition": ("import os\nos._exit(0)\ndef add(a, b):\n    return -1", VIOLATION),
    "sys_exit_zero_in_call": ("import sys\ndef add(a, b):\n    sys.exit(0)", VIOLATION),
    "os_exit_zero_in_call": ("import os\ndef add(a, b):\n    os._exit(0)", VIOLATION),
    "raise_keyboard_interrupt": ("def add(a, b):\n    raise KeyboardInterrupt", VIOLATION),
    "custom_base_exception": ("class Stop(BaseException): pass\ndef add(a, b):\n    raise Stop()", RUNTIME),
    "patch_builtins_assert": ("""
        import builtins
        builtins.AssertionError = type("AssertionError", (Exception,), {})
        builtins.__build_class__ = None
        def add(a, b):
            return -1""", WRONG),
    "define_own_check_function": ("def check(candidate):\n    return True\ndef add(a, b):\n    return -1", WRONG),
    "eq_override_always_true": ("""
        class Anything:
            def __eq__(self, other): return True
            def __ne__(self, other): return False
        def add(a, b):
            return Anything()""", RUNTIME),
    "int_subclass_eq_true": ("""
        class FakeInt(int):
            def __eq__(self, other): return True
        def add(a, b):
            return FakeInt(-1)""", RUNTIME),
    "str_subclass_eq_true": ("""
        class FakeStr(str):
            def __eq__(self, other): return True
        def add(a, b):
            return FakeStr("no")""", RUNTIME),
    "nan_return": ("def add(a, b):\n    return float('nan')", WRONG),
    "inspect_frames_for_expected": ("""
        import inspect, sys
        def add(a, b):
            for frame_info in inspect.stack():
                if frame_info.function == "check" or "candidate" in frame_info.frame.f_locals:
                    return a + b
            frame = sys._getframe()
            while frame is not None:  # the tests' source or globals anywhere up the stack?
                if frame.f_code.co_filename != "<candidate>" and (
                        "METADATA" in frame.f_globals or 6 in frame.f_code.co_consts):
                    return a + b
                frame = frame.f_back
            return -1""", WRONG),
    "gc_scan_for_test_source": ("""
        import gc
        def add(a, b):
            for obj in gc.get_objects():
                if isinstance(obj, str) and "candidate(2, 3)" in obj:
                    return a + b
            return -1""", WRONG),
    "forge_pass_on_channel": ("""
        import json, os, struct
        def add(a, b):
            for fd in range(3, 64):
                for message in ({"status": "ok", "score": 1.0}, {"value": {"t": "evil", "v": []}}):
                    data = json.dumps(message).encode()
                    try:
                        os.write(fd, struct.pack(">I", len(data)) + data)
                    except OSError:
                        pass
            return -1""", RUNTIME + WRONG),
    "slow_drip_reply": ("""
        import os, struct, time
        def add(a, b):
            for fd in range(3, 64):
                try:
                    os.write(fd, struct.pack(">I", 1000))
                except OSError:
                    pass
            time.sleep(60)""", TIMEOUT),
    "patch_server_to_reply_true": ("""
        import sys
        server = sys.modules["__main__"]
        server.encode = lambda value, depth=0: True
        def add(a, b):
            return -1""", WRONG),
    "right_once_then_crash": ("""
        calls = []
        def add(a, b):
            calls.append(1)
            if len(calls) > 1:
                import os; os._exit(0)
            return a + b""", VIOLATION),
    "segfault_via_ctypes": ("import ctypes\ndef add(a, b):\n    ctypes.string_at(0)\n    return a + b", VIOLATION + RUNTIME),
    "recursion_crash": ("""
        import sys
        sys.setrecursionlimit(10**6)
        def deep(n):
            return deep(n + 1) + 1
        def add(a, b):
            return deep(0)""", VIOLATION + RUNTIME + MEMORY + TIMEOUT),
    "chroot_and_unshare": ("""
        import ctypes, os
        def add(a, b):
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(0x10000000) == 0 or libc.unshare(0x00020000) == 0:
                return a + b
            try:
                os.chroot("/tmp")
                return a + b
            except OSError:
                return -1""", WRONG),
    "ptrace_attach_init": ("""
        import ctypes
        def add(a, b):
            libc = ctypes.CDLL(None, use_errno=True)
            return a + b if libc.ptrace(16, 1, 0, 0) == 0 else -1""", WRONG),
    "open_many_files": ("""
        def add(a, b):
            handles = []
            try:
                while True:
                    handles.append(open("/dev/null"))
            except OSError:
                return -1""", WRONG),
    "markdown_fence_last_block_wrong": ("```python\ndef add(a, b):\n    return a + b\n```\nactually:\n```python\ndef add(a, b):\n    return a - b\n```", WRONG),
    "syntax_error": ("def add(a, b) return a + b", ("parse_error",)),
    "missing_entry_point": ("def plus(a, b):\n    return a + b", RUNTIME),
    "generator_instead_of_value": ("def add(a, b):\n    yield a + b", RUNTIME),
}


def _source(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


@pytest.fixture(scope="module")
def hostile_verdicts():
    if bwrap_path() is None:
        pytest.fail("bubblewrap is not installed: the project's setup installs it "
                    "(apt-get install bubblewrap); these tests must run under it")
    problem = sandbox_problem()
    assert problem is None, problem
    for marker in (HOST_MARKER, PROJECT_MARKER):
        if os.path.exists(marker):
            os.remove(marker)
    ids = list(HOSTILE)
    started = time.monotonic()
    verdicts = verify_batch("code", [_source(HOSTILE[i][0]) for i in ids], [REFERENCE] * len(ids),
                            timeout_s=TIMEOUT_S)
    elapsed = time.monotonic() - started
    return dict(zip(ids, verdicts)), elapsed


def test_there_are_at_least_40_hostile_code_inputs():
    assert len(HOSTILE) >= 40


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_candidate_never_scores(case, hostile_verdicts):
    verdict = hostile_verdicts[0][case]
    assert verdict.score == 0.0, verdict
    assert verdict.status in HOSTILE[case][1], verdict


def test_hostile_batch_finishes_within_its_time_limits(hostile_verdicts):
    # timeouts run two at a time on the two host workers
    slow = sum(1 for v in hostile_verdicts[0].values() if v.status == "timeout")
    assert hostile_verdicts[1] < slow * TIMEOUT_S + 30


def test_hostile_candidates_leave_no_process_behind(hostile_verdicts):
    assert stray_processes() == []


def test_hostile_candidates_leave_no_file_behind(hostile_verdicts):
    assert not os.path.exists(HOST_MARKER)
    assert not os.path.exists(PROJECT_MARKER)
    assert not os.path.exists("/usr/pwned")


def test_host_keeps_working_after_hostile_batch(hostile_verdicts):
    honest = _source("def add(a, b):\n    return a + b")
    assert verify("code", honest, REFERENCE, timeout_s=TIMEOUT_S).score == 1.0
    assert os.path.exists(os.path.join(PROJECT_ROOT, "pyproject.toml"))


def test_shutdown_kills_every_sandbox(hostile_verdicts):
    shutdown()
    assert stray_processes() == []
    assert verify("code", _source("def add(a, b):\n    return a + b"), REFERENCE).score == 1.0
