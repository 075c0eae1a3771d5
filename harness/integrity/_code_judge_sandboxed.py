"""The code judge's two sandboxed programs. Runs INSIDE bubblewrap, stdlib only, as
``python -I -S -B -c <this file's text> ROLE FD LIMITS SITE_DIRS [ENTRY_POINT]``; the host
(``code_judge.py``) imports it only to test its literal codec.

Two fresh interpreters per judged program, each in its own sandbox, joined by one stream
socket (FD) whose ends the host handed over and then closed:
- ROLE ``candidate``: stdin holds the candidate's program (read to EOF). It defines the
  program and answers calls. It never sees the tests.
- ROLE ``tests``: stdin holds JSON {"tests", "prompt", "entry_point", "timeout_s"} (trusted
  benchmark text). It runs ``check(candidate)`` with a proxy that forwards each call over
  the socket, and reports the verdict as its exit status (0 passed, 1 failed, 2 no verdict:
  the tests did not load, never called the candidate, or passed arguments that are not
  literals) plus one JSON line on its original stdout (the tests' own prints go to stderr).
Both make themselves non-dumpable and set LIMITS (JSON {"RLIMIT_...": value}) as hard
limits before reading any program text, and append SITE_DIRS (JSON list, read-only numpy &
co) to sys.path; bubblewrap installed the candidates' seccomp filter (no processes, no
ptrace, no IPC objects) before either started.

Protocol: one ``repr`` per line, UTF-8. The candidate first says ``('defined',)`` or
``('error', kind, message)``; then for each ``(args, kwargs)`` line it answers
``('value', value)``, ``('raised', builtin names, class name, exact, message)`` or
``('unencodable', what)``.
Values are builtin literals only (``plain``); each side reads the other's lines with
``literal`` (an AST walk over literal nodes, no evaluation), so what the candidate returns
reaches the tests as plain data: no object with its own ``__eq__`` crosses, and nothing the
candidate writes is run. The candidate shares a process with nothing that decides the
verdict: printing, exiting with 0 or patching this file's functions in its own process
changes only what it sends on the socket.
"""
import ast
import builtins
import json
import os
import resource
import socket
import sys
import time

MAX_LINE_BYTES = 1 << 20
MAX_DEPTH = 100
MAX_INT_DIGITS = 100_000
EXIT_PASSED, EXIT_FAILED, EXIT_NO_VERDICT = 0, 1, 2
_PR_SET_DUMPABLE = 4
_SCALARS = (bool, int, float, complex, str, bytes, type(None))
_CONTAINERS = {list: list, tuple: tuple, set: set, frozenset: frozenset}
_NUMBERS = (int, float, complex)
# Captured before any candidate code runs: the candidate's side names an exception's builtin
# classes by identity, so its own class called ValueError is not a ValueError.
_BUILTIN_EXCEPTIONS = {id(cls): name for name, cls in vars(builtins).items()
                       if isinstance(cls, type) and issubclass(cls, BaseException)}
_BUILTIN_EXCEPTION_CLASSES = {name: getattr(builtins, name) for name in _BUILTIN_EXCEPTIONS.values()}


class Unencodable(Exception):
    pass


def plain(value, depth=0):
    """``value`` as builtin literal types (numpy scalars and arrays as their Python values);
    Unencodable for anything else."""
    if depth > MAX_DEPTH:
        raise Unencodable("nested too deeply")
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind in _CONTAINERS:
        return _CONTAINERS[kind](plain(v, depth + 1) for v in value)
    if kind is dict:
        return {plain(k, depth + 1): plain(v, depth + 1) for k, v in value.items()}
    if any(base.__module__ == "numpy" and base.__name__ in ("generic", "ndarray") for base in kind.__mro__):
        return plain(value.tolist(), depth + 1)
    raise Unencodable(kind.__name__)


def _value(node, depth):
    if depth > MAX_DEPTH:
        raise ValueError("nested too deeply")
    if isinstance(node, ast.Constant) and type(node.value) in _SCALARS:
        return node.value
    if isinstance(node, ast.Name) and node.id in ("nan", "inf"):  # repr of a non-finite float
        return float(node.id)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        items = [_value(e, depth + 1) for e in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(items)
        return items if isinstance(node, ast.List) else set(items)
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_value(k, depth + 1): _value(v, depth + 1) for k, v in zip(node.keys, node.values)}
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("set", "frozenset")
            and not node.keywords and len(node.args) <= 1):  # repr of set() and frozenset({...})
        return (set if node.func.id == "set" else frozenset)(_value(node.args[0], depth + 1) if node.args else ())
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _value(node.operand, depth + 1)
        if type(operand) in _NUMBERS:
            return -operand if isinstance(node.op, ast.USub) else +operand
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):  # repr of a complex
        left, right = _value(node.left, depth + 1), _value(node.right, depth + 1)
        if type(left) in (int, float) and type(right) is complex:
            return left + right if isinstance(node.op, ast.Add) else left - right
    raise ValueError(f"not a literal: {type(node).__name__}")


def literal(text):
    """The value of one line written by ``plain`` + repr; ValueError for anything else."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, RecursionError, MemoryError) as error:
        raise ValueError(f"unreadable line: {type(error).__name__}") from None
    return _value(tree.body, 0)


def encode_line(message):
    return repr(message).encode("utf-8", "backslashreplace") + b"\n"


def _confine(limits, site_dirs):
    """Before any program text: non-dumpable (as the verifier's zygote and children are:
    /proc/1/{mem,environ,maps} and /proc/self/uid_map become root's, unreadable here) and
    the rlimits, hard."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_DUMPABLE failed")
    for name, value in limits.items():
        resource.setrlimit(getattr(resource, name), (value, value))
    sys.set_int_max_str_digits(MAX_INT_DIGITS)
    sys.path.extend(site_dirs)


# --- the candidate's sandbox ---------------------------------------------------------------
def candidate_main(fd, limits, site_dirs, entry_point):
    _confine(limits, site_dirs)
    source = sys.stdin.buffer.read()
    sys.stdin.close()
    channel = socket.socket(fileno=fd)
    reader, writer = channel.makefile("rb"), channel.makefile("wb")

    def send(message):
        try:
            line = encode_line(message)
        except ValueError:  # an int past MAX_INT_DIGITS
            line = encode_line(("unencodable", "an int too large to show"))
        writer.write(line)
        writer.flush()

    namespace = {"__name__": "__candidate__"}
    try:
        code = compile(source.decode("utf-8", "replace"), "<candidate>", "exec")
    except (SyntaxError, ValueError) as error:
        return send(("error", "syntax", str(error)[:300]))
    try:
        exec(code, namespace)  # this sandboxed process exists to run it; the verdict is elsewhere
    except BaseException as error:  # noqa: BLE001 - SystemExit included: the definition failed
        return send(("error", "definition", f"{type(error).__name__}: {str(error)[:300]}"))
    function = namespace.get(entry_point)
    if not callable(function):
        return send(("error", "missing", f"the program defines no function {entry_point!r}"))
    send(("defined",))
    while True:
        line = reader.readline(MAX_LINE_BYTES + 1)
        if not line or len(line) > MAX_LINE_BYTES:
            return None
        args, kwargs = literal(line.decode("utf-8"))
        try:
            reply = ("value", plain(function(*args, **kwargs)))
        except Unencodable as error:
            reply = ("unencodable", str(error)[:100])
        except BaseException as error:  # noqa: BLE001 - the candidate's exception is its answer
            reply = ("raised", *describe(error))
        send(reply)


def describe(error):
    """(names of the builtin exception classes in the error's MRO, found by identity; its
    class name; whether its class is itself that builtin; its message)."""
    kind = type(error)
    names = [_BUILTIN_EXCEPTIONS[id(cls)] for cls in kind.__mro__ if id(cls) in _BUILTIN_EXCEPTIONS]
    try:
        message = str(error)[:300]
    except BaseException:  # noqa: BLE001 - a __str__ that raises
        message = "<unprintable>"
    return names, str(kind.__name__)[:80], bool(names) and id(kind) in _BUILTIN_EXCEPTIONS, message


# --- the tests' sandbox --------------------------------------------------------------------
class ChannelFailure(BaseException):
    """The candidate's side failed (exited, timed out, sent what is not a reply). A
    BaseException, so ``except Exception`` in a test cannot swallow it; recorded too, so a
    bare ``except:`` cannot either."""

    def __init__(self, status, detail):
        super().__init__(f"{status}: {detail}")
        self.status, self.detail = status, detail


class CandidateError(Exception):
    """The candidate raised an exception that is not a builtin one (named in the message)."""


def raised(names, type_name, exact, message):
    """The exception a test sees for the candidate's ('raised', ...) reply (``describe``),
    or a ChannelFailure that ends the check: for what is not an Exception (SystemExit,
    KeyboardInterrupt, its own BaseException), MemoryError, and StopIteration (which would
    end a test's ``all(map(candidate, ...))`` early, as if every call had passed).

    The builtin itself when the candidate raised exactly that builtin and it can be built
    from a message; else a CandidateError that also derives from the nearest builtin that
    can (so ``except ValueError`` still catches a candidate's ValueError subclass)."""
    names = [n for n in names if type(n) is str and n in _BUILTIN_EXCEPTION_CLASSES] if type(names) is list else []
    type_name, message = str(type_name)[:80], str(message)[:300]
    if "Exception" not in names:
        return ChannelFailure("runtime_error", f"the candidate raised {type_name}, which is not an Exception")
    if "MemoryError" in names:
        return ChannelFailure("memory_limit", "the candidate ran out of memory")
    if "StopIteration" in names or "StopAsyncIteration" in names:
        return ChannelFailure("runtime_error", f"{type_name} escaped a candidate call")
    if exact is True and names[0] == type_name:
        try:
            return _BUILTIN_EXCEPTION_CLASSES[type_name](message)
        except Exception:  # noqa: BLE001 - e.g. UnicodeDecodeError wants five arguments
            pass
    shown = type_name if exact is True else f"{type_name} (the candidate's own class)"
    for name in names:
        if name == "Exception":
            break
        try:
            return type(f"CandidateError_{name}", (CandidateError, _BUILTIN_EXCEPTION_CLASSES[name]), {})(
                f"{shown}: {message}")
        except Exception:  # noqa: BLE001 - a layout conflict, or a constructor wanting more
            continue
    return CandidateError(f"{shown}: {message}")


def tests_main(fd, limits, site_dirs):
    verdict_fd = os.dup(1)
    os.dup2(2, 1)  # the tests' prints cannot be taken for the verdict line
    _confine(limits, site_dirs)
    request = json.loads(sys.stdin.buffer.read())
    sys.stdin.close()
    deadline = time.monotonic() + float(request["timeout_s"])
    channel = socket.socket(fileno=fd)
    reader = channel.makefile("rb")
    state = {"calls": 0, "failure": None}

    def finish(code, **verdict):
        os.write(verdict_fd, (json.dumps({**verdict, "calls": state["calls"]}) + "\n").encode())
        os._exit(code)

    def fail(status, detail):
        state["failure"] = state["failure"] or ChannelFailure(status, detail)
        raise state["failure"]

    def receive():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            fail("timeout", "the candidate exceeded the time limit")
        channel.settimeout(remaining)
        try:
            line = reader.readline(MAX_LINE_BYTES + 1)
        except OSError:  # socket.timeout included
            fail("timeout", "the candidate exceeded the time limit")
        if not line:
            fail("candidate_exited", "the candidate's process ended")
        if len(line) > MAX_LINE_BYTES:
            fail("output_limit", f"a reply over {MAX_LINE_BYTES} bytes")
        try:
            message = literal(line.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            fail("malformed", str(error)[:200])
        if type(message) is not tuple or not message or type(message[0]) is not str:
            fail("malformed", "a reply that is not a tagged tuple")
        return message

    def send(message):
        channel.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            channel.sendall(encode_line(message))
        except OSError:
            fail("candidate_exited", "the candidate stopped reading")

    try:
        defined = receive()
    except ChannelFailure as failure:
        finish(EXIT_FAILED, passed=False, status=failure.status, detail=f"while defining: {failure.detail}")
    if defined[0] != "defined":
        finish(EXIT_FAILED, passed=False, status=f"definition_{defined[1] if len(defined) > 1 else '?'}",
               detail=str(defined[2] if len(defined) > 2 else defined)[:300])

    def candidate(*args, **kwargs):
        if state["failure"] is not None:
            raise state["failure"]
        try:
            call = (plain(args), plain(kwargs))
        except Unencodable as error:
            finish(EXIT_NO_VERDICT, passed=None, status="not_literal",
                   detail=f"the tests passed a {error} argument; this judge sends literals only")
        state["calls"] += 1
        send(call)
        reply = receive()
        if reply[0] == "value" and len(reply) == 2:
            return reply[1]
        if reply[0] == "raised" and len(reply) == 5:
            error = raised(*reply[1:])
            if isinstance(error, ChannelFailure):
                fail(error.status, error.detail)
            raise error
        if reply[0] == "unencodable":
            what = str(reply[1])[:80] if len(reply) > 1 else "?"
            fail("unencodable", f"the candidate returned a {what} value, not plain data")
        fail("malformed", f"unknown reply {reply[0][:40]!r}")

    namespace = {"__name__": "__judge_tests__"}
    try:
        if request.get("prompt"):  # trusted benchmark helpers the tests call (HumanEval/32 poly)
            exec(compile(request["prompt"], "<prompt>", "exec"), namespace)
        namespace[request["entry_point"]] = candidate  # tests that call the function by its name
        exec(compile(request["tests"], "<tests>", "exec"), namespace)
        check = namespace["check"]
    except BaseException as error:  # noqa: BLE001 - trusted text that does not load: no verdict
        finish(EXIT_NO_VERDICT, passed=None, status="tests_did_not_load",
               detail=f"{type(error).__name__}: {error}"[:300])
    try:
        check(candidate)
    except ChannelFailure:
        pass  # recorded in state
    except AssertionError as error:
        finish(EXIT_FAILED, passed=False, status="assertion", detail=f"assertion failed {error}"[:300])
    except NameError as error:
        finish(EXIT_NO_VERDICT, passed=None, status="tests_did_not_load", detail=f"NameError: {error}"[:300])
    except BaseException as error:  # noqa: BLE001 - the candidate's exception, or a test's error about its value
        if state["failure"] is None:
            finish(EXIT_FAILED, passed=False, status="exception", detail=f"{type(error).__name__}: {error}"[:300])
    if state["failure"] is not None:  # a failure the tests swallowed still fails the check
        finish(EXIT_FAILED, passed=False, status=state["failure"].status, detail=state["failure"].detail[:300])
    if state["calls"] == 0:
        finish(EXIT_NO_VERDICT, passed=None, status="never_called", detail="the tests never called the candidate")
    if time.monotonic() > deadline:
        finish(EXIT_FAILED, passed=False, status="timeout", detail="the check finished after the time limit")
    finish(EXIT_PASSED, passed=True, status="ok", detail="all tests passed")


if __name__ == "__main__":
    _role, _fd, _limits, _site_dirs = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
    if _role == "candidate":
        candidate_main(_fd, _limits, _site_dirs, sys.argv[5])
    elif _role == "tests":
        tests_main(_fd, _limits, _site_dirs)
