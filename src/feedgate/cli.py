"""``feedgate run | demo | simulate | tail``: the command line. Thin: each command lives elsewhere.

Exit codes: 0 clean stop, 2 bad configuration or usage (every problem listed), 1 anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from feedgate.errors import ConfigError, EmbeddedRedisError

EXIT_CONFIG = 2


def _install_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _run_until_signal(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main``; SIGINT/SIGTERM cancel it, so its ``finally`` blocks shut down cleanly."""

    async def runner() -> None:
        task = asyncio.ensure_future(main)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(runner())


def _cmd_run(args: argparse.Namespace) -> int:
    from feedgate.runtime.supervisor import Supervisor
    from feedgate.settings import load_settings

    settings = _checked_settings(args, load_settings)
    _setup_logging(settings.log_level)
    # what was read, for whoever debugs a config; secrets show masked (tests/security)
    logging.getLogger("feedgate.cli").debug("settings: %r", settings)
    _install_uvloop()
    supervisor = Supervisor(
        Path(args.config), settings, args.workers,
        shard_index=args.shard_index, shard_count=args.shard_count,
    )  # fmt: skip
    _run_until_signal(supervisor.run())
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    from feedgate.runtime.app import run_gateway
    from feedgate.settings import load_settings

    settings = _checked_settings(args, load_settings)
    _setup_logging(settings.log_level)
    logging.getLogger("feedgate.cli").debug("worker %d settings: %r", args.worker_index, settings)
    _install_uvloop()
    gateway = run_gateway(
        settings, worker_index=args.worker_index, worker_count=args.workers,
        shard_index=args.shard_index, shard_count=args.shard_count,
    )  # fmt: skip
    _run_until_signal(_exit_with_parent(gateway, os.getppid()))
    return 0


async def _exit_with_parent(main: Coroutine[Any, Any, None], parent: int) -> None:
    """A worker outlives no supervisor: if the parent dies (even by SIGKILL), this worker drains
    and exits instead of running on, unsupervised, as a second copy of its share."""
    task = asyncio.ensure_future(main)
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=1.0)
            if os.getppid() != parent and not task.done():
                logging.getLogger(__name__).error("supervisor %d is gone: draining", parent)
                task.cancel()
        await task
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _checked_settings(args: argparse.Namespace, load: Any) -> Any:
    """The settings, or a ConfigError listing every problem at once: the config file's and the
    environment's, and the scale flags' (``--workers`` and the shard, or their variables)."""
    problems: list[str] = []
    for flag, variable, default in SCALE:
        if getattr(args, flag) is None:
            setattr(args, flag, _env_int(variable, default, problems))
    try:
        settings = load(args.config)
    except ConfigError as exc:
        problems[:0] = exc.problems
    else:
        if not settings.feeds:
            problems.insert(0, "feeds: at least one [[feeds]] entry is needed")
    if args.workers < 1:
        problems.append(f"--workers / FEEDGATE_WORKERS: must be at least 1, got {args.workers}")
    if not 0 <= args.shard_index < args.shard_count:
        problems.append(
            f"--shard-index / FEEDGATE_SHARD_INDEX: {args.shard_index} is not below "
            f"--shard-count / FEEDGATE_SHARD_COUNT ({args.shard_count})"
        )
    if problems:
        raise ConfigError(problems)
    return settings


def _cmd_demo(args: argparse.Namespace) -> int:
    from feedgate.demo import run_demo

    _setup_logging("WARNING")
    _install_uvloop()
    venues = args.venues.split(",") if args.venues else None
    demo = run_demo(args.symbols.split(","), args.rate, args.duration, venues)
    _run_until_signal(demo)
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from feedgate.runtime.simserver import run_simulator

    _setup_logging("INFO")
    _install_uvloop()
    _run_until_signal(
        run_simulator(
            args.venue,
            args.host,
            args.port,
            args.symbols.split(","),
            trade_rate=args.rate,
        )
    )
    return 0


def _cmd_tail(args: argparse.Namespace) -> int:
    from feedgate.tail import Filters, check_channels, tail, tls_options

    check_channels(args.url, args.patterns)  # a bad argument exits 2 before connecting
    tls = tls_options(args.url, args.tls_ca, args.tls_cert, args.tls_key, not args.tls_no_verify)
    filters = Filters(
        types=set(args.type.split(",")) if args.type else None,
        exchanges=set(args.exchange.split(",")) if args.exchange else None,
        symbols=set(args.symbol.split(",")) if args.symbol else None,
    )
    from redis.exceptions import RedisError

    try:
        _run_until_signal(
            tail(
                args.url,
                args.patterns,
                as_json=args.json,
                limit=args.limit,
                filters=filters,
                summary_s=args.summary,
                tls=tls,
            )
        )
    except (RedisError, OSError) as exc:  # a refused login, an unreachable server: one line
        print(f"feedgate tail: {exc}", file=sys.stderr)
        return 1
    return 0


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def _env_int(name: str, default: int, problems: list[str]) -> int:
    """The integer in variable ``name`` (``default`` when unset); a bad one is added to
    ``problems``, to be listed with all the others."""
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        problems.append(f"{name}: not an integer: {value!r}")
        return default


SCALE: tuple[tuple[str, str, int], ...] = (
    ("workers", "FEEDGATE_WORKERS", os.cpu_count() or 1),
    ("shard_index", "FEEDGATE_SHARD_INDEX", 0),
    ("shard_count", "FEEDGATE_SHARD_COUNT", 1),
)
"""The scale flags (attribute, variable, default): a flag left out takes its variable, read
with the config so that a bad one is listed along with the config's problems."""


def _scale_arguments(parser: argparse.ArgumentParser) -> None:
    """Worker processes on this host and this host's shard of the plan (flags or env)."""
    parser.add_argument(
        "--workers", type=int, default=None,
        help="worker processes (env FEEDGATE_WORKERS; default: one per core)",
    )  # fmt: skip
    parser.add_argument(
        "--shard-index", type=int, default=None,
        help="this host's shard (env FEEDGATE_SHARD_INDEX; a StatefulSet pod's ordinal)",
    )  # fmt: skip
    parser.add_argument(
        "--shard-count", type=int, default=None,
        help="hosts sharing the plan (env FEEDGATE_SHARD_COUNT)",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="feedgate", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the gateway: a supervisor and its worker processes")
    run.add_argument("--config", "-c", required=True, help="TOML config (see README)")
    _scale_arguments(run)
    run.set_defaults(func=_cmd_run)

    worker = sub.add_parser("worker", help="one worker process (the supervisor starts these)")
    worker.add_argument("--config", "-c", required=True)
    worker.add_argument("--worker-index", type=int, default=0)
    _scale_arguments(worker)
    worker.set_defaults(func=_cmd_worker)

    demo = sub.add_parser("demo", help="embedded Redis + simulated venues + gateway, live view")
    demo.add_argument("--symbols", default="BTC-USDT,ETH-USDT,SOL-USDT,XRP-USDT")
    demo.add_argument("--rate", type=float, default=20.0, help="trades/s per symbol")
    demo.add_argument("--duration", type=float, default=None, help="stop after N seconds")
    demo.add_argument("--venues", default=None, help="comma-separated (default: every venue)")
    demo.set_defaults(func=_cmd_demo)

    sim = sub.add_parser("simulate", help="serve a venue simulator on loopback")
    sim.add_argument("--venue", default="binance")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=9443)
    sim.add_argument("--symbols", default="BTC-USDT,ETH-USDT")
    sim.add_argument("--rate", type=float, default=10.0, help="trades/s per symbol")
    sim.set_defaults(func=_cmd_simulate)

    tail_ = sub.add_parser("tail", help="print messages from channels matching patterns")
    tail_.add_argument(
        "patterns",
        nargs="+",
        help="channel patterns, e.g. 'trades:*' (exact channel names with a redis+cluster:// url)",
    )
    tail_.add_argument(
        "--url",
        # a password on the command line is visible to every user of the host (ps): the
        # environment is not
        default=os.environ.get("FEEDGATE_TAIL_URL", "redis://127.0.0.1:6379/0"),
        help="rediss:// for TLS, user:password@ for an ACL user; default: env FEEDGATE_TAIL_URL"
        " or redis://127.0.0.1:6379/0",
    )
    tail_.add_argument("--tls-ca", metavar="FILE", help="CA bundle that signed Redis's cert")
    tail_.add_argument("--tls-cert", metavar="FILE", help="client certificate (PEM)")
    tail_.add_argument("--tls-key", metavar="FILE", help="its private key (PEM)")
    tail_.add_argument(
        "--tls-no-verify", action="store_true", help="do not check the certificate's host name"
    )
    tail_.add_argument("--json", action="store_true", help="raw JSON, one message per line")
    tail_.add_argument("--limit", type=int, default=None, help="stop after N messages")
    tail_.add_argument("--type", help="only these message types, e.g. trade,bbo")
    tail_.add_argument("--exchange", help="only these exchanges, e.g. binance,okx")
    tail_.add_argument("--symbol", help="only these symbols, e.g. BTC-USDT")
    tail_.add_argument(
        "--summary",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="a per-channel rate line on stderr every SECONDS (0: none)",
    )
    tail_.set_defaults(func=_cmd_tail)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except ConfigError as exc:
        print(f"feedgate: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except EmbeddedRedisError as exc:
        print(f"feedgate: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
