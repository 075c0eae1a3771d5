"""The sandbox's isolation layers, each proved by what a candidate (or a sandboxed
program) can do, with a twin that shows the probe is not blind. verifiers/ISOLATION.md
names the test for each layer.

Issue 16, finding 1: bubblewrap started by root leaves the sandbox host root by another
name (reads root's 0600 files, writes /proc/sys, ignores RLIMIT_NPROC).
"""
from __future__ import annotations

import json
import sys
import os
import select
import shutil
import tempfile
import textwrap
import threading
import time

import pytest
from conftest import numpy_hidden_from_sandbox

from verifiers import code_verifier, sandbox, verify
from verifiers.code_verifier import CodeWorkerPool, _descendants
from verifiers.sandbox import process_table as _process_table

AS_ROOT = os.geteuid() == 0
SECRET, PUBLIC = "root only: the sandbox must not read this", "world readable"


@pytest.fixture(scope="module", autouse=True)
def _sandbox_works():
    problem = sandbox.sandbox_problem()
    assert problem is None, problem


def _run_candidate(source: str, tests: str, entry_point: str = "probe", timeout_s: float = 5.0):
    return verify("code", textwrap.dedent(source), {"tests": textwrap.dedent(tests),
                                                    "entry_point": entry_point},
                  timeout_s=timeout_s)


# --- layer 1: the sandbox is an unprivileged host user ----------------------------------------
def test_sandbox_init_is_an_unprivileged_host_user():
    run = sandbox.run_in_sandbox("import sys\nsys.stdin.read()")
    assert run.returncode == 0, run.stderr
    assert run.host_uids, "the host did not see the sandbox's init"
    assert 0 not in run.host_uids
    if AS_ROOT:
        assert run.host_uids == (sandbox.SANDBOX_UID,) * 4


def test_candidate_processes_are_never_host_root():
    """Every process of a worker's sandboxes (bwrap, the zygote, the running candidate),
    read from the host's /proc while a candidate sleeps in its call."""
    pool = code_verifier.code_pool()
    pool.warm()
    seen: dict[int, tuple[int, ...]] = {}
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            table = _process_table()
            for worker in list(pool._workers):
                for pid in _descendants(worker.proc.pid, table):
                    uids = sandbox.host_uids(pid)
                    if uids:
                        seen[pid] = uids
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        verdict = _run_candidate("""
            import time
            def probe():
                time.sleep(0.5)
                return 1""", "def check(candidate):\n    assert candidate() == 1\n")
    finally:
        stop.set()
        watcher.join()
    assert verdict.score == 1.0, verdict
    assert len(seen) >= 3, seen  # bwrap, the zygote (the namespace's init), the candidate
    assert [pid for pid, uids in seen.items() if 0 in uids] == []


@pytest.fixture(scope="module")
def shown_directory():
    """A root-owned directory holding a 0600 file and a 0644 twin, both bound read-only
    into the sandbox (test hook) at /mnt/shown."""
    directory = tempfile.mkdtemp(prefix="verifiers-isolation-", dir="/var/tmp")
    os.chmod(directory, 0o755)
    for name, text, mode in (("secret", SECRET, 0o600), ("public", PUBLIC, 0o644)):
        path = os.path.join(directory, name)
        with open(path, "w") as handle:
            handle.write(text)
        os.chmod(path, mode)
    yield directory
    shutil.rmtree(directory)


@pytest.fixture()
def pool_showing(shown_directory):
    pool = CodeWorkerPool("verifiers._code_worker", 1, env={
        **os.environ, sandbox.TEST_RO_BINDS_ENV: json.dumps([[shown_directory, "/mnt/shown"]])})
    previous, code_verifier._pool = code_verifier._pool, pool
    try:
        yield pool
    finally:
        code_verifier._pool = previous
        pool.close()


READ_EVERY_WAY = """
    import ctypes, errno, os
    def read_every_way(path):
        outcomes = {}
        def attempt(name, read):
            try:
                outcomes[name] = read()
            except OSError as error:
                outcomes[name] = errno.errorcode.get(error.errno, str(error.errno))
        attempt("open", lambda: open(path).read())
        def raw():
            fd = os.open(path, os.O_RDONLY)
            try:
                return os.read(fd, 4096).decode()
            finally:
                os.close(fd)
        attempt("os.open", raw)
        def libc():
            lib = ctypes.CDLL(None, use_errno=True)
            fd = lib.open(path.encode(), os.O_RDONLY)
            if fd < 0:
                raise OSError(ctypes.get_errno(), "open")
            try:
                return os.read(fd, 4096).decode()
            finally:
                os.close(fd)
        attempt("libc open", libc)
        def reopen():  # an O_PATH handle needs no permission; reopening it through /proc does
            fd = os.open(path, os.O_PATH)
            try:
                return open(f"/proc/self/fd/{fd}").read()
            finally:
                os.close(fd)
        attempt("O_PATH reopen", reopen)
        def chmod_then_read():
            os.chmod(path, 0o644)
            return open(path).read()
        attempt("chmod", chmod_then_read)
        return outcomes
    def probe():
        return read_every_way("/mnt/shown/public"), read_every_way("/mnt/shown/secret")
"""


@pytest.mark.skipif(not AS_ROOT, reason="the host-root layer is about a host that runs as root")
def test_candidate_cannot_read_a_root_only_file_beside_a_readable_twin(pool_showing):
    tests = f"""
        def check(candidate):
            public, secret = candidate()
            assert public["open"] == public["os.open"] == public["libc open"] == {PUBLIC!r}, public
            assert public["O_PATH reopen"] == {PUBLIC!r}, public
            assert {SECRET!r} not in secret.values(), secret
            assert set(secret.values()) <= {{"EACCES", "EPERM", "EROFS"}}, secret
    """
    verdict = _run_candidate(READ_EVERY_WAY, tests)
    assert (verdict.score, verdict.status) == (1.0, "ok"), verdict


@pytest.mark.skipif(not AS_ROOT, reason="the host-root layer is about a host that runs as root")
def test_root_only_file_probe_reads_the_secret_outside_the_sandbox(shown_directory):
    """The probe's twin: run by root on the host, the same reads return the secret."""
    namespace: dict = {}
    exec(textwrap.dedent(READ_EVERY_WAY).replace("/mnt/shown", shown_directory), namespace)
    public, secret = namespace["probe"]()
    assert secret["open"] == secret["os.open"] == SECRET
    assert public["open"] == PUBLIC


# --- layer 2: kernel interfaces under /proc are read-only ---------------------------------------
PROC_WRITES = """
    import errno, os
    TARGETS = ["/proc/sys/fs/lease-break-time", "/proc/sys/kernel/core_pattern",
               "/proc/sys/kernel/ns_last_pid", "/proc/sys/fs/mqueue/msg_max",
               "/proc/sys/kernel/shmmax", "/proc/pressure/cpu", "/proc/sysrq-trigger",
               "/dev/null"]
    def open_for_writing(path):
        # Opening for writing is the test: nothing is ever written, so a regression
        # cannot change the host's settings.
        try:
            os.close(os.open(path, os.O_WRONLY))
            return "opened"
        except OSError as error:
            return errno.errorcode.get(error.errno, str(error.errno))
    def writable_kernel_files():
        found = []
        for root, dirs, files in os.walk("/proc"):
            top = root.split("/")[2] if root.count("/") >= 2 else ""
            if top.isdigit() or top in ("self", "thread-self"):
                dirs[:] = []
                continue
            found += [os.path.join(root, f) for f in files + dirs
                      if os.access(os.path.join(root, f), os.W_OK)]
        return found
    def probe():
        return {path: open_for_writing(path) for path in TARGETS}, writable_kernel_files()
"""
NAMESPACE_OWNED = ("/proc/sys/kernel/ns_last_pid", "/proc/sys/fs/mqueue/msg_max",
                   "/proc/sys/kernel/shmmax", "/proc/pressure/cpu")


def test_candidate_cannot_open_any_kernel_interface_under_proc_for_writing():
    tests = f"""
        def check(candidate):
            outcomes, writable = candidate()
            assert writable == [], writable
            assert outcomes["/dev/null"] == "opened", outcomes  # the opens are real
            for path, outcome in outcomes.items():
                if path != "/dev/null":
                    assert outcome in ("EROFS", "EACCES", "EPERM", "ENOENT"), (path, outcome)
            for path in {NAMESPACE_OWNED!r}:  # writable to the namespace's owner but for the binds
                assert outcomes[path] in ("EROFS", "ENOENT"), (path, outcomes[path])
            assert outcomes["/proc/sys/fs/lease-break-time"] != "ENOENT"
    """
    verdict = _run_candidate(PROC_WRITES, tests)
    assert (verdict.score, verdict.status) == (1.0, "ok"), verdict


def test_proc_write_probe_finds_writable_files_without_the_read_only_binds(monkeypatch):
    """The probe's twin: the same sandbox without the /proc binds lets these be opened."""
    monkeypatch.setattr(sandbox, "proc_kernel_entries", lambda: [])
    code = textwrap.dedent(PROC_WRITES) + "\nimport json\nprint(json.dumps(probe()))\n"
    run = sandbox.run_in_sandbox(code)
    assert run.returncode == 0, run.stderr
    outcomes, writable = json.loads(run.stdout)
    assert outcomes["/proc/sys/kernel/ns_last_pid"] == "opened"
    assert len(writable) >= 3, writable


# --- layer 3: RLIMIT_NPROC binds ----------------------------------------------------------------
def test_candidate_threads_stop_at_rlimit_nproc():
    limit = sandbox.Limits(cpu_seconds=1).processes
    source = """
        import threading
        def probe(wanted):
            threading.stack_size(1 << 18)  # 200 default stacks would hit the memory limit first
            release, threads = threading.Event(), []
            for _ in range(wanted):
                thread = threading.Thread(target=release.wait)
                try:
                    thread.start()
                except RuntimeError:  # "can't start new thread": EAGAIN from clone
                    break
                threads.append(thread)
            release.set()
            for thread in threads:
                thread.join()
            return len(threads)
    """
    tests = f"""
        def check(candidate):
            started = candidate(200)
            assert 10 <= started < {limit}, started  # root would have started all 200
    """
    verdict = _run_candidate(source, tests)
    assert (verdict.score, verdict.status) == (1.0, "ok"), verdict


FORK_UNTIL_REFUSED = """
import errno, os, resource
resource.setrlimit(resource.RLIMIT_NPROC, ({limit}, {limit}))
hold, release = os.pipe()
children, refused = [], None
for _ in range(30):
    try:
        pid = os.fork()
    except OSError as error:
        refused = errno.errorcode[error.errno]
        break
    if pid == 0:
        os.close(release)
        os.read(hold, 1)  # stay alive until the parent is done counting
        os._exit(0)
    children.append(pid)
os.close(release)
for pid in children:
    os.waitpid(pid, 0)
print(len(children), refused)
"""


@pytest.mark.parametrize("limit, forks, refused", [(8, range(1, 8), "EAGAIN"),
                                                   (64, range(30, 31), "None")])
def test_rlimit_nproc_binds_in_a_sandbox_allowed_to_fork(limit, forks, refused):
    """The zygote's filter allows fork; with RLIMIT_NPROC 8 the kernel refuses forks
    before 8 (the program counts too), with 64 all 30 succeed."""
    run = sandbox.run_in_sandbox(FORK_UNTIL_REFUSED.format(limit=limit))
    assert run.returncode == 0, run.stderr
    count, error = run.stdout.split()
    assert int(count) in forks and error == refused, run.stdout


# --- the interpreter the sandbox user can run -------------------------------------------------
def test_sandbox_interpreter_has_this_interpreters_major_minor():
    code = "import sys\nprint('%d.%d' % sys.version_info[:2])"
    run = sandbox.run_in_sandbox(code)
    assert run.stdout.strip() == "%d.%d" % sys.version_info[:2], run


@pytest.mark.skipif(not AS_ROOT, reason="the copy is root's fallback")
def test_prefix_copy_runs_the_zygotes_modules_as_the_sandbox_user(monkeypatch):
    """Root's fallback when no interpreter of this major.minor is readable by nobody: a
    root-owned read-only copy of this prefix, run under bubblewrap like the zygote."""
    cache = "/var/cache/verifiers-sandbox-test"
    shutil.rmtree(cache, ignore_errors=True)
    try:
        copy = sandbox.prefix_copy(cache)
        name = sandbox._interpreter_name()
        found = sandbox._probe_interpreter(os.path.join(copy, "bin", name),
                                           os.path.join(copy, "lib"))
        assert found is not None
        assert found[0] == "%d.%d.%d" % sys.version_info[:3]
        assert found[1] == copy
        assert not os.path.exists(os.path.join(copy, "lib", name, "site-packages"))
        assert os.stat(copy).st_uid == 0 and not os.stat(copy).st_mode & 0o022
        python = sandbox._describe(copy, name, "test copy")
        monkeypatch.setattr(sandbox, "sandbox_python", lambda: python)
        run = sandbox.run_in_sandbox(
            "import ctypes, json, os, resource, socket, struct, sys\n"
            "print(sys.prefix, '%d.%d.%d' % sys.version_info[:3], os.getuid())")
        assert run.stdout.split() == [sandbox.SANDBOX_PREFIX_DIR, found[0],
                                      str(sandbox.SANDBOX_UID)], run
    finally:
        shutil.rmtree(cache, ignore_errors=True)


@pytest.mark.skipif(not AS_ROOT, reason="the copy is root's fallback")
def test_prefix_copy_refuses_a_directory_others_can_write():
    with tempfile.TemporaryDirectory(dir="/var/tmp") as writable_by_others:  # /var/tmp is 1777
        with pytest.raises(sandbox.SandboxUnavailable, match="not a root-owned directory"):
            sandbox.prefix_copy(writable_by_others)


def test_no_runnable_interpreter_is_a_clear_sandbox_problem(monkeypatch):
    monkeypatch.setattr(sandbox, "_interpreter_candidates",
                        lambda name: [("/nonexistent/bin/" + name, "test")])
    monkeypatch.setattr(sandbox, "prefix_copy", lambda cache_dir=None: (_ for _ in ()).throw(
        OSError("read-only file system")))
    sandbox.sandbox_python.cache_clear()
    sandbox.sandbox_problem.cache_clear()
    try:
        problem = sandbox.sandbox_problem()
    finally:
        sandbox.sandbox_python.cache_clear()
        sandbox.sandbox_problem.cache_clear()
    assert problem is not None
    assert "/nonexistent/bin/" in problem and "apt-get install python" in problem
    assert sandbox.CACHE_DIR_ENV in problem or not AS_ROOT


def test_unreadable_site_packages_says_numpy_is_not_available(monkeypatch):
    """Where the host's site-packages is not readable by the sandbox user, a candidate's
    `import numpy` fails with a verdict detail that says so."""
    pytest.importorskip("numpy")
    import numpy

    from verifiers._code_worker import _definition_failure
    site_dir = os.path.dirname(os.path.dirname(numpy.__file__))
    hidden = sandbox.SandboxPython("/usr/bin/python3", "/usr/lib", (), (),
                                   ((site_dir, "not readable by uid 65534"),), "test")
    monkeypatch.setattr(sandbox, "sandbox_python", lambda: hidden)
    raised = {"type": "ModuleNotFoundError", "exact": True, "import_name": "numpy",
              "builtins": ["ModuleNotFoundError", "ImportError", "Exception", "BaseException"],
              "message": "No module named 'numpy'"}
    verdict = _definition_failure({"error": "ModuleNotFoundError: No module named 'numpy'",
                                   "kind": "definition", "raised": raised})
    assert verdict["status"] == "runtime_error"
    assert "numpy is installed on the host" in verdict["detail"]
    assert "not available in the sandbox" in verdict["detail"] and site_dir in verdict["detail"]
    raised.update(import_name="no_such_module_anywhere", message="No module named 'x'")
    assert "installed on the host" not in _definition_failure(
        {"error": "", "kind": "definition", "raised": raised})["detail"]


def test_site_packages_are_bound_read_only():
    pytest.importorskip("numpy")
    if hidden := numpy_hidden_from_sandbox():
        pytest.skip(hidden)
    verdict = _run_candidate("""
        import errno, os, numpy
        def probe():
            path = os.path.join(os.path.dirname(numpy.__file__), "pwned.py")
            try:
                open(path, "w").close()
                return "written"
            except OSError as error:
                return errno.errorcode[error.errno]""",
                             "def check(candidate):\n    assert candidate() == 'EROFS'\n")
    assert (verdict.score, verdict.status) == (1.0, "ok"), verdict


def test_kill_process_tree_waits_for_every_descendant():
    """kill_process_tree returns only after the whole tree has exited (pidfds readable)."""
    import subprocess
    parent = subprocess.Popen(["/bin/sh", "-c", "sleep 60 & sleep 60 & wait"],
                              start_new_session=True)
    time.sleep(0.2)
    tree = {parent.pid} | _descendants(parent.pid, _process_table())
    assert len(tree) == 3
    pidfds = [os.pidfd_open(pid) for pid in tree]
    try:
        code_verifier.kill_process_tree(parent.pid)
        assert all(select.select([fd], [], [], 0)[0] for fd in pidfds)
    finally:
        for fd in pidfds:
            os.close(fd)
        parent.wait()
