"""Announcement content for the cryptolisting.ws simulator: per publisher, titles in the style of
the §7.1 examples (``Binance Will List TOKEN (TOKEN)``), the §7.1 listing types, 1-3 tickers.

Titles other than the §7.1 example are illustrative (modelled on the exchanges' usual notice
wording); the fields, types and the free-tier redaction follow §7.1.
"""

from __future__ import annotations

import random

PUBLISHERS = ("binance", "upbit", "bithumb")  # §7.1: lowercase publishers
LISTING_TYPES = (
    "spot_listing", "spot_delisting", "futures_listing", "futures_delisting", "hodler_airdrop",
    "monitoring_tag_extend", "monitoring_tag_remove", "caution_released", "not_listing",
)  # fmt: skip
FREE_TIER_TITLE = "Upgrade your plan to see this announcement"
"""§7.1: on the free tier ``ticker`` is ``""`` and the title an upgrade notice (its exact text
is UNCONFIRMED) for every type except ``not_listing``."""

_TEMPLATES: dict[str, dict[str, str]] = {
    "binance": {
        "spot_listing": "Binance Will List {names}",
        "spot_delisting": "Binance Will Delist {tickers}",
        "futures_listing": "Binance Futures Will Launch USDⓈ-Margined {first}USDT Perpetual",
        "futures_delisting": "Binance Futures Will Delist USDⓈ-Margined {first}USDT Perpetual",
        "hodler_airdrop": "Introducing {names} on Binance HODLer Airdrops",
        "monitoring_tag_extend": "Binance Will Extend the Monitoring Tag on {tickers}",
        "monitoring_tag_remove": "Binance Will Remove the Monitoring Tag on {tickers}",
        "caution_released": "Binance Will Remove the Seed Tag on {tickers}",
        "not_listing": "Binance Completes Scheduled Wallet Maintenance",
    },
    "upbit": {
        "spot_listing": "[거래] {names} KRW, USDT 마켓 디지털 자산 추가",
        "spot_delisting": "[거래지원종료] {tickers} 거래지원 종료 안내",
        "futures_listing": "[거래] {names} 신규 거래지원 안내",
        "futures_delisting": "[거래지원종료] {tickers} 거래지원 종료 안내",
        "hodler_airdrop": "[이벤트] {names} 에어드랍 안내",
        "monitoring_tag_extend": "[투자유의] {tickers} 유의 종목 지정 기간 연장 안내",
        "monitoring_tag_remove": "[투자유의] {tickers} 유의 종목 지정 해제 안내",
        "caution_released": "[투자주의] {tickers} 주의 종목 해제 안내",
        "not_listing": "[안내] 서비스 점검 안내",
    },
    "bithumb": {
        "spot_listing": "[마켓 추가] {names} 원화 마켓 추가",
        "spot_delisting": "[거래지원 종료] {tickers} 거래지원 종료 안내",
        "futures_listing": "[마켓 추가] {names} 원화 마켓 추가",
        "futures_delisting": "[거래지원 종료] {tickers} 거래지원 종료 안내",
        "hodler_airdrop": "[이벤트] {names} 에어드랍 이벤트",
        "monitoring_tag_extend": "[투자유의] {tickers} 투자유의 지정 기간 연장",
        "monitoring_tag_remove": "[투자유의] {tickers} 투자유의 지정 해제",
        "caution_released": "[투자주의] {tickers} 투자주의 해제",
        "not_listing": "[안내] 정기 점검 안내",
    },
}
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def make_content(rng: random.Random, publisher: str) -> tuple[str, str, tuple[str, ...]]:
    """(listing type, title, tickers) of one fresh announcement by ``publisher``."""
    listing_type = rng.choice(LISTING_TYPES)
    if listing_type == "not_listing":
        tickers: tuple[str, ...] = ()
    else:
        count = 1 if rng.random() < 0.8 else rng.randint(2, 3)
        tickers = tuple(
            "".join(rng.choice(_LETTERS) for _ in range(rng.randint(2, 6))) for _ in range(count)
        )
    names = ", ".join(f"{t.title()} Token ({t})" for t in tickers)
    template = _TEMPLATES.get(publisher, _TEMPLATES["binance"])[listing_type]
    title = template.format(names=names, tickers=", ".join(tickers), first=tickers[0] if tickers
                            else "")  # fmt: skip
    return listing_type, title, tickers
