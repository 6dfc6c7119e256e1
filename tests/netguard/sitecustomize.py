"""Put this folder first on PYTHONPATH to forbid every non-loopback connection in a subprocess.

Any attempt raises ConnectionRefusedError naming the address, and is also appended to the file
named by CLMER_NETGUARD_LOG, so a test can assert that nothing even tried.
"""

import os
import socket

_LOG = os.environ.get("CLMER_NETGUARD_LOG")
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _local(address) -> bool:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        return host in ("127.0.0.1", "::1", "localhost") or host.startswith("127.")
    return True  # AF_UNIX


def _refuse(what):
    if _LOG:
        with open(_LOG, "a", encoding="utf-8") as fh:
            fh.write(f"{what}\n")
    raise ConnectionRefusedError(f"network blocked by test: {what}")


def _connect(self, address):
    if not _local(address):
        _refuse(f"connect {address!r}")
    return _real_connect(self, address)


def _connect_ex(self, address):
    if not _local(address):
        _refuse(f"connect {address!r}")
    return _real_connect_ex(self, address)


def _getaddrinfo(host, *args, **kwargs):
    if host not in (None, "localhost", "127.0.0.1", "::1") and not str(host).startswith("127."):
        _refuse(f"resolve {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _connect
socket.socket.connect_ex = _connect_ex
socket.getaddrinfo = _getaddrinfo
