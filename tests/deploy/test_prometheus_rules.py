"""The shipped Prometheus config and alert rules: promtool accepts them and their unit tests
pass, every alert is documented and unit-tested both ways, and they read only metrics the
gateway exports. (A real Prometheus evaluates them in test_prometheus_e2e.py.)"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.shipped import (
    ALERTS,
    NO_PROMETHEUS,
    PROMETHEUS_DIR,
    REPO,
    RUNBOOK,
    alert_rules,
    exported_families,
    load_yaml,
    metric_names,
    panel_queries,
    tool,
)

# the issue's list: feed stale, reconnect storm, lag p99, publish errors or drops, worker down or
# restarting, a book resyncing in a loop, the smoke check failing or its API key rejected
REQUIRED = {
    "FeedgateFeedStale", "FeedgateReconnectStorm", "FeedgateLagHigh", "FeedgatePublishErrors",
    "FeedgateMessagesDropped", "FeedgateWorkerDown", "FeedgateWorkerRestarting",
    "FeedgateBookResyncLoop", "FeedgateSmokeCheckFailing", "FeedgateApiKeyRejected",
}  # fmt: skip
LONGEST_FOR = 15 * 60  # a page later than this is not a page


def _promtool(*args: str, cwd: Path = PROMETHEUS_DIR) -> str:
    promtool = tool("promtool")
    if promtool is None:
        pytest.skip(NO_PROMETHEUS)
    result = subprocess.run(
        [promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def _seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert parts and duration, f"unexpected duration {duration!r}"
    return sum(int(n) * units[u] for n, u in zip(parts.groups(), "hms", strict=True) if n)


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lowercase, punctuation dropped, spaces to dashes."""
    headings = re.findall(r"^#{1,6} (.+)$", markdown, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}


def test_promtool_checks_the_config_and_the_rules_it_loads() -> None:
    output = _promtool("check", "config", "prometheus.yml")
    assert "SUCCESS: 1 rule files found" in output
    rules = _promtool("check", "rules", ALERTS.name)
    assert f"SUCCESS: {len(alert_rules())} rules found" in rules


def test_promtool_unit_tests_pass() -> None:
    output = _promtool("test", "rules", "alerts.test.yml")
    assert "SUCCESS" in output


def test_alertmanager_config_is_valid() -> None:
    amtool = tool("amtool")
    if amtool is None:
        pytest.skip("amtool is not installed (Debian: apt-get install prometheus-alertmanager)")
    config = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
    result = subprocess.run(
        [amtool, "check-config", str(config)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_issues_alerts_are_all_there() -> None:
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names)), "an alert name is used twice"
    assert set(names) >= REQUIRED, REQUIRED - set(names)


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_alert_has_summary_runbook_severity_and_a_sane_for(rule: dict[str, Any]) -> None:
    annotations = rule.get("annotations", {})
    assert annotations.get("summary"), "no summary"
    runbook = annotations.get("runbook_url", "")
    assert runbook == f"docs/runbook.md#{rule['alert'].lower()}", runbook
    assert rule["alert"].lower() in _anchors(RUNBOOK.read_text()), "no runbook section"
    assert rule.get("labels", {}).get("severity") in ("critical", "warning")
    assert "for" in rule, "every alert states its for: (0m where waiting makes no sense)"
    assert _seconds(rule["for"]) <= LONGEST_FOR


def test_the_runbook_has_no_section_without_an_alert() -> None:
    sections = re.findall(r"^## (\w+)$", RUNBOOK.read_text(), flags=re.M)
    assert sorted(sections) == sorted(rule["alert"] for rule in alert_rules())


def test_every_alert_is_unit_tested_firing_and_quiet() -> None:
    """alerts.test.yml has, for each alert, a case where it fires and one where it must not."""
    tests = load_yaml(PROMETHEUS_DIR / "alerts.test.yml")
    assert tests["rule_files"] == [ALERTS.name]
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            expected = check.get("exp_alerts") or []
            (fires if expected else quiet).add(check["alertname"])
            for alert in expected:
                assert alert.get("exp_annotations"), "check the rendered annotations too"
    names = {rule["alert"] for rule in alert_rules()}
    assert names - fires == set(), "never seen firing"
    assert names - quiet == set(), "never seen staying quiet"


def test_rules_and_panels_read_only_exported_metrics() -> None:
    exported = exported_families()
    used = {(f"alert {r['alert']}", n) for r in alert_rules() for n in metric_names(r["expr"])}
    used |= {(str(q), name) for q in panel_queries() for name in metric_names(q.expr)}
    unknown = sorted(f"{where}: {name}" for where, name in used if name not in exported)
    assert not unknown, "\n".join(unknown)
