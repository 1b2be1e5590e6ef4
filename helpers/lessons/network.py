"""Network checks that fail within seconds, so no cell hangs on a download (lesson 03).

`pretrained` and `datasets` call them before asking Keras for ImageNet weights or the flower
photos (lesson 03 offers both): offline (CI, these machines) the check answers within seconds,
and the caller falls back with a clear message.
"""

from __future__ import annotations

import os
import pathlib
import socket
import threading

from helpers.finetune import validation

# How long an offline machine waits before the course falls back.
REACHABILITY_TIMEOUT_SECONDS = 3.0
HIGHEST_PORT = 65535


def keras_home() -> pathlib.Path:
    """Returns Keras's cache folder: `$KERAS_HOME`, or `~/.keras` when it is unset.

    Keras keeps downloaded weights in `keras_home() / "models"` and datasets in
    `keras_home() / "datasets"`.

    Example:

    >>> keras_home().name in (".keras", pathlib.Path(os.environ.get("KERAS_HOME", ".keras")).name)
    True
    """
    home = os.environ.get("KERAS_HOME") or pathlib.Path.home() / ".keras"
    return pathlib.Path(home).expanduser()


def is_reachable(host: str, port: int = 443, timeout: float = REACHABILITY_TIMEOUT_SECONDS) -> bool:
    """Returns whether a TCP connection to `host:port` opens within `timeout` seconds.

    The name lookup counts towards `timeout`: the connection runs in a daemon thread, so a slow
    DNS lookup cannot hold the caller longer.

    Args:
        host: str, the server's name or address.
        port: int from 1 to 65535, the TCP port. Defaults to 443.
        timeout: float > 0, seconds to wait in all. Defaults to 3.0.

    Returns:
        `True` if the connection opened in time.

    Raises:
        ValueError: if `host` is not a non-blank str, `port` not a port number or `timeout` not a
            positive number.

    Example:

    >>> is_reachable("localhost", port=9, timeout=1.0)
    False
    """
    host = validation.check_text("host", host)
    port = validation.check_int("port", port, minimum=1, maximum=HIGHEST_PORT)
    timeout = validation.check_positive_number("timeout", timeout)
    outcome = []

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome.append(True)
        except OSError:
            outcome.append(False)

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(outcome and outcome[0])
