"""Scale-out: saturation throughput with 1, 2 and 4 worker processes, and the memory of one
worker holding 200 venue connections. Simulator → ``feedgate run --workers N`` → Redis →
counting subscriber, each its own process, as in ``bench/throughput.py``. Not a test: numbers.

    .venv/bin/python bench/scaleout.py [--seconds 5] [--workers 1 2 4] [--connections 100]

On a machine with fewer cores than processes (simulator, Redis, subscriber and the workers all
want one), more workers cannot add throughput: read the ratios with the core count printed.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from feedgate.runtime.redis_server import EmbeddedRedis
from throughput import Result, fills_per_order, fmt, machine, run_one


def line(r: Result) -> str:
    return (
        f"| {r.workers} | {r.connections} | {r.offered} | {r.rate:.0f} | {fmt(r.p99_ms)}"
        f" | {r.cpu:.0%} | {r.worker_rss_mb:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--held", type=int, default=200, help="connections held by one worker")
    parser.add_argument("--held-rate", type=float, default=10_000, help="msgs/s offered to them")
    args = parser.parse_args()
    fills = fills_per_order()
    print(f"machine: {machine()}")
    results: list[Result] = []
    with EmbeddedRedis() as redis, tempfile.TemporaryDirectory() as tmp:
        for workers in args.workers:
            r = run_one(
                "feedgate", args.connections, None, args.seconds, redis, fills, Path(tmp), workers
            )
            results.append(r)
            print(f"  workers={workers}: {r.rate:.0f} msgs/s, cpu {r.cpu:.0%}", flush=True)
        held = [
            run_one("feedgate", args.held, offered, args.seconds, redis, fills, Path(tmp), 1)
            for offered in (None, args.held_rate)
        ]
    print("\n| workers | conns | offered | msgs/s | p99 ms | gateway CPU | worker RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for r in [*results, *held]:
        print(line(r))
    base = results[0].rate
    print("\nthroughput relative to the first row (saturation):")
    for r in results:
        print(f"  workers={r.workers}: x{r.rate / base:.2f}")
    for r in held:
        print(
            f"one worker, {r.connections} connections, offered {r.offered}: "
            f"RSS {r.worker_rss_mb:.0f} MiB, {r.rate:.0f} msgs/s"
        )


if __name__ == "__main__":
    main()
