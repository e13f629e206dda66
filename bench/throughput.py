"""End-to-end throughput and latency: simulator → gateway → Redis → counting subscriber.

Each part runs in its own process (Redis is the embedded server). For feedgate and the naive
baseline (``bench/naive.py``), with 1 and 100 venue connections, it measures:
- messages/s at saturation (the simulator sends as fast as the gateway reads), and
- p50/p99 latency from the simulator's send time (the trade's ``ts``, µs) to the subscriber's
  receipt, at fixed offered rates (5,000 and 20,000 msgs/s),
then prints a table with feedgate/naive ratios and the machine it ran on. Not a test: numbers.

    .venv/bin/python bench/throughput.py [--seconds 5] [--only feedgate]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "src"))

from _proc_stats import rss_bytes, tree, tree_cpu_seconds  # noqa: E402
from feedgate.runtime.redis_server import EmbeddedRedis, free_port  # noqa: E402
from feedgate.venues.binance.simmarket import SymbolMarket  # noqa: E402

PY = sys.executable
FEEDGATE = [PY, "-m", "feedgate.cli"]


@dataclass
class Result:
    gateway: str
    connections: int
    offered: str
    rate: float
    p50_ms: float | None
    p99_ms: float | None
    cpu: float  # gateway CPU (supervisor and workers), share of one core
    workers: int = 1
    worker_rss_mb: float = 0.0  # resident memory of the largest worker


def fills_per_order() -> float:
    """Trade frames per simulated taker order, so offered rates are in messages/s."""
    import random

    market = SymbolMarket("S000USDT", "S000", "USDT", random.Random(1))
    orders = [market.next_trade(0) for _ in range(5000)]
    return sum(len(o.fills) for o in orders) / len(orders)


def wait_ready(proc: subprocess.Popen[str], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.strip() == "ready":
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
    raise RuntimeError(f"{what} not ready within {timeout}s")


def feedgate_config(tmp: Path, sim_port: int, redis_url: str, connections: int) -> Path:
    path = tmp / "bench.toml"
    symbols = ", ".join(f'"S{i:03d}-USDT"' for i in range(connections))
    path.write_text(f"""
log_level = "WARNING"
[redis]
url = "{redis_url}"
[metrics]
port = {free_port()}
[[feeds]]
exchange = "binance"
channels = ["trades"]
symbols = [{symbols}]
[feeds.options]
ws_url = "ws://127.0.0.1:{sim_port}"
rest_url = "http://127.0.0.1:{sim_port}"
time_unit = "us"
streams_per_connection = 1
""")
    return path


def run_one(
    gateway: str,
    connections: int,
    offered: float | None,
    seconds: float,
    redis: EmbeddedRedis,
    fills: float,
    tmp: Path,
    workers: int = 1,
) -> Result:
    sim_port = free_port()
    per_symbol = 0.0 if offered is None else offered / connections / fills
    procs: list[subprocess.Popen[str]] = []
    try:
        sim = subprocess.Popen(
            [
                PY,
                str(ROOT / "_procs.py"),
                "sim",
                "--port",
                str(sim_port),
                "--symbols",
                str(connections),
                "--rate",
                str(per_symbol),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(sim)
        wait_ready(sim, "simulator")
        sub = subprocess.Popen(
            [
                PY,
                str(ROOT / "_procs.py"),
                "sub",
                "--port",
                str(redis.port),
                "--seconds",
                str(seconds),
                "--warmup",
                "1.5",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(sub)
        wait_ready(sub, "subscriber")
        if gateway == "feedgate":
            config = feedgate_config(tmp, sim_port, redis.url, connections)
            gw = subprocess.Popen(
                [*FEEDGATE, "run", "--config", str(config), "--workers", str(workers)], text=True
            )
        else:
            gw = subprocess.Popen(
                [
                    PY,
                    str(ROOT / "naive.py"),
                    "--ws",
                    f"ws://127.0.0.1:{sim_port}",
                    "--redis",
                    redis.url,
                    "--symbols",
                    str(connections),
                ],
                text=True,
            )
        procs.append(gw)
        time.sleep(1.5)  # connect and warm up (the subscriber also skips its first 1.5 s)
        pids = tree(gw.pid)  # the supervisor and its workers
        cpu_before, t_before = tree_cpu_seconds(pids), time.monotonic()
        out, _ = sub.communicate(timeout=seconds + 60)
        cpu = (tree_cpu_seconds(pids) - cpu_before) / (time.monotonic() - t_before)
        rss = max(rss_bytes(p) for p in pids[1:] or pids)
        report = orjson.loads(out.strip().splitlines()[-1])
        return Result(
            gateway,
            connections,
            "saturation" if offered is None else f"{offered:.0f}/s",
            report["rate"],
            report["p50_ms"],
            report["p99_ms"],
            cpu,
            workers,
            rss / 2**20,
        )
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()


def machine() -> str:
    model = "unknown cpu"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{platform.node()}: {os.cpu_count()} cores, {model}, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}"
    )


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring window per run")
    parser.add_argument("--only", choices=["feedgate", "naive"], default=None)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--rates", type=float, nargs="*", default=[5000, 20000])
    args = parser.parse_args()
    gateways = [args.only] if args.only else ["feedgate", "naive"]
    fills = fills_per_order()
    results: list[Result] = []
    print(f"machine: {machine()}")
    print(f"trade frames per simulated order: {fills:.2f}")
    with EmbeddedRedis() as redis, tempfile.TemporaryDirectory() as tmp:
        for connections in args.connections:
            for offered in [None, *args.rates]:
                for gateway in gateways:
                    r = run_one(
                        gateway, connections, offered, args.seconds, redis, fills, Path(tmp)
                    )
                    results.append(r)
                    print(
                        f"  {r.gateway:<9} conns={r.connections:<4} offered={r.offered:<11}"
                        f" -> {r.rate:>9.0f} msgs/s  p50={fmt(r.p50_ms)} ms"
                        f"  p99={fmt(r.p99_ms)} ms  cpu={r.cpu:.0%}",
                        flush=True,
                    )
    print("\n| gateway | conns | offered | msgs/s | p50 ms | p99 ms | gateway CPU |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r.gateway} | {r.connections} | {r.offered} | {r.rate:.0f} | {fmt(r.p50_ms)}"
            f" | {fmt(r.p99_ms)} | {r.cpu:.0%} |"
        )
    if len(gateways) == 2:
        print(
            "\nratios feedgate / naive (throughput: higher is better; p99 at a fixed offered"
            " rate: how many times lower; at saturation latency is only queueing)"
        )
        by = {(r.gateway, r.connections, r.offered): r for r in results}
        for (gateway, connections, offered), r in by.items():
            if gateway != "feedgate":
                continue
            base = by[("naive", connections, offered)]
            ratio = r.rate / base.rate
            line = f"  conns={connections:<4} offered={offered:<11} throughput x{ratio:.1f}"
            if offered != "saturation" and r.p99_ms and base.p99_ms:
                line += f"  p99 x{base.p99_ms / r.p99_ms:.1f} lower"
            print(line)


if __name__ == "__main__":
    main()
