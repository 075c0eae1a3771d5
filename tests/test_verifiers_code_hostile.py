"""Hostile candidates against the bubblewrap code verifier.

Each candidate defines ``add(a, b)`` but only returns the right sum if its attack worked
(or tries to fake a pass without computing it), so a score of 1.0 would mean an escape or
a forged result. FORGED holds candidates with their own tests: wrong answers that try to
steer the proxy into a pass (issue 16, finding 2). All cases run in one batch (the pool
checks them in parallel); each test asserts one case's verdict. Afterwards: no stray
process, no file, host still works. tests/test_sandbox_kill.py checks for strays the
moment each verdict returns; tests/test_sandbox_isolation.py proves each isolation layer
with a twin that shows its probe is not blind.
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

TIMEOUT, VIOLATION, RUNTIME, MEMORY, WRONG, OUTPUT = ("timeout",), ("sandbox_violation",), \
    ("runtime_error",), ("memory_limit",), ("ok",), ("output_limit",)
P = 2 ** 61 - 1  # hash(k * P + c) == hash(c): ints that all hash alike


def raw_reply(reply: str, encoded: bool = False) -> str:
    """A candidate that writes ``reply`` (a Python expression, JSON-encoded in the sandbox
    unless ``encoded``, then it is the bytes) framed straight onto its channel, bypassing
    the server's encoder: the host must cope with any bytes at a cost linear in their
    number."""
    data = reply if encoded else f"json.dumps({reply}).encode()"
    return f"""
        import json, os, struct
        def add(a, b):
            data = {data}
            message = struct.pack(">I", len(data)) + data
            for fd in range(3, 64):
                try:
                    while message:
                        message = message[os.write(fd, message):]
                except OSError:
                    pass
            return -1"""


def raw_header(length: int) -> str:
    """A candidate that announces a reply of ``length`` bytes and then sleeps."""
    return f"""
        import os, struct, time
        def add(a, b):
            for fd in range(3, 64):
                try:
                    os.write(fd, struct.pack(">I", {length}))
                except OSError:
                    pass
            time.sleep(60)"""

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
            hits = 0  # the sandbox holds the zygote (its init, pid 1) and this process only
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
    "giant_return_value": ("def add(a, b):\n    return 'x' * (10**8)", OUTPUT + MEMORY),
    "huge_int_return": ("def add(a, b):\n    return 10 ** 100000", WRONG),  # crosses as hex
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
            return FakeInt(-1)""", WRONG),  # crosses as the plain int -1
    "str_subclass_eq_true": ("""
        class FakeStr(str):
            def __eq__(self, other): return True
        def add(a, b):
            return FakeStr("no")""", WRONG),
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
    # --- host root by another name (issue 16, finding 1): each would work as host root ---
    "open_proc_sys_for_writing": ("""
        import os
        def add(a, b):
            opened = 0  # opening is enough; nothing is written, so a regression changes nothing
            for path in ("/proc/sys/fs/lease-break-time", "/proc/sys/kernel/core_pattern",
                         "/proc/sys/kernel/ns_last_pid", "/proc/sys/kernel/shmmax",
                         "/proc/sys/fs/mqueue/msg_max", "/proc/pressure/cpu"):
                try:
                    os.close(os.open(path, os.O_WRONLY))
                    opened += 1
                except OSError:
                    pass
            return a + b if opened else -1""", WRONG),
    "any_kernel_file_under_proc_writable": ("""
        import os
        def add(a, b):
            for root, dirs, files in os.walk("/proc"):
                top = root.split("/")[2] if root.count("/") >= 2 else ""
                if top.isdigit() or top in ("self", "thread-self"):
                    dirs[:] = []
                    continue
                if any(os.access(os.path.join(root, f), os.W_OK) for f in files + dirs):
                    return a + b
            return -1""", WRONG),
    "read_root_only_files_and_dirs": ("""
        import os, stat, time
        def add(a, b):
            # as much of the tree as the time limit allows; the deadline is checked per entry
            # (one directory such as /usr/lib/x86_64-linux-gnu holds thousands), so a loaded
            # CI machine still returns before the 1.5 s limit
            deadline = time.monotonic() + 0.7
            for top in ("/usr/share", "/usr/libexec", "/usr/lib", "/proc/sys", "/opt"):
                for root, dirs, files in os.walk(top):
                    for name in files + dirs:
                        if time.monotonic() > deadline:
                            return -1
                        path = os.path.join(root, name)
                        try:
                            info = os.lstat(path)
                            if info.st_mode & stat.S_IROTH or stat.S_ISLNK(info.st_mode):
                                continue
                            if stat.S_ISDIR(info.st_mode):
                                os.listdir(path)
                            else:
                                open(path, "rb").read(1)
                            return a + b  # only root (or its owner) may read it
                        except OSError:
                            pass
            return -1""", WRONG),
    "read_kernel_only_proc_files": ("""
        def add(a, b):
            # pid 1 is the zygote (non-dumpable): its memory would be a way out of this
            # candidate's own seccomp filter and rlimits
            for path in ("/proc/kmsg", "/proc/kpagecount", "/proc/timer_list", "/proc/1/environ",
                         "/proc/1/mem", "/proc/1/maps", "/proc/1/root/usr"):
                try:
                    open(path, "rb").read(64)
                    return a + b
                except OSError:
                    pass
            return -1""", WRONG),
    "threads_past_rlimit_nproc": ("""
        import threading
        def add(a, b):
            threading.stack_size(1 << 18)
            release, threads = threading.Event(), []
            try:
                for _ in range(150):
                    thread = threading.Thread(target=release.wait)
                    thread.start()
                    threads.append(thread)
            except RuntimeError:
                pass
            release.set()
            return a + b if len(threads) == 150 else -1""", WRONG),
    "raise_rlimit_nproc": ("""
        import resource
        def add(a, b):
            try:
                resource.setrlimit(resource.RLIMIT_NPROC, (10**6, 10**6))
                return a + b
            except (ValueError, OSError):
                return -1""", WRONG),
    "become_uid_zero": ("""
        import os
        def add(a, b):
            for change in (lambda: os.setuid(0), lambda: os.setresuid(0, 0, 0),
                           lambda: os.setgroups([0])):
                try:
                    change()
                    return a + b
                except OSError:
                    pass
            return -1""", WRONG),
    "write_own_uid_map": ("""
        def add(a, b):
            try:
                open("/proc/self/uid_map", "w").write("0 0 1")
                return a + b
            except OSError:
                return -1""", WRONG),
    # --- replies that would cost the host more than they cost the candidate (finding 3) ---
    "raw_set_of_ints_with_one_hash": (raw_reply(
        f"{{'value': {{'t': 'set', 'v': [k * {P} + 1 for k in range(150000)]}}}}"), OUTPUT),
    "raw_dict_keys_with_one_hash": (raw_reply(
        f"{{'value': {{'t': 'dict', 'v': [[-(k * {P}) - 5, k] for k in range(100000)]}}}}"),
        OUTPUT),
    "raw_frozenset_of_tuples_with_one_hash": (raw_reply(
        f"{{'value': {{'t': 'frozenset', 'v': [{{'t': 'tuple', 'v': [k * {P} + 7, 'x']}} "
        f"for k in range(60000)]}}}}"), OUTPUT),
    "raw_set_of_frozensets_with_one_hash": (raw_reply(
        f"{{'value': {{'t': 'set', 'v': [{{'t': 'frozenset', 'v': [k * {P} + 3]}} "
        f"for k in range(60000)]}}}}"), OUTPUT),
    "raw_colliding_set_nested_in_a_list": (raw_reply(
        f"{{'value': {{'t': 'list', 'v': [1, {{'t': 'set', 'v': "
        f"[k * {P} for k in range(100000)]}}]}}}}"),
        OUTPUT),
    "raw_colliding_set_in_mutated_arguments": (raw_reply(
        f"{{'value': 5, 'mutated': {{'args': {{'t': 'list', 'v': [{{'t': 'set', 'v': "
        f"[k * {P} + 2 for k in range(100000)]}}, 3]}}, 'kwargs': {{'t': 'dict', 'v': []}}}}}}"),
        OUTPUT),
    "raw_same_value_repeated_in_a_set": (raw_reply(
        "{'value': {'t': 'set', 'v': [5] * 300000}}"), OUTPUT),
    "colliding_set_built_in_the_sandbox": ("""
        def add(a, b):
            return {k * (2**61 - 1) + 5 for k in range(3000)}""", OUTPUT),
    "raw_header_claims_4_gb": (raw_header(2 ** 32 - 1), OUTPUT),
    "raw_header_just_over_the_cap": (raw_header(4 * 1024 * 1024 + 1), OUTPUT),
    "return_just_over_the_byte_cap": ("def add(a, b):\n    return 'x' * (4 * 1024 * 1024)", OUTPUT),
    "return_many_small_ints_over_the_cap": ("def add(a, b):\n    return list(range(10**6))",
                                            OUTPUT),
    "raw_nesting_past_the_depth_cap": (raw_reply(
        "{'value': __import__('functools').reduce(lambda inner, _: {'t': 'list', 'v': [inner]}, "
        "range(150), 1)}"), OUTPUT),
    "raw_nesting_past_json_recursion": (raw_reply(
        "b'{\"value\": ' + b'[' * 200000 + b']' * 200000 + b'}'", encoded=True), RUNTIME),
    "raw_invalid_utf8_and_json": (raw_reply("b'\\xff\\xfe{\"value\": [1,'", encoded=True),
                                  RUNTIME),
    "raw_huge_hex_int": (raw_reply("{'value': {'t': 'int', 'v': 'f' * 3000000}}"), WRONG),
    "raw_bad_hex_int": (raw_reply("{'value': {'t': 'int', 'v': '0xzz'}}"), RUNTIME),
    "raw_unknown_reply_kind": (raw_reply("{'status': 'ok', 'score': 1.0}"), RUNTIME),
}

# Wrong candidates with their own tests, each trying to steer the proxy into a pass
# (issue 16, finding 2): a StopIteration that ends the test's iteration early, an
# exception the host cannot rebuild turning into the TypeError a test expects, a class
# named like a builtin. id -> (candidate source, tests, statuses).
EXPECTS_TYPE_ERROR = """
    def check(candidate):
        try:
            candidate("not a number")
        except TypeError:
            return
        raise AssertionError("expected TypeError")"""
EXPECTS_VALUE_ERROR = EXPECTS_TYPE_ERROR.replace("TypeError", "ValueError")
FORGED = {
    "stop_iteration_ends_all_map": ("def f(x):\n    raise StopIteration", """
        def check(candidate):
            assert all(map(candidate, [2, 4, 6]))""", RUNTIME),
    "stop_iteration_ends_not_any_map": ("def f(x):\n    raise StopIteration('done')", """
        def check(candidate):
            assert not any(map(candidate, [1, 3, 5]))""", RUNTIME),
    "stop_iteration_ends_filter": ("def f(x):\n    return next(iter([]))", """
        def check(candidate):
            assert list(filter(candidate, [1, 3, 5])) == []""", RUNTIME),
    "stop_iteration_ends_for_loop": ("def f(x):\n    raise StopIteration", """
        def check(candidate):
            for result in map(candidate, [1, 2]):
                assert result == 0""", RUNTIME),
    "stop_iteration_subclass_ends_sum": ("""
        class Done(StopIteration):
            pass
        def f(x):
            raise Done""", """
        def check(candidate):
            assert sum(map(candidate, [1, 2])) == 0""", RUNTIME),
    "stop_async_iteration_in_all_map": ("def f(x):\n    raise StopAsyncIteration", """
        def check(candidate):
            assert all(map(candidate, [1]))""", RUNTIME),
    "unicode_decode_error_as_type_error": ("def f(x):\n    b'\\xff'.decode('utf-8')",
                                           EXPECTS_TYPE_ERROR, RUNTIME),
    "unicode_encode_error_as_type_error": ("def f(x):\n    'é'.encode('ascii')",
                                           EXPECTS_TYPE_ERROR, RUNTIME),
    "unicode_translate_error_as_type_error": (
        "def f(x):\n    raise UnicodeTranslateError('x', 0, 1, 'no')", EXPECTS_TYPE_ERROR, RUNTIME),
    "exception_group_as_type_error": (
        "def f(x):\n    raise ExceptionGroup('many', [ValueError(1)])", EXPECTS_TYPE_ERROR,
        RUNTIME),
    "own_class_needing_arguments_as_type_error": ("""
        class Strict(Exception):
            def __init__(self, a, b):
                super().__init__(a, b)
        def f(x):
            raise Strict(1, 2)""", EXPECTS_TYPE_ERROR, RUNTIME),
    "own_class_named_value_error": ("""
        class ValueError(Exception):
            pass
        def f(x):
            raise ValueError("not the builtin")""", EXPECTS_VALUE_ERROR, RUNTIME),
    "own_class_named_type_error": ("""
        TypeError = type("TypeError", (Exception,), {})
        def f(x):
            raise TypeError("not the builtin")""", EXPECTS_TYPE_ERROR, RUNTIME),
    "builtins_value_error_replaced": ("""
        import builtins
        builtins.ValueError = type("ValueError", (Exception,), {"__module__": "builtins"})
        def f(x):
            raise ValueError("patched")""", EXPECTS_VALUE_ERROR, RUNTIME),
    "metaclass_claims_equality_with_value_error": ("""
        class Meta(type):
            def __eq__(cls, other):
                return True
            def __hash__(cls):
                return hash(ValueError)
        class Fake(Exception, metaclass=Meta):
            pass
        Fake.__name__ = Fake.__qualname__ = "ValueError"
        def f(x):
            raise Fake("equal to everything")""", EXPECTS_VALUE_ERROR, RUNTIME),
    "instance_class_attribute_lies": ("""
        class Liar(Exception):
            @property
            def __class__(self):
                return ValueError
        def f(x):
            raise Liar("isinstance says ValueError")""", EXPECTS_VALUE_ERROR, RUNTIME),
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
    ids = list(HOSTILE) + list(FORGED)
    sources = [_source(HOSTILE[i][0]) for i in HOSTILE] + [_source(FORGED[i][0]) for i in FORGED]
    references = [REFERENCE] * len(HOSTILE) + [
        {"tests": _source(FORGED[i][1]), "entry_point": "f"} for i in FORGED]
    started = time.monotonic()
    verdicts = verify_batch("code", sources, references, timeout_s=TIMEOUT_S)
    elapsed = time.monotonic() - started
    return dict(zip(ids, verdicts)), elapsed


def test_there_are_at_least_40_hostile_code_inputs():
    assert len(HOSTILE) + len(FORGED) >= 40


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_candidate_never_scores(case, hostile_verdicts):
    verdict = hostile_verdicts[0][case]
    assert verdict.score == 0.0, verdict
    assert verdict.status in HOSTILE[case][1], verdict


@pytest.mark.parametrize("case", list(FORGED))
def test_candidate_cannot_steer_the_proxy_into_a_pass(case, hostile_verdicts):
    verdict = hostile_verdicts[0][case]
    assert verdict.score == 0.0, verdict
    assert verdict.status in FORGED[case][2], verdict


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
