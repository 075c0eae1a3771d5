"""Runs INSIDE the sandbox (``python -I -S -B -c <this file's text>``); stdlib only.

A zygote: it starts once per sandbox, never runs candidate code itself, and forks one
child per candidate. Control channel: the SOCK_SEQPACKET socket whose fd number is
argv[1], one JSON
message per packet, the candidate's channel fd attached to "run" with SCM_RIGHTS:
  zygote -> host   {"ready": true}
  host -> zygote   {"run": {"limits", "filter"}} + [fd of the candidate's channel]
  zygote -> host   {"started": pid}
  host -> zygote   {"reap": pid}            (kill if still running, then wait)
  zygote -> host   {"reaped": pid, "exit": code or null, "signal": number or null}
The child closes the control socket, makes itself non-dumpable, sets rlimits, installs
the host's seccomp filter (no processes, no IPC objects, no keyrings, no ptrace) and then
speaks length-prefixed JSON on its channel: it receives {"source", "entry_point"} and
replies {"defined": true} or {"error", "kind"}, then for each {"args", "kwargs"} a reply
{"value": <plain data>} or {"raised", "message"}.
The child holds only the candidate's code, never the tests; it can tamper with anything
in itself, which buys it nothing: the host decodes nothing but plain data. The file
system is read-only, so nothing a candidate does survives it for the next one.
"""
import json
import os
import resource
import socket
import struct

_HEADER = struct.Struct(">I")
_MAX_BYTES = 16 * 1024 * 1024
_MAX_DEPTH = 100
_SCALARS = (type(None), bool, int, float, str)
_TAGS = {list: "list", tuple: "tuple", set: "set", frozenset: "frozenset"}
_PR_SET_DUMPABLE, _PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 4, 38, 22, 2


class Unencodable(Exception):
    pass


def encode(value, depth=0):
    """Plain data -> JSON-able; containers become {"t": tag, "v": [...]}. Exact types only."""
    if depth > _MAX_DEPTH:
        raise Unencodable("value nested too deeply")
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind in _TAGS:
        return {"t": _TAGS[kind], "v": [encode(item, depth + 1) for item in value]}
    if kind is dict:
        return {"t": "dict", "v": [[encode(k, depth + 1), encode(v, depth + 1)]
                                   for k, v in value.items()]}
    raise Unencodable(f"return type {kind.__name__} is not plain data")


def decode(value, depth=0):
    if depth > _MAX_DEPTH:
        raise ValueError("nested too deeply")
    if type(value) is dict:
        tag, items = value["t"], value["v"]
        if tag == "dict":
            return {decode(k, depth + 1): decode(v, depth + 1) for k, v in items}
        items = [decode(item, depth + 1) for item in items]
        return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[tag](items)
    return value


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

    def send(obj):
        data = json.dumps(obj).encode()
        if len(data) > _MAX_BYTES:
            data = json.dumps({"raised": "Unencodable", "message": "reply too large"}).encode()
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
        return json.loads(exactly(length))

    def describe(error):
        try:
            message = str(error)[:300]
        except BaseException:
            message = "<unprintable>"
        return {"raised": type(error).__name__ if type(type(error)) is type else "?",
                "message": message}

    request = receive()
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
        send({"error": f"{reply['raised']}: {reply['message']}", "kind": "definition",
              "raised": reply["raised"]})
        return
    send({"defined": True})
    while True:
        call = receive()
        try:
            args = decode(call["args"])
            kwargs = decode(call["kwargs"])
            send({"value": encode(function(*args, **kwargs))})
        except Unencodable as error:
            send({"raised": "Unencodable", "message": str(error)})
        except BaseException as error:
            send(describe(error))


def main():
    import sys
    control = socket.socket(fileno=int(sys.argv[1]))
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
