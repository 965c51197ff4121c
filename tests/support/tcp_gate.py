"""A TCP forwarder on 127.0.0.1 that a test can shut and open again.

Why: the Pub/Sub emulator keeps nothing across a restart, so a test that kills it must create
the topic and its subscription again, and an event published between the two goes to a topic
nobody subscribes to. A publisher that reaches the emulator through a gate cannot get in
before the test opens it, once the emulator is provisioned.

Shut, nothing listens on the gate's port, so clients get "connection refused" as from a broker
that is down, and every connection through the gate is cut.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from clickstream.app.local.processes import free_port

_CHUNK = 64 * 1024


class TcpGate:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def open(self) -> TcpGate:
        with self._lock:
            if self._listener is not None:
                return self
            listener = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR: open again at once
            listener.settimeout(0.2)  # so the accept loop sees the gate shut
            self._listener = listener
        self._acceptor = threading.Thread(target=self._accept, args=(listener,), name="tcp-gate", daemon=True)
        self._acceptor.start()
        return self

    def shut(self) -> None:
        """Stop listening and cut every connection through the gate; returns once it is shut."""
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, set()
        if listener is not None:
            listener.close()
        for conn in connections:
            _cut(conn)  # their pumps end, and close them
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
            self._acceptor = None

    def __enter__(self) -> TcpGate:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.shut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            with self._lock:
                if self._listener is not listener:
                    return
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by shut()
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()  # the broker behind the gate is down: so is the gate
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._connections |= {client, upstream}
            ends = [2]  # pumps still running; the last one closes both sockets
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(source, sink, ends), name="tcp-gate-pump", daemon=True
                ).start()

    def _pump(self, source: socket.socket, sink: socket.socket, ends: list[int]) -> None:
        """One direction of a connection. Its end is passed on as a half-close, as between the
        two ends themselves; once both directions have ended, both sockets are closed here and
        only here (``shut`` just shuts them down, which ends the pumps)."""
        try:
            while data := source.recv(_CHUNK):
                sink.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
        with self._lock:
            ends[0] -= 1
            if ends[0]:
                return
            self._connections -= {source, sink}
        source.close()
        sink.close()


def _cut(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
