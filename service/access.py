"""Who may read what over HTTP: the operator token, and where a server may listen without one.

Every page of a worker and of the board but the health probes holds per-agent data (customer
comments on the feedback pages included), and the gateway's ``/metrics`` says which helpdesks
send what. Bound to loopback (the default) they stay on the machine; bound beyond it they need
the operator token (``SUPPORT_KPI_TOKEN``), or an explicit ``SUPPORT_KPI_ALLOW_NO_TOKEN=true``
for a trusted network, which is logged at every start.
"""

import hmac
import ipaddress
import socket

__all__ = ["bearer_token", "exposure_problem", "given_token", "is_loopback", "token_matches"]


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; the scheme's case does not
    matter (RFC 7235 §2.1). None for no header or another scheme."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


def given_token(query_token: str | None, authorization: str | None) -> str:
    """The token a request carries: ``?token=`` (a wall screen's URL, a link), else the bearer
    token of its ``Authorization`` header; "" for none."""
    return query_token or bearer_token(authorization) or ""


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a given token with the expected one."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names (resolved like a server's bind) is a loopback
    address; an empty host or one that does not resolve is not."""
    try:
        infos = socket.getaddrinfo(host or None, 0, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError):
        return False
    addresses = {info[4][0] for info in infos}
    try:
        return bool(addresses) and all(
            ipaddress.ip_address(str(a).split("%")[0]).is_loopback for a in addresses)
    except ValueError:
        return False


def exposure_problem(host: str, host_setting: str, has_token: bool) -> str | None:
    """Why a server on ``host`` must not start as configured: bound beyond loopback without
    the operator token; None when it may. ``host_setting`` names the variable of ``host``."""
    if has_token or is_loopback(host):
        return None
    return (f"{host_setting}={host} serves per-agent data beyond this machine without a "
            "token: set SUPPORT_KPI_TOKEN (and give Prometheus and the board the same token), "
            "bind to 127.0.0.1, or set SUPPORT_KPI_ALLOW_NO_TOKEN=true on a trusted network")
