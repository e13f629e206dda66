"""The private endpoint's JWT (exchanges.md §4.1; Upbit's auth guide): HS512 over
``{access_key, nonce}``, checked by recomputing the signature independently (hmac/hashlib)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from feedgate.venues.upbit.auth import InvalidToken, make_jwt, verify


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.mark.parametrize(("alg", "digest"), [("HS512", hashlib.sha512), ("HS256", hashlib.sha256)])
def test_token_is_a_standard_hs_jwt(alg: str, digest: object) -> None:
    token = make_jwt("my-access", "my-secret", alg, nonce="n-1")
    head, body, sig = token.split(".")
    assert "=" not in token
    assert json.loads(_unb64(head)) == {"alg": alg, "typ": "JWT"}
    assert json.loads(_unb64(body)) == {"access_key": "my-access", "nonce": "n-1"}
    expected = hmac.new(b"my-secret", f"{head}.{body}".encode(), digest).digest()  # type: ignore[arg-type]
    assert _unb64(sig) == expected
    assert verify(token, {"my-access": "my-secret"})["nonce"] == "n-1"


def test_fresh_nonce_each_time() -> None:
    claims = [json.loads(_unb64(make_jwt("a", "s").split(".")[1])) for _ in range(3)]
    assert len({c["nonce"] for c in claims}) == 3


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("abc", "malformed"),
        (make_jwt("a", "wrong"), "bad signature"),
        (make_jwt("other", "s"), "unknown access key"),
        ("x.y.z", "malformed"),
    ],
)
def test_verify_rejects_without_echoing_secrets(token: str, reason: str) -> None:
    with pytest.raises(InvalidToken, match=reason) as info:
        verify(token, {"a": "s"})
    assert "s" not in str(info.value).replace(reason, "").replace("unsupported", "")
