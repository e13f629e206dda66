"""Sample frames from exchanges.md §4.3/§4.4 (doc examples, verbatim) for the Upbit tests."""

from __future__ import annotations

TRADE_DEFAULT = (
    b'{"type": "trade", "code": "KRW-BTC", "timestamp": 1676965220452,'
    b' "trade_date": "2023-02-21", "trade_time": "07:40:20", "trade_timestamp": 1676965220395,'
    b' "trade_price": 32292000, "trade_volume": 0.03096742, "ask_bid": "BID",'
    b' "prev_closing_price": 31883000.00000000, "change": "RISE", "change_price": 409000.00000000,'
    b' "sequential_id": 1676965220395000,'
    b' "best_ask_price": 32293000, "best_ask_size": 0.1503, "best_bid_price": 32292000,'
    b' "best_bid_size": 0.0421, "stream_type": "SNAPSHOT"}'
)
TRADE_SIMPLE = (
    b'{"ty": "trade", "cd": "SGD-BTC", "tms": 1676965220452, "td": "2023-02-21", "ttm": "07:40:20",'
    b' "ttms": 1676965220395, "tp": 128450.0, "tv": 0.0031, "ab": "ASK", "pcp": 127900.0,'
    b' "c": "RISE", "cp": 550.0, "sid": 1676965220395000, "bap": 128460.0, "bas": 0.2,'
    b' "bbp": 128450.0, "bbs": 0.05, "st": "REALTIME"}'
)
BOOK_DEFAULT = (
    b'{"type": "orderbook", "code": "SGD-BTC", "timestamp": 1746601573804,'
    b' "total_ask_size": 4.79158413, "total_bid_size": 2.65609625,'
    b' "orderbook_units": [{"ask_price": 128460.0, "bid_price": 128450.0,'
    b' "ask_size": 0.2, "bid_size": 0.05},'
    b' {"ask_price": 128470.0, "bid_price": 128440.0,'
    b' "ask_size": 0.9, "bid_size": 1.2}],'
    b' "stream_type": "REALTIME", "level": 0}'
)
BOOK_SIMPLE = (
    b'{"ty": "orderbook", "cd": "SGD-BTC", "tms": 1746601573804, "tas": 4.79158413,'
    b' "tbs": 2.65609625,'
    b' "obu": [{"ap": 128460.0, "bp": 128450.0, "as": 0.2, "bs": 0.05}],'
    b' "st": "REALTIME", "lv": 0}'
)
ERROR = b'{"error": {"name": "NO_CODES", "message": "..."}}'
