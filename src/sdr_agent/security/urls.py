"""One address policy for every URL the server fetches or posts to on a client's behalf (knowledge-base
pages, post-call webhooks, tool webhooks): http(s) only, and never a loopback, private, link-local,
multicast, reserved or cloud-metadata address unless the operator allow-listed it (intranet wikis, a
CRM on the LAN) with ``SDR_SECURITY__URL_ALLOWLIST``.

Two checks, because either alone is not enough:
- ``check_url`` at input (API validation): the scheme, and a host that is *literally* an address (in any
  spelling ``inet_aton`` accepts: ``127.1``, ``2130706433``, ``0x7f.1``) or a well-known internal name.
  No DNS here: a name may legitimately not resolve yet, and tests must not send DNS queries.
- ``guarded_transport`` at connect time: every name is resolved, *every* address it resolves to must pass,
  and the connection is made to the address that was checked, so DNS rebinding between check and connect
  is impossible. Redirects go through the same transport, so each hop is checked again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Hostnames that name the machine itself or a cloud metadata service, whatever DNS says.
_INTERNAL_NAMES = ("localhost", "metadata", "metadata.google.internal", "instance-data", "metadata.azure.com")
_INTERNAL_SUFFIXES = (".localhost", ".internal", ".local")

# ``(host, port) -> addresses``; tests pass a stub so nothing ever goes to a real DNS server.
Resolver = Callable[[str, int], Awaitable[list[str]]]


class BlockedUrlError(ValueError):
    """The URL's scheme or address is not allowed; the message is fit for an API client."""


class PrivateAddressError(BlockedUrlError):
    """The host is (or resolves to) an address the policy refuses."""


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """Allow-list entries are hostnames (``wiki.corp.example``), suffixes (``*.corp.example``) or networks
    (``10.20.0.0/16``, ``127.0.0.1``). A name on the list may resolve anywhere; a network on the list
    lets any name that resolves into it through."""

    allowed_hosts: frozenset[str] = frozenset()
    allowed_suffixes: tuple[str, ...] = ()
    allowed_networks: tuple[IPNetwork, ...] = ()
    schemes: tuple[str, ...] = ("http", "https")

    @classmethod
    def from_allowlist(cls, entries: Iterable[str]) -> UrlPolicy:
        hosts: set[str] = set()
        suffixes: list[str] = []
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if entry.startswith("*."):
                suffixes.append(entry[1:])
            else:
                hosts.add(entry)
        return cls(frozenset(hosts), tuple(suffixes), tuple(networks))

    def host_allowed(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        return name in self.allowed_hosts or any(name.endswith(s) for s in self.allowed_suffixes)

    def address_allowed(self, address: IPAddress) -> bool:
        address = _unwrap(address)
        if any(address in network for network in self.allowed_networks):
            return True
        return _is_public(address)


@dataclass(slots=True)
class Destination:
    """A URL that passed the input check: its host and port, and the literal address if it is one."""

    host: str
    port: int
    literal: IPAddress | None = field(default=None)


def literal_address(host: str) -> IPAddress | None:
    """The address a host string denotes by itself, in every spelling the C library accepts."""
    candidate = host.strip("[]")
    try:
        return ipaddress.ip_address(candidate.split("%", 1)[0])
    except ValueError:
        pass
    # inet_aton takes the historic forms: 127.1, 2130706433, 0x7f.0.0.1, 0177.0.0.1.
    if candidate and all(part and _is_number(part) for part in candidate.split(".")):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(candidate))
        except OSError:
            return None
    return None


def check_url(url: str, policy: UrlPolicy) -> Destination:
    """Raise BlockedUrlError for a bad scheme, no host, or a host that is plainly internal."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in policy.schemes:
        raise BlockedUrlError(f"only {' and '.join(s + '://' for s in policy.schemes)} URLs are allowed")
    host = parts.hostname
    if not host:
        raise BlockedUrlError("the URL has no host")
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError as exc:
        raise BlockedUrlError("the URL has an invalid port") from exc
    if policy.host_allowed(host):
        return Destination(host, port, literal_address(host))
    literal = literal_address(host)
    if literal is not None:
        if not policy.address_allowed(literal):
            raise PrivateAddressError(_refusal(host))
        return Destination(host, port, literal)
    name = host.lower().rstrip(".")
    if name in _INTERNAL_NAMES or name.endswith(_INTERNAL_SUFFIXES):
        raise PrivateAddressError(_refusal(host))
    return Destination(host, port)


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def allowed_addresses(host: str, port: int, policy: UrlPolicy, resolver: Resolver) -> list[str]:
    """The addresses to connect to. Every address a name resolves to must pass (a name that resolves to one
    public and one private address is refused: which one a connection picks is not ours to choose)."""
    literal = literal_address(host)
    if literal is not None:
        if not (policy.host_allowed(host) or policy.address_allowed(literal)):
            raise PrivateAddressError(_refusal(host))
        return [str(literal)]
    name = host.lower().rstrip(".")
    if not policy.host_allowed(host) and (name in _INTERNAL_NAMES or name.endswith(_INTERNAL_SUFFIXES)):
        raise PrivateAddressError(_refusal(host))
    try:
        resolved = await resolver(host, port)
    except (OSError, UnicodeError) as exc:
        raise BlockedUrlError(f"could not resolve {host!r}") from exc
    if not resolved:
        raise BlockedUrlError(f"could not resolve {host!r}")
    if policy.host_allowed(host):
        return resolved
    for address in resolved:
        parsed = literal_address(address)
        if parsed is None or not policy.address_allowed(parsed):
            raise PrivateAddressError(_refusal(host))
    return resolved


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves and checks the host itself, then connects to the checked address (TLS still verifies
    the certificate against the host name, which httpcore passes as the server name)."""

    def __init__(self, policy: UrlPolicy, resolver: Resolver) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await allowed_addresses(host, port, self._policy, self._resolver)
        except BlockedUrlError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` whose connections go only where ``policy`` allows. No proxy from the
    environment: a proxy would make the connection for us, past every check."""

    def __init__(self, policy: UrlPolicy, resolver: Resolver | None = None) -> None:
        super().__init__(trust_env=False)
        # The parent built a pool on the default backend; the same pool on the guarded one replaces it.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            network_backend=_GuardedBackend(policy, resolver or system_resolver),
        )


def blocked_reason(exc: BaseException) -> str | None:
    """The policy's message if ``exc`` (an httpx error) came from a refused address, else None."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, PrivateAddressError):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return None


def policy_from_entries(entries: Sequence[str]) -> UrlPolicy:
    return UrlPolicy.from_allowlist(entries)


def _refusal(host: str) -> str:
    return (
        f"the address of {host!r} is private, loopback, link-local or a metadata service; "
        "add it to SDR_SECURITY__URL_ALLOWLIST if it is an intranet site you trust"
    )


def _unwrap(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
        if address in _NAT64:
            return ipaddress.IPv4Address(address.packed[-4:])
    return address


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _is_public(address: IPAddress) -> bool:
    address = _unwrap(address)
    # is_global is False for private, loopback, link-local (169.254/16 holds the metadata services),
    # shared (100.64/10, Alibaba's metadata), reserved and unspecified ranges; multicast is never a server.
    return address.is_global and not address.is_multicast


def _is_number(part: str) -> bool:
    lowered = part.lower()
    if lowered.startswith("0x"):
        return len(lowered) > 2 and all(c in "0123456789abcdef" for c in lowered[2:])
    return lowered.isdigit()


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[UrlPolicy, httpx.AsyncClient]] = (
    weakref.WeakKeyDictionary()
)


def guarded_client(policy: UrlPolicy) -> httpx.AsyncClient:
    """One pooled client per event loop and policy for client-supplied URLs (tool webhooks during calls):
    a connection pool belongs to one loop, and building a transport per request would cost a TLS context."""
    loop = asyncio.get_running_loop()
    per_loop = _clients.setdefault(loop, {})
    client = per_loop.get(policy)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            transport=GuardedTransport(policy), trust_env=False, follow_redirects=False
        )
        per_loop[policy] = client
    return client
