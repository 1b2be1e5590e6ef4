"""Fail-fast network checks: a listening socket answers, a closed port and an unknown host do not, quickly."""

import socket
import time

import pytest

from helpers.lessons import network


def test_is_reachable_sees_a_listening_socket_and_not_a_closed_port():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert network.is_reachable("127.0.0.1", port=port, timeout=1.0)
    assert not network.is_reachable("127.0.0.1", port=port, timeout=1.0)


def test_an_unresolvable_host_answers_within_the_timeout():
    started = time.monotonic()
    assert not network.is_reachable("host.invalid", timeout=2.0)
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize("timeout", [0, -1.0, "3", True])
def test_timeout_must_be_positive(timeout):
    with pytest.raises(ValueError, match=f"Received: timeout={timeout!r}"):
        network.is_reachable("localhost", timeout=timeout)


def test_keras_home_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert network.keras_home() == tmp_path
    monkeypatch.delenv("KERAS_HOME")
    assert network.keras_home().name == ".keras"
