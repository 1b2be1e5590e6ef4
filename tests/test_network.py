"""Fail-fast network checks: a listening socket answers; a closed port, an unknown host do not."""

import re
import socket
import time

import numpy as np
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


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan"), "3", True])
def test_timeout_must_be_positive(timeout):
    message = f"timeout must be a positive, finite number. Received: timeout={timeout!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        network.is_reachable("localhost", timeout=timeout)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"host": ""}, "host must be a non-blank str. Received: host=''"),
        ({"host": 127}, "host must be a non-blank str. Received: host=127"),
        ({"port": 0}, "port must be an int from 1 to 65535. Received: port=0"),
        ({"port": 70000}, "port must be an int from 1 to 65535. Received: port=70000"),
        ({"port": "443"}, "port must be an int from 1 to 65535. Received: port='443'"),
    ],
)
def test_host_and_port_are_checked_before_connecting(arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        network.is_reachable(**{"host": "localhost", **arguments})


def test_numpy_scalars_are_accepted():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert network.is_reachable("127.0.0.1", port=np.int64(port), timeout=np.float32(1.0))


def test_keras_home_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert network.keras_home() == tmp_path
    monkeypatch.delenv("KERAS_HOME")
    assert network.keras_home().name == ".keras"
