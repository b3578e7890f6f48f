"""A connect guard and a stub resolver: SSRF tests prove that nothing is fetched, and no test ever sends a
packet beyond loopback (no DNS query either: names resolve from a table)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from sdr_agent.security import urls


@dataclass
class NetGuard:
    names: dict[str, list[str]] = field(default_factory=dict)
    refused: list[Any] = field(default_factory=list)  # connections the guard stopped (must stay empty)
    resolved: list[str] = field(default_factory=list)

    async def resolve(self, host: str, port: int) -> list[str]:
        self.resolved.append(host)
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "unknown name (stub resolver)")
        return list(self.names[host])


def _loopback(address: Any) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    try:
        return ipaddress.ip_address(str(host).split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@contextmanager
def net_guard(
    monkeypatch: pytest.MonkeyPatch, names: dict[str, list[str]] | None = None
) -> Iterator[NetGuard]:
    guard = NetGuard(dict(names or {}))
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address):
            guard.refused.append(address)
            raise PermissionError(f"test connect guard: {address!r} is not loopback")
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address):
            guard.refused.append(address)
            raise PermissionError(f"test connect guard: {address!r} is not loopback")
        return real_connect_ex(sock, address)

    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        # Only numeric hosts reach the C library; a name would be a DNS query.
        if host is not None and urls.literal_address(str(host)) is None and host != "localhost":
            guard.refused.append(("dns", host))
            raise socket.gaierror(socket.EAI_NONAME, "test connect guard: no DNS in tests")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(urls, "system_resolver", guard.resolve)
    yield guard
