"""Network checks that fail fast: the course never lets a cell hang on a download.

Lessons 03 and 04 use these before asking Keras for ImageNet weights or the flower photos: offline
(CI, these machines) the check answers within seconds, and the caller falls back with a clear message.
"""

from __future__ import annotations

import os
import pathlib
import socket
import threading

REACHABILITY_TIMEOUT_SECONDS = 3.0  # how long an offline machine waits before the course falls back


def keras_home() -> pathlib.Path:
    """Returns Keras's cache folder: `$KERAS_HOME`, or `~/.keras` when it is unset.

    Keras keeps downloaded weights in `keras_home() / "models"` and datasets in `keras_home() / "datasets"`.

    Example:

    >>> keras_home().name in (".keras", pathlib.Path(os.environ.get("KERAS_HOME", ".keras")).name)
    True
    """
    return pathlib.Path(os.environ.get("KERAS_HOME") or pathlib.Path.home() / ".keras").expanduser()


def is_reachable(host: str, port: int = 443, timeout: float = REACHABILITY_TIMEOUT_SECONDS) -> bool:
    """Returns whether a TCP connection to `host:port` opens within `timeout` seconds, name lookup included.

    The connection runs in a daemon thread, so a slow DNS lookup cannot hold the caller past `timeout`.

    Args:
        host: str, the server's name or address.
        port: int, the TCP port. Defaults to 443.
        timeout: float, seconds to wait in all. Defaults to 3.0.

    Returns:
        `True` if the connection opened in time.

    Raises:
        ValueError: if `timeout` is not a positive number.

    Example:

    >>> is_reachable("localhost", port=9, timeout=1.0)
    False
    """
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ValueError(
            f"timeout must be a positive number of seconds. Received: timeout={timeout!r}"
        )
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
