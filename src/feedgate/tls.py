"""TLS to Redis (``rediss://``): which CA to trust and which client certificate to present.

One ``TlsOptions`` serves both sides of the bus: the gateway turns it into an ``ssl.SSLContext``
once per process (every Redis connection reuses it), consumers built on redis-py get the same
settings as its ``ssl_*`` keyword arguments. With no CA file the system's trust store is used;
with ``tls-auth-clients yes`` on the server a client certificate and key are required.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TlsOptions:
    ca_file: str | None = None
    """PEM bundle of the CA(s) that signed the server's certificate (None: the system store)."""
    cert_file: str | None = None
    """PEM client certificate, for servers that authenticate clients (``tls-auth-clients``)."""
    key_file: str | None = None
    """The client certificate's private key (unencrypted PEM; None when it is in ``cert_file``)."""
    verify_hostname: bool = True
    """Check that the server's certificate names the host connected to. Turn off only for
    servers reached by an address their certificate does not list; the chain is still checked."""

    def __post_init__(self) -> None:
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("a TLS key file needs its certificate file")

    def context(self) -> ssl.SSLContext:
        """A client context that verifies the server (raises ``ssl.SSLError``/``OSError`` for
        files that cannot be loaded)."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file)
        context.check_hostname = self.verify_hostname
        if self.cert_file is not None:
            # a passphrase callback that gives none: an encrypted key fails here instead of
            # OpenSSL prompting on the terminal of a headless service
            context.load_cert_chain(self.cert_file, self.key_file, password=_no_passphrase)
        return context

    def redis_py_kwargs(self) -> dict[str, Any]:
        """The same settings for a redis-py client of a ``rediss://`` url."""
        kwargs: dict[str, Any] = {
            "ssl_cert_reqs": "required",
            "ssl_check_hostname": self.verify_hostname,
        }
        if self.ca_file is not None:
            kwargs["ssl_ca_certs"] = self.ca_file
        if self.cert_file is not None:
            kwargs["ssl_certfile"] = self.cert_file
        if self.key_file is not None:
            kwargs["ssl_keyfile"] = self.key_file
        return kwargs


def _no_passphrase() -> bytes:
    raise ValueError("encrypted private keys are not supported: protect the key file instead")
