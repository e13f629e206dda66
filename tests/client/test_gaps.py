from __future__ import annotations

from feedgate.client.gaps import Gap, SeqTracker


def test_consecutive_seqs_have_no_gap_and_jumps_are_counted() -> None:
    tracker = SeqTracker()
    assert [tracker.observe("a", s) for s in (4, 5, 6)] == [None, None, None]
    gap = tracker.observe("a", 9)
    assert gap == Gap("a", 7, 9, "dropped") and gap.missed == 2
    assert tracker.observe("b", 1) is None  # channels are independent
    assert tracker.observe("a", 10) is None


def test_a_decrease_is_a_gateway_restart() -> None:
    tracker = SeqTracker()
    tracker.observe("a", 50)
    gap = tracker.observe("a", 1)
    assert gap is not None and gap.reason == "restart" and gap.missed is None


def test_after_a_reconnect_only_a_real_jump_is_a_gap() -> None:
    tracker = SeqTracker()
    tracker.observe("a", 1)
    tracker.observe("b", 1)
    tracker.reconnected()
    assert tracker.observe("a", 2) is None  # nothing went by on a
    gap = tracker.observe("b", 5)
    assert gap is not None and gap.reason == "reconnected" and gap.missed == 3
    assert tracker.observe("b", 7) == Gap("b", 6, 7, "dropped")  # later jumps are plain drops
