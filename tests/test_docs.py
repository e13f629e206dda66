"""The documentation keeps up with the code: every venue and every message type is described."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedgate.events import StatusEvent
from feedgate.messages import _TYPES
from feedgate.venues import available_venues

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_venue_has_a_row_in_venues_md() -> None:
    text = (DOCS / "venues.md").read_text()
    for venue in available_venues():
        assert f"| `{venue}` |" in text, f"docs/venues.md has no row for {venue}"


def test_schema_md_describes_every_message_type_and_status_event() -> None:
    text = (DOCS / "schema.md").read_text()
    for kind in _TYPES.values():
        assert f"## `{kind}`" in text, f"docs/schema.md has no section for {kind}"
    for event in StatusEvent:
        assert f"| `{event.value}` |" in text, f"docs/schema.md does not explain {event.value}"


def test_every_venue_folder_has_notes() -> None:
    root = Path(__file__).resolve().parents[1] / "src" / "feedgate" / "venues"
    for venue in available_venues():
        notes = root / venue / "NOTES.md"
        assert notes.is_file() and "## Limits" in notes.read_text(), f"{venue}/NOTES.md"


def test_the_example_config_loads() -> None:
    from feedgate.settings import load_settings

    settings = load_settings(DOCS.parent / "examples" / "feeds.toml")
    assert {f.exchange for f in settings.feeds} >= {"binance", "coinbase", "kraken", "okx"}


def test_the_readme_config_snippets_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import re
    import tomllib

    from feedgate.settings import build_settings

    readme = (DOCS.parent / "README.md").read_text()
    snippets = re.findall(r"```toml\n(.*?)```", readme, flags=re.S)
    assert snippets, "the README shows a config"
    monkeypatch.setenv("CRYPTOLISTING_API_KEY", "dsk_" + "1" * 64)
    monkeypatch.setenv("UPBIT_ACCESS_KEY", "access")
    secret = tmp_path / "upbit_secret"
    secret.write_text("s3cret\n")
    for snippet in snippets:
        text = snippet.replace("/run/secrets/upbit_secret", str(secret))
        settings = build_settings(tomllib.loads(text))
        assert settings.feeds and "s3cret" not in repr(settings)


def test_every_schema_example_decodes_and_its_fields_are_documented() -> None:
    import re

    import orjson

    from feedgate.client import decode

    text = (DOCS / "schema.md").read_text()
    examples = re.findall(r"```json\n(.*?)```", text, flags=re.S)
    kinds = set()
    for example in examples:
        message = decode(example.replace("\n", ""))
        kinds.add(type(message).__name__)
        section = text[text.index(example) :].split("\n## ")[0]
        raw = orjson.loads(example.replace("\n", ""))
        for field in raw:
            if field in ("v", "type", "exchange", "symbol", "venue_symbol", "ts", "recv_ts", "seq"):
                continue
            assert f"`{field}`" in section or f"`{field}`" in text.split("## `")[0], field
    assert kinds == {
        "Trade", "BookSnapshot", "BookDelta", "Bbo", "Announcement", "Onchain", "Private", "Status",
    }  # fmt: skip


def test_metrics_md_lists_every_exported_family() -> None:
    """Every family a worker or the supervisor exports has a row in docs/metrics.md, and every
    row names a family that is exported (the doc neither lags nor invents)."""
    import re

    from prometheus_client.registry import CollectorRegistry

    from feedgate.metrics import WorkerStats, make_registry
    from feedgate.runtime.supervisor import Supervisor, _SupervisorCollector
    from feedgate.settings import build_settings

    supervisor = Supervisor(Path("feeds.toml"), build_settings({}), 1)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SupervisorCollector(supervisor))
    exported = set()
    for metric in [*make_registry(WorkerStats()).collect(), *registry.collect()]:
        exported.add(metric.name + "_total" if metric.type == "counter" else metric.name)
    text = (DOCS / "metrics.md").read_text()
    documented = set(re.findall(r"^\| `(feedgate_\w+)` \|", text, flags=re.M))
    assert exported - documented == set(), "exported but not in docs/metrics.md"
    assert documented - exported == set(), "in docs/metrics.md but not exported"
