"""The gate the spool outage tests put between a publisher and its emulator."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from tests.support.tcp_gate import TcpGate


@pytest.fixture
def echo_port() -> Iterator[int]:
    """A server on 127.0.0.1 that sends back what it receives, one connection at a time."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                while data := conn.recv(1024):
                    conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    server.close()


def _round_trip(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(payload)
        return conn.recv(1024)


def test_a_shut_gate_refuses_and_an_open_one_forwards(echo_port: int) -> None:
    gate = TcpGate(echo_port)
    with pytest.raises(ConnectionRefusedError):
        _round_trip(gate.port, b"before")
    with gate:
        assert _round_trip(gate.port, b"through") == b"through"
    with pytest.raises(ConnectionRefusedError):
        _round_trip(gate.port, b"after")
    with gate:  # the same port opens again at once
        assert _round_trip(gate.port, b"again") == b"again"


def test_shutting_the_gate_cuts_the_connections_through_it_and_it_opens_again(echo_port: int) -> None:
    with TcpGate(echo_port) as gate, socket.create_connection(("127.0.0.1", gate.port), timeout=5) as conn:
        conn.sendall(b"ping")
        assert conn.recv(1024) == b"ping"
        gate.shut()
        try:
            conn.sendall(b"lost")
            assert conn.recv(1024) == b""
        except ConnectionError:
            pass  # reset rather than closed: cut either way
        gate.open()  # the port of connections the gate itself cut
        assert _round_trip(gate.port, b"back") == b"back"


def test_a_half_closed_connection_still_gets_its_answer(echo_port: int) -> None:
    """A client that says it has nothing more to send (SHUT_WR) still reads the reply."""
    with TcpGate(echo_port) as gate, socket.create_connection(("127.0.0.1", gate.port), timeout=5) as conn:
        conn.sendall(b"last words")
        conn.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := conn.recv(1024):
            received += chunk
        assert received == b"last words"
