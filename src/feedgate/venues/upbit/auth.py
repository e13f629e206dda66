"""The JWT Upbit's private WebSocket endpoint wants (exchanges.md §4.1: ``Authorization:
Bearer …`` on ``/websocket/v1/private``).

Per Upbit's authentication guide (cited in §10, not reproduced in exchanges.md, hence
UNCONFIRMED here): the payload is ``{"access_key": "<access key>", "nonce": "<fresh UUID>"}``,
signed with the secret key, HS512 (HS256 accepted). A token is built at every (re)connect and is
never stored, logged or put into an action. ``verify`` is the simulator's side of the check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

import orjson

_HASHES = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}


class InvalidToken(ValueError):
    """A bearer token that is malformed or not signed with the expected secret."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_jwt(access_key: str, secret_key: str, alg: str = "HS512", nonce: str | None = None) -> str:
    """``header.payload.signature``, base64url without padding (RFC 7519); ``nonce`` defaults to
    a fresh UUID4 (Upbit rejects a reused nonce)."""
    if alg not in _HASHES:
        raise ValueError(f"unsupported JWT algorithm {alg!r}")
    header = _b64(orjson.dumps({"alg": alg, "typ": "JWT"}))
    claims = {"access_key": access_key, "nonce": nonce or str(uuid.uuid4())}
    signing_input = f"{header}.{_b64(orjson.dumps(claims))}"
    signature = hmac.new(secret_key.encode(), signing_input.encode(), _HASHES[alg]).digest()
    return f"{signing_input}.{_b64(signature)}"


def verify(token: str, secrets: dict[str, str]) -> dict[str, object]:
    """Check ``token`` against ``secrets`` (access key → secret key); returns the claims.
    Raises ``InvalidToken`` with a reason that never contains the token or a secret."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("malformed token")
    try:
        header = orjson.loads(_unb64(parts[0]))
        claims = orjson.loads(_unb64(parts[1]))
        signature = _unb64(parts[2])
    except (ValueError, orjson.JSONDecodeError):
        raise InvalidToken("malformed token") from None
    if type(header) is not dict or type(claims) is not dict:
        raise InvalidToken("malformed token")
    alg = header.get("alg")
    if alg not in _HASHES:
        raise InvalidToken("unsupported algorithm")
    access_key = claims.get("access_key")
    secret = secrets.get(access_key) if type(access_key) is str else None
    if secret is None:
        raise InvalidToken("unknown access key")
    if type(claims.get("nonce")) is not str or not claims["nonce"]:
        raise InvalidToken("no nonce")
    expected = hmac.new(
        secret.encode(), f"{parts[0]}.{parts[1]}".encode(), _HASHES[str(alg)]
    ).digest()
    if not hmac.compare_digest(expected, signature):
        raise InvalidToken("bad signature")
    return claims
