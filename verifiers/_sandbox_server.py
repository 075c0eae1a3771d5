"""Runs INSIDE the sandbox (``python -I -S -B -c <this file's text> FD SITE_DIRS``); stdlib only.

A zygote: it starts once per sandbox, never runs candidate code itself, and forks one
child per candidate. argv[1] is the fd of its control socket (SOCK_SEQPACKET, one JSON
message per packet, the candidate's channel fd attached to "run" with SCM_RIGHTS), argv[2]
a JSON list of site-packages directories appended to sys.path (numpy & co, read-only):
  zygote -> host   {"ready": true}
  host -> zygote   {"run": {"limits", "filter"}} + [fd of the candidate's channel]
  zygote -> host   {"started": pid}
  host -> zygote   {"reap": pid}            (kill if still running, then wait)
  zygote -> host   {"reaped": pid, "exit": code or null, "signal": number or null}
The child closes the control socket, makes itself non-dumpable, sets rlimits, installs
the host's seccomp filter (no processes, no IPC objects, no keyrings, no ptrace) and then
speaks length-prefixed JSON on its channel: it receives {"source", "entry_point",
"max_reply_bytes"} and replies {"defined": true} or {"error", "kind", "raised"?}, then for
each {"args", "kwargs"} one reply:
  {"value": <plain data>, "mutated"?: {"args", "kwargs"}}   the call returned
  {"raised": <exception>, "mutated"?: ...}                   the call raised
  {"unencodable": message}                                   returned something not plain data
  {"output_limit": message}                                  the reply is over the byte cap
"mutated" carries the final state of the arguments when the call changed them (in-place
sort), for the host to copy into its own objects. <exception> is {"type": its class name,
"builtins": names of the real builtin exception classes in its MRO, found by identity
with the classes this zygote captured before any candidate ran, "exact": whether the class
itself is one of them, "message", "import_name"?}.
The child holds only the candidate's code, never the tests; it can tamper with anything
in itself (this encoder, the builtins table), which buys it nothing: it could write any
bytes to its channel anyway, and the host decodes nothing but plain data and treats a
claimed exception as no more than the candidate raising that builtin itself. The file
system is read-only, so nothing a candidate does survives it for the next one.
"""
import builtins
import json
import os
import resource
import socket
import struct
import sys

_HEADER = struct.Struct(">I")
_MAX_REQUEST_BYTES = 64 * 1024 * 1024
_MAX_DEPTH = 100
_EXACT_INT = 1 << 53   # larger ints cross as hex: decimal str is capped at 4,300 digits
_PR_SET_DUMPABLE, _PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 4, 38, 22, 2
# Captured before any candidate runs (the children inherit it): exception classes are
# told by identity, so a candidate's own class named ValueError is not ValueError.
_BUILTIN_EXCEPTIONS = {id(cls): name for name, cls in vars(builtins).items()
                       if isinstance(cls, type) and issubclass(cls, BaseException)}


class Unencodable(Exception):
    pass


def _is_numpy_scalar(kind):
    return any(base.__name__ == "generic" and base.__module__ == "numpy"
               for base in getattr(kind, "__mro__", ()))


def encode(value, depth=0):
    """Plain data -> JSON-able; containers become {"t": tag, "v": [...]}, ints beyond 2**53
    {"t": "int", "v": hex}. Subclasses of the plain types (Counter, OrderedDict, namedtuple,
    IntEnum, numpy.float64) and numpy scalars cross as their plain value, as == sees them;
    their own methods are bypassed (dict.items, not value.items)."""
    if depth > _MAX_DEPTH:
        raise Unencodable("value nested more than 100 deep")
    kind = type(value)
    if value is None or kind is bool or kind is str or kind is float:
        return value
    if kind is int:
        return value if -_EXACT_INT < value < _EXACT_INT else {"t": "int", "v": format(value, "x")}
    if kind is list or kind is tuple or kind is set or kind is frozenset:
        return {"t": kind.__name__, "v": [encode(item, depth + 1) for item in value]}
    if kind is dict:
        return {"t": "dict", "v": [[encode(k, depth + 1), encode(v, depth + 1)]
                                   for k, v in value.items()]}
    if isinstance(value, int):
        return encode(int.__int__(value), depth)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, dict):
        return {"t": "dict", "v": [[encode(k, depth + 1), encode(v, depth + 1)]
                                   for k, v in dict.items(value)]}
    for base in (list, tuple, set, frozenset):
        if isinstance(value, base):
            return {"t": base.__name__,
                    "v": [encode(item, depth + 1) for item in base.__iter__(value)]}
    if _is_numpy_scalar(kind):
        return encode(value.item(), depth)
    raise Unencodable(f"return type {kind.__name__} is not plain data")


def decode(value, depth=0):
    if depth > _MAX_DEPTH:
        raise ValueError("nested too deeply")
    if type(value) is dict:
        tag, items = value["t"], value["v"]
        if tag == "int":
            return int(items, 16)
        if tag == "dict":
            return {decode(k, depth + 1): decode(v, depth + 1) for k, v in items}
        items = [decode(item, depth + 1) for item in items]
        return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[tag](items)
    return value


def _holds_containers(values):
    return any(type(value) in (list, tuple, set, dict) for value in values)


def _arguments_state(args, kwargs):
    """The arguments encoded at the depths the host encoded them (a list, a dict)."""
    return {"args": encode(args), "kwargs": encode(kwargs)}


def describe(error):
    """The exception as plain data, its class told by identity (see _BUILTIN_EXCEPTIONS)."""
    kind = type(error)
    names = []
    for cls in getattr(kind, "__mro__", ())[:64]:
        name = _BUILTIN_EXCEPTIONS.get(id(cls))
        if name is not None:
            names.append(name)
    try:
        message = str(error)[:300]
    except BaseException:
        message = "<unprintable>"
    try:
        type_name = str(kind.__name__)[:80]
    except BaseException:
        type_name = "?"
    described = {"type": type_name, "builtins": names,
                 "exact": id(kind) in _BUILTIN_EXCEPTIONS, "message": message}
    if isinstance(error, ImportError) and type(error.name) is str:
        described["import_name"] = error.name[:100]
    return described


def _prctl():
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong,
                           ctypes.c_ulong]
    return ctypes, libc


def confine(limits, filter_hex):
    """In the child, before any candidate code: rlimits, non-dumpable, seccomp filter."""
    for name, value in limits.items():
        which = getattr(resource, name)
        resource.setrlimit(which, (value, value))
    ctypes, libc = _prctl()
    if libc.prctl(_PR_SET_DUMPABLE, 0, None, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_DUMPABLE failed")
    if filter_hex:
        program = bytes.fromhex(filter_hex)

        class SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        buffer = ctypes.create_string_buffer(program, len(program))
        fprog = SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
        if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0):
            raise OSError(ctypes.get_errno(), "installing the seccomp filter failed")


def serve_candidate(channel):
    """Child: receive and define the candidate, then answer calls on ``channel`` until EOF."""
    write = os.write
    max_reply_bytes = [16 * 1024 * 1024]

    def send(obj):
        data = json.dumps(obj).encode()
        if len(data) > max_reply_bytes[0]:  # a courtesy: the host enforces the cap itself
            data = json.dumps({"output_limit": f"reply of {len(data)} bytes is over the "
                                               f"{max_reply_bytes[0]}-byte cap"}).encode()
        payload = _HEADER.pack(len(data)) + data
        while payload:
            payload = payload[write(channel, payload):]

    def exactly(n):
        chunks = b""
        while len(chunks) < n:
            chunk = os.read(channel, n - len(chunks))
            if not chunk:
                os._exit(0)
            chunks += chunk
        return chunks

    def receive():
        (length,) = _HEADER.unpack(exactly(_HEADER.size))
        if length > _MAX_REQUEST_BYTES:
            os._exit(1)
        return json.loads(exactly(length))

    request = receive()
    max_reply_bytes[0] = int(request.get("max_reply_bytes", max_reply_bytes[0]))
    namespace = {"__name__": "candidate", "__builtins__": __builtins__}
    try:
        code = compile(request["source"], "<candidate>", "exec")
    except BaseException as error:
        send({"error": f"{type(error).__name__}: {error}"[:300], "kind": "syntax"})
        return
    try:
        exec(code, namespace)
        function = namespace[request["entry_point"]]
        if not callable(function):
            raise TypeError(f"{request['entry_point']} is not callable")
    except BaseException as error:
        reply = describe(error)
        send({"error": f"{reply['type']}: {reply['message']}", "kind": "definition",
              "raised": reply})
        return
    send({"defined": True})
    while True:
        call = receive()
        reply = {}
        try:
            args = decode(call["args"])
            kwargs = decode(call["kwargs"])
            # Only containers can change in place; their state before the call is what
            # "mutated" is measured against.
            watched = _holds_containers(args) or _holds_containers(kwargs.values())
            before = _arguments_state(args, kwargs) if watched else None
            try:
                reply["value"] = encode(function(*args, **kwargs))
            except Unencodable as error:
                reply = {"unencodable": str(error)}
            except BaseException as error:
                reply = {"raised": describe(error)}
            if watched and "unencodable" not in reply:
                after = _arguments_state(args, kwargs)
                if after != before:
                    reply["mutated"] = after
            send(reply)
        except Unencodable as error:
            send({"unencodable": f"arguments after the call: {error}"})
        except BaseException as error:
            send({"raised": describe(error)})


def main():
    control = socket.socket(fileno=int(sys.argv[1]))
    sys.path.extend(json.loads(sys.argv[2]) if len(sys.argv) > 2 else [])
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    _prctl()[1].prctl(_PR_SET_DUMPABLE, 0, None, 0, 0)  # children cannot read our memory
    control.send(json.dumps({"ready": True}).encode())
    while True:
        data, fds, _, _ = socket.recv_fds(control, 1 << 22, 4)
        if not data:
            os._exit(0)
        message = json.loads(data)
        if "run" in message:
            request = message["run"]
            pid = os.fork()
            if pid == 0:
                try:
                    control.close()
                    channel = fds[0]
                    try:
                        confine(request["limits"], request.get("filter"))
                    except BaseException as error:
                        message = json.dumps({"error": f"confinement failed: {error}"[:300],
                                              "kind": "confine"}).encode()
                        os.write(channel, _HEADER.pack(len(message)) + message)
                        os._exit(1)
                    serve_candidate(channel)
                finally:
                    os._exit(0)
            for fd in fds:
                os.close(fd)
            control.send(json.dumps({"started": pid}).encode())
        elif "reap" in message:
            pid = int(message["reap"])
            try:
                os.kill(pid, 9)
            except OSError:
                pass
            try:
                _, status = os.waitpid(pid, 0)
                reply = {"reaped": pid,
                         "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                         "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None}
            except ChildProcessError:
                reply = {"reaped": pid, "exit": None, "signal": None}
            control.send(json.dumps(reply).encode())


main()
