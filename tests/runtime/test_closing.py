from __future__ import annotations

import pytest

from feedgate.runtime.closing import CloseVerdict, judge_close


@pytest.mark.parametrize(
    ("exchange", "code", "reason", "verdict"),
    [
        ("binance", None, "", CloseVerdict("connection_lost", False)),
        ("binance", 1000, "", CloseVerdict("closed_by_venue", False)),
        ("binance", 1008, "too many messages", CloseVerdict("policy_violation", False)),
        ("binance", 1011, "", CloseVerdict("keepalive_timeout", False)),
        ("binance", 4000, "maintenance", CloseVerdict("venue_code_4000", False)),
        ("binance", 3999, "", CloseVerdict("close_code_3999", False)),
        ("cryptolisting", 4001, "key_expired", CloseVerdict("key_expired", True)),
        ("cryptolisting", 4001, "key_invalidated", CloseVerdict("key_invalidated", True)),
        ("binance", 4001, "key_expired", CloseVerdict("venue_code_4001", False)),
    ],
)
def test_close_verdicts(
    exchange: str, code: int | None, reason: str, verdict: CloseVerdict
) -> None:
    assert judge_close(exchange, code, reason) == verdict


def test_our_own_close_for_an_oversized_frame_names_it() -> None:
    """We closed with 1009 (a frame over ``max_size``): whatever the venue answered, the reason
    is ours; a venue's own 1009 (our message was too big for it) keeps its label."""
    ours = judge_close("binance", None, "", sent_code=1009)
    assert ours == CloseVerdict("frame_too_large", False)
    assert judge_close("binance", 1009, "") == CloseVerdict("message_too_big", False)
    assert judge_close("binance", 1000, "", 1000) == CloseVerdict("closed_by_venue", False)
