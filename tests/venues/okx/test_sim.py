"""The OKX simulator, pure: it speaks exchanges.md §5 and its books are self-consistent."""

from __future__ import annotations

import re
from decimal import Decimal
from itertools import pairwise
from typing import Any

import orjson

from feedgate.protocol.base import FetchSnapshot, Send, Topic
from feedgate.venues.okx import wire
from feedgate.venues.okx.checksum import legacy_checksum
from feedgate.venues.okx.sim import OkxSession, OkxSim, make_simulator
from tests.venues.okx.frames import make

NOW = 1_767_225_600_000_000
DECIMAL = re.compile(r"^(0|[1-9]\d*)(\.\d*[1-9])?$")  # OKX text: no trailing zeros


def sim(**options: Any) -> OkxSim:
    return make_simulator(["BTC-USDT", "ETH-USDT"], seed=5, **options)


def subscribe(s: OkxSim, session: OkxSession, *args: tuple[str, str], op: str = "subscribe"):
    text = orjson.dumps(
        {"id": "7", "op": op, "args": [{"channel": c, "instId": i} for c, i in args]}
    ).decode()
    return [orjson.loads(f) for f in s.on_client_text(session, text)]


def opened(s: OkxSim, *args: tuple[str, str]) -> tuple[OkxSession, list[Any]]:
    session = s.open_session("/ws/v5/public")
    assert session is not None
    return session, subscribe(s, session, *args)


class Book:
    """An independent follower of the sim's books frames (Decimal keys, §5.4 rules)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.sides: dict[str, dict[Decimal, list[str]]] = {"bids": {}, "asks": {}}
        self.seq = data["seqId"]
        self.apply(data)

    def apply(self, data: dict[str, Any]) -> None:
        for side in ("bids", "asks"):
            for px, sz, _, _ in data[side]:
                if Decimal(sz) == 0:
                    self.sides[side].pop(Decimal(px), None)
                else:
                    self.sides[side][Decimal(px)] = [px, sz]
        self.seq = data["seqId"]

    def levels(self) -> tuple[list[list[str]], list[list[str]]]:
        bids = [self.sides["bids"][p] for p in sorted(self.sides["bids"], reverse=True)]
        return bids, [self.sides["asks"][p] for p in sorted(self.sides["asks"])]


def frames_of(s: OkxSim, session: OkxSession, events: list[Any]) -> list[Any]:
    return [orjson.loads(f) for e in events if (f := s.render(session, e)) is not None]


def test_sessions_and_control_frames() -> None:
    s = sim()
    assert s.open_session("/ws/v5/business") is None
    session, replies = opened(s, ("trades", "BTC-USDT"), ("books", "BTC-USDT"), ("books", "NOPE"))
    acks = [r for r in replies if r.get("event") == "subscribe"]
    assert [a["arg"] for a in acks] == [
        {"channel": "trades", "instId": "BTC-USDT"},
        {"channel": "books", "instId": "BTC-USDT"},
    ]
    assert all(a["id"] == "7" and a["connId"] == session.conn_id for a in acks)
    (error,) = [r for r in replies if r.get("event") == "error"]
    assert error["code"] == "60018" and wire.named_inst_ids(error["msg"]) == {"NOPE"}
    assert replies.index(error) < len(replies) - 1  # answers first, then the snapshot
    assert replies[-1]["action"] == "snapshot" and replies[-1]["data"][0]["prevSeqId"] == -1
    assert s.subscriptions(session) == ["trades:BTC-USDT", "books:BTC-USDT"]
    assert s.on_client_text(session, "ping") == [b"pong"]
    for bad in ("{", "[]", '{"op": "login"}', '{"id": "no-dashes!", "op": "subscribe"}'):
        (reply,) = [orjson.loads(f) for f in s.on_client_text(session, bad)]
        assert (reply["event"], reply["code"]) == ("error", "60012"), bad
    (unsub,) = subscribe(s, session, ("books", "BTC-USDT"), op="unsubscribe")
    assert unsub["event"] == "unsubscribe" and s.subscriptions(session) == ["trades:BTC-USDT"]
    assert session.ops == 2


def test_updates_chain_onto_the_snapshot_and_equal_the_true_book() -> None:
    s = sim(keepalive_every=7)
    session, replies = opened(s, ("books", "BTC-USDT"))
    book = Book(replies[-1]["data"][0])
    keepalives = 0
    for step in range(60):
        for frame in frames_of(s, session, s.tick_events(NOW + step * 100_000)):
            data = frame["data"][0]
            assert frame["action"] == "update" and data["prevSeqId"] == book.seq
            if data["seqId"] == data["prevSeqId"]:
                assert data["asks"] == data["bids"] == []
                keepalives += 1
            book.apply(data)
            for px, sz, zero, count in data["bids"] + data["asks"]:
                assert DECIMAL.match(px) and DECIMAL.match(sz) and zero == "0"
                assert (count == "0") == (sz == "0")
    assert keepalives == 60 // 7
    seq, bids, asks = s.true_book("BTC-USDT")
    assert (book.seq, *book.levels()) == (seq, bids, asks)


def test_skip_makes_a_gap_while_the_true_book_moves() -> None:
    s = sim(keepalive_every=0)
    session, replies = opened(s, ("books", "ETH-USDT"))
    book = Book(replies[-1]["data"][0])
    s.skip_update_ids("ETH-USDT", 3)
    (frame,) = frames_of(s, session, s.tick_events(NOW))
    assert frame["data"][0]["prevSeqId"] == book.seq + 3  # §5.5 gap: three ids never sent
    book.apply(frame["data"][0])
    _, bids, asks = s.true_book("ETH-USDT")
    assert book.levels() != (bids, asks)  # ignoring the gap leaves a wrong book


def test_reset_sequence_decreases_seq_id() -> None:
    s = sim(keepalive_every=0)
    session, replies = opened(s, ("books", "BTC-USDT"))
    last = replies[-1]["data"][0]["seqId"]
    s.reset_sequence("BTC-USDT")
    first, second = (frames_of(s, session, s.tick_events(NOW + i))[0]["data"][0] for i in (0, 1))
    assert first["prevSeqId"] == last and first["seqId"] < last  # §5.5 sequence reset
    assert second["prevSeqId"] == first["seqId"] < second["seqId"]


def test_legacy_checksums_and_the_flip() -> None:
    s = sim(legacy_checksum=True, keepalive_every=0)
    session, replies = opened(s, ("books", "BTC-USDT"))
    book = Book(replies[-1]["data"][0])
    assert replies[-1]["data"][0]["checksum"] == legacy_checksum(*book.levels())
    for step in range(5):
        (frame,) = frames_of(s, session, s.tick_events(NOW + step, ["BTC-USDT"]))
        book.apply(frame["data"][0])
        assert frame["data"][0]["checksum"] == legacy_checksum(*book.levels()) != 0
    s.checksum_flip("BTC-USDT")
    (frame,) = frames_of(s, session, s.tick_events(NOW + 9, ["BTC-USDT"]))
    book.apply(frame["data"][0])
    assert frame["data"][0]["checksum"] not in (0, legacy_checksum(*book.levels()))
    _, plain = opened(sim(), ("books", "BTC-USDT"))  # by default the field is 0 (§5.6)
    assert plain[-1]["data"][0]["checksum"] == 0


def test_bbo_tbt_follows_the_touch() -> None:
    s = sim(keepalive_every=0)
    session, replies = opened(s, ("bbo-tbt", "BTC-USDT"))
    assert len(replies[-1]["data"][0]["asks"]) == 1
    pushed = 0
    for step in range(30):
        for frame in frames_of(s, session, s.tick_events(NOW + step)):
            _, bids, asks = s.true_book("BTC-USDT")
            data = frame["data"][0]
            assert [data["bids"][0][:2], data["asks"][0][:2]] == [bids[0], asks[0]]
            pushed += 1
    assert 0 < pushed <= 30


def test_trades_aggregate_fills_with_contiguous_ids() -> None:
    s = sim()
    session, _ = opened(s, ("trades", "BTC-USDT"))
    frames = frames_of(s, session, s.trade_events("BTC-USDT", NOW, 200))
    trades = [f["data"][0] for f in frames]
    assert set(trades[0]) == {
        "instId",
        "tradeId",
        "px",
        "sz",
        "side",
        "ts",
        "count",
        "source",
        "seqId",
    }
    for before, after in pairwise(trades):
        assert int(after["tradeId"]) - int(after["count"]) == int(before["tradeId"])  # §5.3
    assert {t["side"] for t in trades} == {"buy", "sell"}
    assert any(t["count"] != "1" for t in trades)
    assert all(DECIMAL.match(t["px"]) and DECIMAL.match(t["sz"]) for t in trades)
    assert trades[0]["ts"] == str(NOW // 1000)
    assert len(s.saturation_frames(session, NOW, 50)) == 50
    empty, _ = opened(s, ("books", "BTC-USDT"))
    assert s.saturation_frames(empty, NOW, 50) == []


def test_rest_instruments_and_books() -> None:
    s = sim()
    status, body = s.http_get("/api/v5/public/instruments?instType=SPOT") or (0, b"")
    assert status == 200
    assert wire.parse_instruments(body) == {"BTC-USDT": "BTC-USDT", "ETH-USDT": "ETH-USDT"}
    status, body = s.http_get("/api/v5/market/books?instId=ETH-USDT&sz=400") or (0, b"")
    seq, bids, asks, _ = wire.parse_rest_books(body)
    true_seq, true_bids, true_asks = s.true_book("ETH-USDT")
    assert (status, seq) == (200, true_seq)
    assert [list(b) for b in bids] == true_bids and [list(a) for a in asks] == true_asks
    _, top = s.http_get("/api/v5/market/books?instId=ETH-USDT") or (0, b"")
    assert len(orjson.loads(top)["data"][0]["bids"]) == 1  # sz defaults to 1
    assert (s.http_get("/api/v5/market/books?instId=NOPE") or (0,))[0] == 400
    assert s.http_get("/api/v5/market/tickers") is None
    assert s.books_requests == ["ETH-USDT", "ETH-USDT"]


def test_no_initial_snapshot_option() -> None:
    s = sim(initial_snapshot=False)
    _, replies = opened(s, ("books", "BTC-USDT"))
    assert [r["event"] for r in replies] == ["subscribe"]


def test_malformed_shutdown_and_determinism() -> None:
    s = sim()
    malformed = s.malformed_frames()
    assert len(malformed) >= 2 and malformed[0].startswith(b"this is not json")
    session, _ = opened(s, ("trades", "BTC-USDT"))
    (notice,) = [orjson.loads(f) for f in s.shutdown_frames(session, NOW)]
    assert (notice["event"], notice["code"]) == ("notice", "64008")
    a, b = sim(), sim()
    assert [e.data for e in a.tick_events(NOW)] == [e.data for e in b.tick_events(NOW)]
    assert a.true_book("BTC-USDT") == b.true_book("BTC-USDT")
    assert make_simulator(["BTC-USDT"], seed=6).true_book("BTC-USDT") != a.true_book("BTC-USDT")


def test_the_protocol_follows_the_sim_through_faults() -> None:
    """Sim frames through OkxProtocol (pure): REST fallback, keepalives, a reset and a gap."""
    s = sim(initial_snapshot=False, keepalive_every=5)
    proto = make(Topic("book", "BTC-USDT"), Topic("book", "ETH-USDT"))
    session = s.open_session("/ws/v5/public")
    assert session is not None
    pending = [a for a in proto.on_open(NOW) if isinstance(a, Send)]
    for step in range(80):
        now = NOW + step * 100_000
        if step == 30:
            s.reset_sequence("BTC-USDT")
        if step == 50:
            s.skip_update_ids("ETH-USDT", 2)
        replies = [f for a in pending for f in s.on_client_text(session, a.data)]
        pending = []
        for frame in replies + [f for e in s.tick_events(now) if (f := s.render(session, e))]:
            actions = proto.on_frame(frame, now)
            pending += [a for a in actions if isinstance(a, Send)]
            for fetch in [a for a in actions if isinstance(a, FetchSnapshot)]:
                _, body = s.http_get(fetch.url.removeprefix("https://www.okx.com")) or (0, b"")
                for action in proto.on_snapshot(fetch.key, body, now):
                    assert not isinstance(action, FetchSnapshot)
    assert s.books_requests.count("BTC-USDT") == 1  # the reset did not resync
    assert s.books_requests.count("ETH-USDT") == 2  # the gap resubscribed, then REST again
    for inst in ("BTC-USDT", "ETH-USDT"):
        book = proto._books[inst].sync.book
        seq, bids, asks = s.true_book(inst)
        assert [list(b) for b in book.bids.top()] == bids and [
            list(a) for a in book.asks.top()
        ] == asks
        assert proto._books[inst].sync.local_id == seq
