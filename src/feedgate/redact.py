"""URLs as they may appear in logs, reprs and error messages: without the secrets they carry.

A Redis url holds the ACL user's password (``redis://feedgate:PASSWORD@host``); a node provider's
WebSocket url often holds an API key in its path or query (``wss://host/v3/KEY``). Everything
that prints a url goes through one of these.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MASK = "***"


def redis_url(url: str) -> str:
    """The url with the password replaced by ``***`` (the user name stays: it tells which ACL
    user). Works on cluster urls with several hosts, which ``urlsplit`` cannot parse."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    credentials, at, hosts = rest.rpartition("@")
    if not at:
        return url
    user, colon, _ = credentials.partition(":")
    return f"{scheme}://{user}:{MASK}@{hosts}" if colon else url


def endpoint(url: str) -> str:
    """``scheme://host:port`` only: path, query and credentials may hold keys."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unparsable url)"
    return f"{parts.scheme}://{host}{port}"
