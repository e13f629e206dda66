"""``feedgate run | demo | simulate | tail``: the command line. Thin: each command lives elsewhere.

Exit codes: 0 clean stop, 2 bad configuration or usage (every problem listed), 1 anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Coroutine
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
    from feedgate.runtime.app import run_gateway
    from feedgate.settings import load_settings

    settings = load_settings(args.config)
    if not settings.feeds:
        raise ConfigError(["feeds: at least one [[feeds]] entry is needed"])
    _setup_logging(settings.log_level)
    _install_uvloop()
    _run_until_signal(run_gateway(settings))
    return 0


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
    from feedgate.tail import tail

    _run_until_signal(tail(args.url, args.patterns, as_json=args.json, limit=args.limit))
    return 0


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="feedgate", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the gateway from a config file")
    run.add_argument("--config", "-c", required=True, help="TOML config (see README)")
    run.set_defaults(func=_cmd_run)

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
    tail_.add_argument("patterns", nargs="+", help="channel patterns, e.g. 'trades:*'")
    tail_.add_argument("--url", default="redis://127.0.0.1:6379/0")
    tail_.add_argument("--json", action="store_true", help="raw JSON, one message per line")
    tail_.add_argument("--limit", type=int, default=None, help="stop after N messages")
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
