"""Make-before-break, pure: what a replacement's protocol takes over from the old one
(``carry_over``), when it is ready (``unsynced_books``) and what it publishes at the switch
(``on_handover``). The runtime side is in ``tests/runtime/test_rotation.py``."""

from __future__ import annotations

import orjson
from pydantic import SecretStr

from feedgate.events import Bbo, BookSnapshot, Status, StatusEvent, Trade
from feedgate.protocol.base import ConnectionSpec, Resync, Topic
from feedgate.venues.binance.protocol import BinanceProtocol
from feedgate.venues.coinbase.options import CoinbaseOptions
from feedgate.venues.coinbase.protocol import CoinbaseProtocol
from feedgate.venues.cryptolisting.options import CryptolistingOptions
from feedgate.venues.cryptolisting.protocol import CryptolistingProtocol
from feedgate.venues.upbit.options import UpbitOptions
from feedgate.venues.upbit.protocol import UpbitProtocol
from tests.venues.actions import of_type
from tests.venues.binance.test_protocol import BTC, CONN, ETH, T0, book_proto, sync_book
from tests.venues.okx import frames as okx
from tests.venues.upbit.frames import BOOK_DEFAULT, TRADE_DEFAULT


def test_binance_hands_over_synced_books_whole_and_resets_the_rest() -> None:
    proto = book_proto()  # trades + book + bbo of BTC, book of ETH
    assert proto.unsynced_books() == 2
    sync_book(proto)
    assert proto.unsynced_books() == 1  # ETH still waits for its snapshot
    actions = proto.on_handover(T0 + 5)
    sync = proto._books["BTCUSDT"].sync
    (snapshot,) = of_type(actions, BookSnapshot)
    assert (snapshot.symbol, snapshot.checkpoint) == (BTC, False)
    assert (snapshot.bids, snapshot.asks) == (sync.book.bids.top(), sync.book.asks.top())
    (bbo,) = of_type(actions, Bbo)
    assert (bbo.bid_price, bbo.ask_price) == (snapshot.bids[0][0], snapshot.asks[0][0])
    assert Resync(ETH, "reconnect") in actions
    (reset,) = of_type(actions, Status)
    assert (reset.event, reset.symbol, reset.reason) == (StatusEvent.BOOK_RESET, ETH, "reconnect")
    assert of_type(actions, Status) == [reset]  # no book_synced: the BTC book was never reset
    # the snapshot went out: the next checkpoint is an interval away, like after a sync
    assert proto.on_tick(T0 + 10) == []


def test_binance_fresh_replacement_has_nothing_to_hand_over_before_subscribing() -> None:
    proto = BinanceProtocol(
        ConnectionSpec(CONN, (Topic("trades", BTC),), {BTC: "BTCUSDT"}), book_proto().options
    )
    assert proto.unsynced_books() == 0 and proto.on_handover(T0) == []


def test_okx_hands_over_the_bbo_tbt_touch() -> None:
    proto = okx.opened(okx.make(Topic("bbo", "BCH-USDT-SWAP"), bbo_source="bbo-tbt"))
    published = of_type(proto.on_frame(okx.DOC_BBO, okx.T0), Bbo)
    assert proto.unsynced_books() == 0
    (bbo,) = of_type(proto.on_handover(okx.T0 + 1), Bbo)
    assert (bbo.bid_price, bbo.bid_size, bbo.ask_price, bbo.ask_size) == (
        published[0].bid_price, published[0].bid_size, published[0].ask_price,
        published[0].ask_size,
    )  # fmt: skip


def upbit(*channels: str) -> UpbitProtocol:
    topics = tuple(Topic(c, s) for s in ("BTC-KRW", "BTC-SGD") for c in channels)
    return UpbitProtocol(ConnectionSpec("upbit-00", topics), UpbitOptions())


def test_upbit_replacement_does_not_publish_the_subscribe_snapshot_trade_again() -> None:
    old = upbit("trades")
    old.on_open(T0)
    assert of_type(old.on_frame(TRADE_DEFAULT, T0), Trade)  # published once by the old one
    new = upbit("trades")
    new.carry_over(old)
    new.on_open(T0)
    assert of_type(new.on_frame(TRADE_DEFAULT, T0), Trade) == []  # the venue's SNAPSHOT repeat
    assert of_type(old.on_frame(TRADE_DEFAULT, T0), Trade) == []  # copies: both remember it
    other = orjson.loads(TRADE_DEFAULT)
    other["sequential_id"] += 1
    new.on_frame(orjson.dumps(other), T0)
    assert other["sequential_id"] not in old._tapes["KRW-BTC"].seen  # not shared


def test_upbit_hands_over_the_bbo_and_resets_books_without_an_image() -> None:
    proto = upbit("book", "bbo")
    proto.on_open(T0)
    assert proto.unsynced_books() == 2
    proto.on_frame(BOOK_DEFAULT, T0)  # SGD-BTC
    assert proto.unsynced_books() == 1
    actions = proto.on_handover(T0 + 1)
    bbos = of_type(actions, Bbo)
    assert [(b.symbol, b.bid_price, b.ask_price) for b in bbos] == [
        ("BTC-KRW", None, None), ("BTC-SGD", "128450", "128460"),
    ]  # fmt: skip
    assert [(s.event, s.symbol) for s in of_type(actions, Status)] == [
        (StatusEvent.BOOK_RESET, "BTC-KRW")
    ]


def test_coinbase_replacement_backfills_only_after_the_last_published_trade() -> None:
    spec = ConnectionSpec("coinbase-00", (Topic("trades", "BTC-USD"),), {"BTC-USD": "BTC-USD"})
    old = CoinbaseProtocol(spec, CoinbaseOptions())
    old._trades["BTC-USD"].last_id = 995098701
    new = CoinbaseProtocol(spec, CoinbaseOptions())
    new.carry_over(old)
    assert new._trades["BTC-USD"].last_id == 995098701
    new.carry_over(upbit("trades"))  # another venue's instance: nothing to take over


def test_cryptolisting_replacement_keeps_the_dedup_memory_and_the_test_time() -> None:
    spec = ConnectionSpec("cryptolisting-00", (Topic("announcements", ""),))
    options = CryptolistingOptions(api_key=SecretStr("dsk_" + "1" * 64))
    old = CryptolistingProtocol(spec, options)
    old.recent.seen("a")
    old.last_test = T0
    new = CryptolistingProtocol(spec, options)
    new.carry_over(old)
    assert new.recent.seen("a") and new.last_test == T0
    assert not old.recent.seen("b") and not new.recent.seen("c") and not old.recent.seen("c")
