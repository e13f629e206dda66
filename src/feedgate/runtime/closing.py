"""Why did a venue close the socket, and may we reconnect? Decided here, in one function.

A close is retryable unless the venue told us that reconnecting cannot help (an expired or
revoked key, a ban). Every close gets a short reason label for ``feedgate_reconnects_total``.
"""

from __future__ import annotations

from dataclasses import dataclass

# Close reasons (the close frame's reason text) after which reconnecting cannot help, per venue.
FATAL_REASONS: dict[str, frozenset[str]] = {
    # exchanges.md §7.1 close codes: an expired or revoked key ("key_revoked" in older docs)
    "cryptolisting": frozenset({"key_expired", "key_invalidated", "key_revoked"}),
}

_CODE_LABELS = {
    1000: "closed_by_venue",
    1001: "venue_going_away",
    1006: "connection_lost",
    1008: "policy_violation",
    1009: "message_too_big",
    1011: "keepalive_timeout",
    1012: "venue_restart",
    1013: "try_again_later",
}

_SENT_CODE_LABELS = {
    1009: "frame_too_large",
}
"""Our own close codes that say what the venue did: 1009, it sent a frame or a message larger
than the transport's ``max_size`` (the venue's ``max_frame_bytes``)."""


@dataclass(frozen=True, slots=True)
class CloseVerdict:
    reason: str
    fatal: bool


def judge_close(
    exchange: str, code: int | None, reason: str, sent_code: int | None = None
) -> CloseVerdict:
    """``code`` None means no close frame arrived (TCP reset, keepalive timeout); ``sent_code``
    is ours when we closed first."""
    if reason in FATAL_REASONS.get(exchange, frozenset()):
        return CloseVerdict(reason, fatal=True)
    if sent_code in _SENT_CODE_LABELS:
        return CloseVerdict(_SENT_CODE_LABELS[sent_code], fatal=False)
    if code is None:
        if sent_code is not None:  # we closed first (no pong: 1011 keepalive_timeout)
            return CloseVerdict(_CODE_LABELS.get(sent_code, f"close_code_{sent_code}"), False)
        return CloseVerdict("connection_lost", fatal=False)
    if 4000 <= code <= 4999:
        return CloseVerdict(f"venue_code_{code}", fatal=False)
    return CloseVerdict(_CODE_LABELS.get(code, f"close_code_{code}"), fatal=False)


def judge_handshake(exchange: str, status: int) -> CloseVerdict:
    """An HTTP error instead of an upgrade. For keyed sources (those with fatal close reasons)
    401/403 mean the key is missing, invalid, revoked or expired: retrying cannot help and would
    hammer the service. Anything else (429, 5xx) is retried with backoff."""
    if status in (401, 403) and exchange in FATAL_REASONS:
        return CloseVerdict(f"http_{status}", fatal=True)
    return CloseVerdict(f"http_{status}", fatal=False)
