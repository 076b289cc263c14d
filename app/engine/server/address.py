"""Where a vLLM server is and how to reach it: its address as the user typed it, the URLs derived from it, and the
errors every client of it raises, in words a user can act on."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORT = 8000  # vLLM's own; an https address without a port means 443 (a proxy in front of it)


class ServerError(Exception):
    """A server could not be used; ``str(error)`` is a message for the user (what happened, what to do).

    ``kind`` sorts the failures so that callers can react: "address" (not a usable address), "unreachable" (no
    answer: host unknown, refused, timed out, connection lost), "tls", "auth" (the API key was refused), "model" (the
    server does not serve that model), "server" (the server reported an error), "protocol" (an answer we do not
    understand), "limit" (a limit of the server was reached).
    """

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class ServerAddress:
    """A server's base URL (``http(s)://host:port``, no path) and the API key to send, if any.

    ``repr`` never shows the key: addresses end up in logs and messages.
    """

    base_url: str
    api_key: str | None = None

    def __repr__(self) -> str:
        return f"ServerAddress({self.base_url!r}, api_key={'…' if self.api_key else None})"

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    @property
    def encrypted(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def loopback(self) -> bool:
        """The server is this computer: audio sent to it never crosses a network."""
        host = self.host
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    @property
    def realtime_url(self) -> str:
        """The WebSocket URL of vLLM's realtime transcription endpoint."""
        scheme = "wss" if self.encrypted else "ws"
        return f"{scheme}://{self.base_url.split('://', 1)[1]}/v1/realtime"

    def url(self, path: str) -> str:
        """An HTTP endpoint, e.g. ``url("/v1/models")``."""
        return self.base_url + path

    def headers(self) -> dict[str, str]:
        """Headers every request and the WebSocket handshake carry (the API key as a bearer token)."""
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def describe(self) -> str:
        """The address as the user knows it, for messages."""
        return self.base_url


def parse_address(text: str, api_key: str | None = None) -> ServerAddress:
    """The server at ``text`` (``http://host:port`` or ``https://host:port``; a bare ``host:port`` or ``host`` means
    http; without a port, http means vLLM's 8000 and https 443); ServerError (kind "address") when it is none."""
    raw = text.strip()
    if not raw:
        raise ServerError("No server address is set. Enter it in Settings → Engine, e.g. http://gpu-box:8000.",
                          "address")
    if "://" not in raw:
        raw = "http://" + raw
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise ServerError(f"“{text}” is not a server address ({exc}). Write it as http://host:port.", "address") \
            from None
    if parts.scheme not in ("http", "https"):
        hint = " (the WebSocket address is derived from it)" if parts.scheme in ("ws", "wss") else ""
        raise ServerError(f"“{text}” is not a server address: use http:// or https://{hint}.", "address")
    if not parts.hostname:
        raise ServerError(f"“{text}” names no host. Write it as http://host:port.", "address")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ServerError(f"“{text}” has a path; give only the server, as http://host:port (the program adds "
                          "/v1/...).", "address")
    if parts.username or parts.password:
        raise ServerError("Do not put a user name or key into the address; enter the API key in its own field.",
                          "address")
    host = parts.hostname
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    key = api_key.strip() if api_key else None
    port = port or (443 if parts.scheme == "https" else DEFAULT_PORT)
    return ServerAddress(f"{parts.scheme}://{host}:{port}", key or None)
