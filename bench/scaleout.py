"""Scale-out: saturation throughput with 1, 2 and 4 worker processes, and what one worker holding
200 venue connections at 100 msgs/s each costs (CPU of that worker, its resident memory), per
transport. Simulator → ``feedgate run --workers N`` → Redis → counting subscriber, each its own
process, as in ``bench/throughput.py``. Not a test: numbers.

    .venv/bin/python bench/scaleout.py [--seconds 5] [--workers 1 2 4] [--connections 100]
                                       [--held 200] [--held-rate 20000]

On a machine with fewer cores than processes (simulator, Redis, subscriber and the workers all
want one), more workers cannot add throughput: read the ratios with the core count printed.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from feedgate.runtime.redis_server import EmbeddedRedis
from throughput import Result, fmt, load, machine, run_one


def line(r: Result) -> str:
    return (
        f"| {r.gateway} | {r.workers} | {r.connections} | {r.offered} | {r.rate:,.0f}"
        f" | {fmt(r.p99_ms)} | {r.cpu:.0%} | {r.worker_cpu:.1%} | {r.worker_rss_mb:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--held", type=int, default=200, help="connections held by one worker")
    parser.add_argument("--held-rate", type=float, default=20_000, help="msgs/s offered to them")
    parser.add_argument("--transports", nargs="+", default=["picows", "websockets"])
    args = parser.parse_args()
    print(f"machine: {machine()}; {load()}")
    results: list[Result] = []
    held: list[Result] = []
    with EmbeddedRedis() as redis, tempfile.TemporaryDirectory() as tmp:
        for workers in args.workers:
            r = run_one(args.transports[0], args.connections, None, args.seconds, redis,
                        Path(tmp), workers)  # fmt: skip
            results.append(r)
            print(f"  workers={workers}: {r.rate:,.0f} msgs/s, cpu {r.cpu:.0%}", flush=True)
        for transport in args.transports:
            r = run_one(transport, args.held, args.held_rate, args.seconds, redis, Path(tmp), 1)
            held.append(r)
            print(f"  {transport}: {args.held} connections at {args.held_rate:,.0f} msgs/s:"
                  f" worker CPU {r.worker_cpu:.1%}, RSS {r.worker_rss_mb:.0f} MiB"
                  f" [{load()}]", flush=True)  # fmt: skip
    print("\n| transport | workers | conns | offered | msgs/s | p99 ms | gateway CPU"
          " | busiest worker CPU | worker RSS MiB |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in [*results, *held]:
        print(line(r))
    if results:
        base = results[0].rate
        print("\nthroughput relative to the first row (saturation):")
        for r in results:
            print(f"  workers={r.workers}: x{r.rate / base:.2f}")
    for r in held:
        print(
            f"{r.gateway}: one worker, {r.connections} connections, offered {r.offered}: "
            f"worker CPU {r.worker_cpu:.1%} of a core, RSS {r.worker_rss_mb:.0f} MiB, "
            f"{r.rate:,.0f} msgs/s"
        )


if __name__ == "__main__":
    main()
