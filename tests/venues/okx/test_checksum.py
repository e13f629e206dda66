"""The legacy OKX checksum (exchanges.md §5.6, Appendix A ``okx_legacy_checksum``)."""

from __future__ import annotations

import zlib

from feedgate.venues.okx.checksum import checksum_of_text, legacy_checksum

# The two published check strings of §5.6 / Appendix A, as books: the first is a snapshot with
# two levels a side; the second follows an update deleting bid 3366 and adding ask 3372.
BIDS_1 = [["3366.1", "7", "0", "1"], ["3366", "6", "0", "1"]]
ASKS_1 = [["3366.8", "9", "0", "1"], ["3368", "8", "0", "1"]]
BIDS_2 = [["3366.1", "7", "0", "1"]]
ASKS_2 = [["3366.8", "9", "0", "1"], ["3368", "8", "0", "1"], ["3372", "8", "0", "1"]]


def test_appendix_a_vectors() -> None:
    assert checksum_of_text("3366.1:7:3366.8:9:3366:6:3368:8") == -1881014294
    assert checksum_of_text("3366.1:7:3366.8:9:3368:8:3372:8") == 831078360


def test_interleaves_bids_and_asks_and_skips_a_short_side() -> None:
    assert legacy_checksum(BIDS_1, ASKS_1) == -1881014294
    assert legacy_checksum(BIDS_2, ASKS_2) == 831078360  # one bid: asks 2 and 3 follow ask 1


def test_signed_result_matches_crc32() -> None:
    text = "3366.1:7:3366.8:9:3366:6:3368:8"
    unsigned = zlib.crc32(text.encode())
    assert unsigned >= 2**31  # this vector exercises the sign conversion
    assert legacy_checksum(BIDS_1, ASKS_1) == unsigned - 2**32


def test_only_the_first_25_levels_count_and_strings_are_raw() -> None:
    bids = [[f"{100 - i}.5", "1"] for i in range(30)]
    asks = [[f"{200 + i}.5", "2"] for i in range(30)]
    assert legacy_checksum(bids, asks) == legacy_checksum(bids[:25], asks[:25])
    assert legacy_checksum(bids, asks) != legacy_checksum(bids[:24], asks[:25])
    # "7" and "7.0" are the same size but not the same text: the checksum uses the text (§5.6)
    assert legacy_checksum([["3366.1", "7.0"]], ASKS_1) != legacy_checksum(
        [["3366.1", "7"]], ASKS_1
    )


def test_empty_book() -> None:
    assert legacy_checksum([], []) == zlib.crc32(b"")
