"""Who may talk to the live server: Host names, origins, the token, CORS and framing.

Without a token the server is bound to loopback and trusts the programs on this machine.
A browser on this machine, though, also runs pages from anywhere, and those pages can send
requests to 127.0.0.1 (``fetch`` with ``mode: "no-cors"``, form posts) or reach it under
a name of their own (DNS rebinding). So, without a token:

* only the server's own names are served — 127.0.0.1, localhost and [::1] on its port, and
  the address it is bound to. A rebound page arrives with its own name in ``Host`` → 421.
* every request that changes state or opens a stream (any method but GET/HEAD) must come
  from a page of this very origin when it comes from a browser: an ``Origin`` of another
  origin, or a ``Sec-Fetch-Site`` other than ``same-origin``/``none`` → 403. Programs send
  neither (curl, OBS, WHEP players, ``streamfx.web.client``) and are let through: they are
  local programs, which loopback trusts anyway.
* no CORS headers at all, so another origin cannot even send JSON or SDP (its preflight
  fails).

With a token (required off loopback) the token is the guard: any Host, any origin that has
the token, and CORS on the WHEP routes so players on other origins can use them.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass

from aiohttp import hdrs, web

#: Methods that neither change state nor open a stream here.
SAFE_METHODS = frozenset({"GET", "HEAD"})
#: Paths that see the stream or change state: they need the token when one is set.
PROTECTED_PREFIXES = ("/api/", "/metrics", "/offer", "/whep", "/overlay/offer")
#: Players on other origins (token mode only).
CORS_PREFIXES = ("/whep",)
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, DELETE, PATCH, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Expose-Headers": "Location",
}
#: For pages with controls: no other site may frame them (clickjacking).
NO_FRAMING = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}

_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
# a Host header is a name or an IP literal and an optional port — nothing else (no userinfo, no path)
_HOST_RE = re.compile(r"(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.\-]+)(?::(\d{1,5}))?")


def split_host(value: str) -> tuple[str, int | None] | None:
    """``Host`` header → (lower-case name without brackets, port or None); None if malformed."""
    m = _HOST_RE.fullmatch(value.strip())
    if m is None:
        return None
    return m.group(1).strip("[]").lower(), int(m.group(2)) if m.group(2) else None


def token_matches(request: web.BaseRequest, token: str) -> bool:
    """True when the request carries ``token`` (``Authorization: Bearer …`` or ``?token=``)."""
    given = request.query.get("token", "")
    auth = request.headers.get(hdrs.AUTHORIZATION, "")
    if auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    return hmac.compare_digest(given.encode(), token.encode())


@dataclass(frozen=True)
class LocalOnlyPolicy:
    """The tokenless (loopback) server's rule: its own Host names, same-origin browsers."""

    port: int
    bound_host: str = "127.0.0.1"

    @property
    def names(self) -> frozenset[str]:
        return _LOOPBACK_NAMES | {self.bound_host.strip("[]").lower()}

    def host_allowed(self, host: str | None) -> bool:
        parsed = split_host(host) if host else None
        if parsed is None:
            return False
        name, port = parsed
        return name in self.names and (port == self.port or (port is None and self.port == 80))

    def refusal(self, request: web.BaseRequest) -> tuple[int, str] | None:
        """(status, one-line reason) when ``request`` must be refused, else None."""
        host = request.headers.get(hdrs.HOST)
        if not self.host_allowed(host):
            return 421, (f"this server answers only to its own address (got Host {host!r}) — open "
                         f"http://127.0.0.1:{self.port}/, or start it with --token to serve other names")
        if request.method not in SAFE_METHODS and not same_origin(request, host or ""):
            return 403, ("cross-site request refused — use the control panel at "
                         f"http://127.0.0.1:{self.port}/panel, or start the server with --token")
        return None


def same_origin(request: web.BaseRequest, host: str) -> bool:
    """False when a browser says the request comes from a page of another origin.

    ``Sec-Fetch-Site: same-site`` is refused too: http://127.0.0.1:OTHERPORT is the same
    *site* as this server but another origin, and any local web app can be there.
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site.lower() not in ("same-origin", "none"):
        return False
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None:  # browsers send Origin on every cross-origin POST/DELETE/…; programs don't
        return True
    return origin.lower() in (f"http://{host}".lower(), f"https://{host}".lower())
