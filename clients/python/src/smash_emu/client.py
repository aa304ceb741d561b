"""A client of smash-emu's line transport: JSON-RPC 2.0, one JSON text per line,
over the Unix socket of ``smash-emu serve --unix PATH`` (protocol/README.md §1.9).

Calls are synchronous and answered in order. Notifications (``events.notify``)
that arrive while a call waits are kept, in order, for :meth:`Client.events` and
:meth:`Client.next_event`. Addresses and 64-bit values are ``int`` here and
``"0x..."`` strings on the wire: the convenience methods convert; :meth:`Client.call`
sends params as given (use :func:`hexs`).
"""

from __future__ import annotations

import json
import socket
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Deque, Dict, List, Mapping, Optional, Sequence, Tuple, Union

Params = Optional[Mapping[str, Any]]


def hexs(value: int) -> str:
    """An int as the wire's hex string: lowercase, no leading zeros (``0x1f``)."""
    if value < 0:
        raise ValueError(f"addresses and 64-bit values are non-negative, got {value}")
    return hex(value)


def to_int(value: Union[str, int]) -> int:
    """A wire value ("0x..." or a JSON integer) as an int."""
    return value if isinstance(value, int) else int(value, 16)


class RpcError(Exception):
    """A JSON-RPC error answer: ``code`` (-32602 invalid params, ...), ``message``, ``data``."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        issues = data.get("issues") if isinstance(data, dict) else None
        detail = ""
        if isinstance(issues, list) and issues and isinstance(issues[0], dict):
            path = ".".join(str(p) for p in issues[0].get("path", []))
            detail = f": {path}: {issues[0].get('message')}" if path else f": {issues[0].get('message')}"
        super().__init__(f"{code} {message}{detail}")
        self.code = code
        self.message = message
        self.data = data


class ConnectionClosed(Exception):
    """The server closed the connection; ``code`` and ``reason`` from its ``session.closed`` line when it sent one."""

    def __init__(self, code: Optional[int], reason: str) -> None:
        super().__init__(f"connection closed by the server: {reason}" + (f" (code {code})" if code is not None else ""))
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Notification:
    """One ``events.notify``: its subscription, topic, virtual time and data."""

    subscription_id: str
    topic: str
    at_ns: int
    data: Dict[str, Any]


class Client:
    """One connection: the default platform, or the one :meth:`connect`'s ``platform`` attaches to."""

    def __init__(self, sock: socket.socket, timeout: Optional[float] = 60.0) -> None:
        self._sock = sock
        self._sock.settimeout(timeout)
        self._buf = b""
        self._next_id = 1
        self._events: Deque[Notification] = deque()
        self.platform = ""
        self.closed: Optional[ConnectionClosed] = None

    @classmethod
    def connect(cls, path: str, platform: Optional[str] = None, timeout: Optional[float] = 60.0) -> "Client":
        """Connects to the socket at ``path``; with ``platform``, ``session.attach`` moves the connection there first."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(path)
        except OSError:
            sock.close()
            raise
        client = cls(sock, timeout)
        if platform is not None:
            client.attach(platform)
        return client

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass

    # ---- the wire ---------------------------------------------------------------

    def _send(self, message: Any) -> None:
        if self.closed is not None:
            raise self.closed
        try:
            self._sock.sendall(json.dumps(message, separators=(",", ":")).encode() + b"\n")
        except (BrokenPipeError, ConnectionResetError):
            # The server closed first: its last lines say why (session.closed).
            try:
                while True:
                    line = self._read_message()
                    if isinstance(line, dict) and "method" in line and "id" not in line:
                        self._take_notification(line)
            except (ConnectionClosed, OSError, ValueError):
                pass
            self.closed = self.closed or ConnectionClosed(None, "end of stream")
            raise self.closed from None

    def _read_message(self) -> Any:
        while b"\n" not in self._buf:
            chunk = self._sock.recv(1 << 16)
            if not chunk:
                self.closed = self.closed or ConnectionClosed(None, "end of stream")
                raise self.closed
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def _read_answer(self) -> Any:
        """The next answer (an object, or a batch's list); notifications meanwhile are kept."""
        while True:
            message = self._read_message()
            if isinstance(message, dict) and "method" in message and "id" not in message:
                self._take_notification(message)
                continue
            return message

    def _take_notification(self, message: Dict[str, Any]) -> None:
        params = message.get("params") or {}
        if message["method"] == "session.closed":
            self.closed = ConnectionClosed(params.get("code"), str(params.get("reason", "")))
        elif message["method"] == "events.notify":
            self._events.append(Notification(params["subscriptionId"], params["topic"], params["atNs"], params.get("data") or {}))

    @staticmethod
    def _result(answer: Dict[str, Any]) -> Any:
        if "error" in answer:
            e = answer["error"]
            raise RpcError(e["code"], e["message"], e.get("data"))
        return answer["result"]

    # ---- calls -------------------------------------------------------------------

    def call(self, method: str, params: Params = None) -> Any:
        """Calls ``method`` and returns its result; raises :class:`RpcError` for an error answer."""
        request_id = self._next_id
        self._next_id += 1
        request: Dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            request["params"] = dict(params)
        self._send(request)
        answer = self._read_answer()
        if not isinstance(answer, dict) or answer.get("id") != request_id:
            raise RpcError(-32603, f"answer to another request: {answer!r}")
        return self._result(answer)

    def notify(self, method: str, params: Params = None) -> None:
        """A notification: the server runs it and answers nothing, not even an error."""
        request: Dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            request["params"] = dict(params)
        self._send(request)

    def batch(self, calls: Sequence[Tuple[str, Params]]) -> List[Union[Any, RpcError]]:
        """Runs ``calls`` as one batch, in order; each result, or the :class:`RpcError` of that member."""
        first = self._next_id
        requests = []
        for method, params in calls:
            request: Dict[str, Any] = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
            if params is not None:
                request["params"] = dict(params)
            requests.append(request)
            self._next_id += 1
        self._send(requests)
        answer = self._read_answer()
        if isinstance(answer, dict):
            self._result(answer)  # the batch itself was refused (too long): raises
        out: List[Union[Any, RpcError]] = [None] * len(calls)
        for member in answer:
            try:
                out[member["id"] - first] = self._result(member)
            except RpcError as e:
                out[member["id"] - first] = e
        return out

    def attach(self, platform: str) -> None:
        """``session.attach``: the connection's first call; later calls go to platform ``platform``."""
        self.call("session.attach", {"platform": platform})
        self.platform = platform

    # ---- events ----------------------------------------------------------------------

    def subscribe(self, topics: Sequence[str]) -> str:
        """``events.subscribe``: returns the subscription id."""
        return str(self.call("events.subscribe", {"topics": list(topics)})["subscriptionId"])

    def unsubscribe(self, subscription_id: str) -> None:
        self.call("events.unsubscribe", {"subscriptionId": subscription_id})

    def events(self) -> List[Notification]:
        """Every notification received so far and not yet taken, oldest first."""
        out = list(self._events)
        self._events.clear()
        return out

    def next_event(self, timeout: Optional[float] = 5.0) -> Optional[Notification]:
        """The next notification, waiting up to ``timeout`` seconds for one (None when none came)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._events:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            previous = self._sock.gettimeout()
            self._sock.settimeout(left)
            try:
                message = self._read_message()
            except socket.timeout:
                return None
            finally:
                self._sock.settimeout(previous)
            if isinstance(message, dict) and "method" in message and "id" not in message:
                self._take_notification(message)
        return self._events.popleft()

    # ---- registers, memory, time ----------------------------------------------------------

    def tmpm_read(self, offset: int) -> int:
        return int(self.call("tmpm.readReg", {"offset": offset})["value"])

    def tmpm_write(self, offset: int, value: int) -> None:
        self.call("tmpm.writeReg", {"offset": offset, "value": value})

    def psp_read(self, offset: int) -> int:
        return int(self.call("psp.readReg", {"offset": offset})["value"])

    def psp_write(self, offset: int, value: int) -> None:
        self.call("psp.writeReg", {"offset": offset, "value": value})

    def mem_alloc(self, pages: int = 1) -> int:
        return to_int(self.call("mem.alloc", {"pages": pages})["spa"])

    def mem_free(self, spa: int, pages: int) -> None:
        self.call("mem.free", {"spa": hexs(spa), "pages": pages})

    def mem_read64(self, spa: int, count: int = 1) -> List[int]:
        return [to_int(v) for v in self.call("mem.read64", {"spa": hexs(spa), "count": count})["values"]]

    def mem_write64(self, spa: int, values: Sequence[int]) -> None:
        self.call("mem.write64", {"spa": hexs(spa), "values": [hexs(v) for v in values]})

    def clock_now(self) -> int:
        return int(self.call("clock.now")["nowNs"])

    def clock_advance(self, ns: int) -> int:
        return int(self.call("clock.advance", {"ns": ns})["nowNs"])
