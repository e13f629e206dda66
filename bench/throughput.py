"""End-to-end throughput and latency: simulator → gateway → Redis → counting subscriber.

Each part runs in its own process (Redis is the embedded server). For the naive baseline
(``bench/naive.py``) and feedgate with each WebSocket transport (``websockets``, ``picows``), one
worker, with 1 and 100 venue connections, it measures:
- messages/s at saturation (the simulator writes pre-framed trade frames as fast as the gateway
  reads), and
- p50/p99 latency from the simulator's send time (the trade's ``ts``, µs, stamped right before
  the write) to the subscriber's receipt, at fixed offered rates (5,000 and 20,000 msgs/s),
  and of its part before the gateway read the frame (the message's ``recv_ts - ts``),
then prints a table with ratios, the gateway's CPU per message, the CPU of the simulator, Redis
and the subscriber (so a saturated helper is seen, not mistaken for the gateway's limit), the
machine and its load. Variants of one case run back to back, ``--repeat`` times, in turn.
Not a test: numbers.

    .venv/bin/python bench/throughput.py [--seconds 5] [--gateways picows websockets]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "src"))

from _proc_stats import rss_bytes, tree, tree_cpu_seconds  # noqa: E402
from feedgate.runtime.redis_server import EmbeddedRedis, free_port  # noqa: E402

PY = sys.executable
FEEDGATE = [PY, "-m", "feedgate.cli"]
GATEWAYS = ("naive", "floor", "before", "websockets", "picows")
"""``naive``: bench/naive.py; ``floor``: bench/floor.py (the least this work takes in Python);
``before``: feedgate from another source tree (``--before-src``, e.g. an older commit's ``src``);
the others: ``feedgate run --workers 1`` with that transport."""
BEFORE_SRC: str | None = None
BEFORE_TRANSPORT = "websockets"


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
    worker_cpu: float = 0.0  # the busiest worker alone, share of one core
    helpers: dict[str, float] = field(default_factory=dict)  # sim/redis/sub CPU, share of a core
    # p50/p99 of the latency's part before the gateway read the frame (recv_ts - ts): a burst
    # of frames waits there for the gateway to handle the ones read before it
    arrival_ms: tuple[float | None, float | None] = (None, None)

    @property
    def us_per_msg(self) -> float:
        """Gateway CPU time per message: the load-independent cost."""
        return self.cpu * 1e6 / self.rate if self.rate else float("nan")


def wait_line(proc: subprocess.Popen[str], want: str, what: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.strip().startswith(want):
            return line
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
    raise RuntimeError(f"{what}: no {want!r} within {timeout}s")


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


def gateway_command(
    gateway: str, tmp: Path, sim_port: int, redis: EmbeddedRedis, connections: int, workers: int
) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    if gateway == "naive":
        ws = f"ws://127.0.0.1:{sim_port}"
        return [PY, str(ROOT / "naive.py"), "--ws", ws, "--redis", redis.url,
                "--symbols", str(connections)], env  # fmt: skip
    if gateway == "floor":
        ws = f"ws://127.0.0.1:{sim_port}"
        return [PY, str(ROOT / "floor.py"), "--ws", ws, "--redis-port", str(redis.port),
                "--symbols", str(connections)], env  # fmt: skip
    if gateway == "before":
        assert BEFORE_SRC is not None, "--before-src names the source tree to compare with"
        env["PYTHONPATH"] = BEFORE_SRC
        gateway = BEFORE_TRANSPORT  # websockets by default: what a tree without the setting used
    env["FEEDGATE_TRANSPORT"] = gateway
    config = feedgate_config(tmp, sim_port, redis.url, connections)
    return [*FEEDGATE, "run", "--config", str(config), "--workers", str(workers)], env


def run_one(
    gateway: str,
    connections: int,
    offered: float | None,
    seconds: float,
    redis: EmbeddedRedis,
    tmp: Path,
    workers: int = 1,
) -> Result:
    sim_port = free_port()
    per_symbol = 0.0 if offered is None else offered / connections
    procs: list[subprocess.Popen[str]] = []
    try:
        sim = subprocess.Popen(
            [PY, str(ROOT / "_procs.py"), "sim", "--port", str(sim_port),
             "--symbols", str(connections), "--rate", str(per_symbol)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        procs.append(sim)
        wait_line(sim, "ready", "simulator")
        sub = subprocess.Popen(
            [PY, str(ROOT / "_procs.py"), "sub", "--port", str(redis.port),
             "--seconds", str(seconds), "--warmup", "2",
             *(["--latency"] if offered is not None else [])],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        procs.append(sub)
        wait_line(sub, "ready", "subscriber")
        command, env = gateway_command(gateway, tmp, sim_port, redis, connections, workers)
        gw = subprocess.Popen(command, text=True, env=env)
        procs.append(gw)
        time.sleep(2.0)  # connect and warm up (the subscriber skips its first 2 s of data)
        pids = tree(gw.pid)  # the supervisor and its workers
        workers_pids = pids if gateway in ("naive", "floor") else pids[1:]
        helper_pids = {"sim": sim.pid, "redis": redis.pid or 0, "sub": sub.pid}
        cpu0 = tree_cpu_seconds(pids)
        worker0 = {p: tree_cpu_seconds([p]) for p in workers_pids}
        helper0 = {k: tree_cpu_seconds([p]) for k, p in helper_pids.items()}
        t0 = time.monotonic()
        out = wait_line(sub, "{", "subscriber", timeout=seconds + 60)
        elapsed = time.monotonic() - t0
        cpu = (tree_cpu_seconds(pids) - cpu0) / elapsed
        worker_cpu = max(tree_cpu_seconds([p]) - worker0[p] for p in workers_pids) / elapsed
        helpers = {k: (tree_cpu_seconds([p]) - helper0[k]) / elapsed
                   for k, p in helper_pids.items()}  # fmt: skip
        rss = max(rss_bytes(p) for p in workers_pids)
        report = orjson.loads(out)
        return Result(
            gateway, connections, "saturation" if offered is None else f"{offered:.0f}/s",
            report["rate"], report["p50_ms"], report["p99_ms"], cpu, workers, rss / 2**20,
            worker_cpu, helpers, (report.get("arrival_p50_ms"), report.get("arrival_p99_ms")),
        )  # fmt: skip
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


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def median(results: list[Result]) -> Result:
    """The run with the median throughput (saturation) or median p99 (paced)."""
    if results[0].offered == "saturation":
        key = sorted(results, key=lambda r: r.rate)
    else:
        key = sorted(results, key=lambda r: r.p99_ms if r.p99_ms is not None else 1e9)
    return key[len(key) // 2]


def report(results: list[Result], gateways: list[str]) -> None:
    print("\n| gateway | conns | offered | msgs/s | p50 ms | p99 ms | of which arrival p50 / p99"
          " | gateway CPU | CPU µs/msg | sim / redis / sub CPU |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        helpers = " / ".join(f"{r.helpers.get(k, 0):.0%}" for k in ("sim", "redis", "sub"))
        print(f"| {r.gateway} | {r.connections} | {r.offered} | {r.rate:,.0f} | {fmt(r.p50_ms)}"
              f" | {fmt(r.p99_ms)} | {fmt(r.arrival_ms[0])} / {fmt(r.arrival_ms[1])}"
              f" | {r.cpu:.0%} | {r.us_per_msg:.1f} | {helpers} |")  # fmt: skip
    by = {(r.gateway, r.connections, r.offered): r for r in results}
    pairs = [(b, o) for i, b in enumerate(gateways) for o in gateways[i + 1 :]]
    for base, other in pairs:
        print(f"\nratios {other} / {base} (throughput and CPU per message; p99 at a fixed"
              " offered rate: how many times lower)")  # fmt: skip
        for (gateway, connections, offered), r in by.items():
            b = by.get((base, connections, offered))
            if gateway != other or b is None:
                continue
            line = (
                f"  conns={connections:<4} offered={offered:<11} throughput"
                f" x{r.rate / b.rate:.2f}  CPU/msg x{r.us_per_msg / b.us_per_msg:.2f}"
            )
            if offered != "saturation" and r.p99_ms and b.p99_ms:
                line += f"  p99 x{b.p99_ms / r.p99_ms:.2f} lower"
            print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring window per run")
    parser.add_argument(
        "--gateways", nargs="+", choices=GATEWAYS, default=["naive", "websockets", "picows"]
    )
    parser.add_argument("--before-src", help="the src folder of feedgate to run as 'before'")
    parser.add_argument(
        "--before-transport",
        default="websockets",
        help="the transport 'before' runs with (picows: compare two trees alike)",
    )
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--rates", type=float, nargs="*", default=[5000, 20000])
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the median is kept")
    parser.add_argument("--no-saturation", action="store_true")
    args = parser.parse_args()
    global BEFORE_SRC, BEFORE_TRANSPORT
    BEFORE_SRC = args.before_src
    BEFORE_TRANSPORT = args.before_transport
    gateways: list[str] = args.gateways
    print(f"machine: {machine()}")
    print(f"before: {load()}")
    results: list[Result] = []
    with EmbeddedRedis() as redis, tempfile.TemporaryDirectory() as tmp:
        offers: list[float | None] = [] if args.no_saturation else [None]
        for connections in args.connections:
            for offered in [*offers, *args.rates]:
                runs: dict[str, list[Result]] = {g: [] for g in gateways}
                for _ in range(args.repeat):
                    for gateway in gateways:  # in turn, so load changes hit every variant
                        r = run_one(gateway, connections, offered, args.seconds, redis, Path(tmp))
                        runs[gateway].append(r)
                        print(f"  {r.gateway:<10} conns={r.connections:<4} offered={r.offered:<11}"
                              f" -> {r.rate:>9,.0f} msgs/s  p50={fmt(r.p50_ms)} ms"
                              f"  p99={fmt(r.p99_ms)} ms  cpu={r.cpu:.0%}"
                              f" ({r.us_per_msg:.1f} µs/msg)  [{load()}]", flush=True)  # fmt: skip
                results.extend(median(runs[g]) for g in gateways)
    print(f"after: {load()}")
    report(results, gateways)


if __name__ == "__main__":
    main()
