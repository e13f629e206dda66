"""A shortened chaos soak (``bench/soak.py`` runs it for 10 minutes): every venue simulated,
``feedgate run`` with 2 workers, Redis and book followers, while faults fire in turn."""

from __future__ import annotations

from feedgate.chaos.soak import Soak

SCHEDULE = [
    "venue_drop", "gap", "kill_worker", "malformed", "redis_restart", "checksum",
    "venue_close", "oversized", "redis_pause", "stall", "kill_worker",
]  # fmt: skip


async def test_a_minute_of_faults_loses_nothing_unaccounted() -> None:
    report = await Soak(seconds=45, seed=3, schedule=SCHEDULE).run()
    print(report.text())
    assert report.ok, report.text()
    fired = {f.fault for f in report.fired}
    assert {"kill_worker", "redis_restart", "gap", "venue_drop"} <= fired
    assert report.sent > 1000 and report.published_once >= 0.95 * report.sent
    assert report.kills >= 1 and report.restarts == report.kills
    assert report.checkpoints >= 3 and not report.book_mismatches
    assert all(f.counted for f in report.fired if f.counted is not None)
