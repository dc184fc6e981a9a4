"""Prometheus config, alert rules and the Grafana dashboard, checked with the
real promtool (make system-tools installs it): the config and rules load, each
alert's unit tests pass, the tests catch the seed's wrong failure-rate rule,
every dashboard query parses, and every metric used is one the contract
(docs/production-contract.md) defines."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Set

import pytest
import yaml

from tests.deploy.conftest import PROJECT_ROOT

PROMETHEUS_DIR = PROJECT_ROOT / "deploy" / "prometheus"
GRAFANA_DIR = PROJECT_ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA_DIR / "dashboards" / "assistant.json"
CONTRACT = PROJECT_ROOT / "docs" / "production-contract.md"
PROMETHEUS_BUILTIN_METRICS = {"up"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan"}
# Grafana replaces these before the query reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}


def promtool(*args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: run `make system-tools` (scripts/ensure_system_tools.sh)"
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def contract_metric_names() -> Set[str]:
    text = CONTRACT.read_text(encoding="utf-8")
    section = text.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`([a-z][a-z0-9_]*)(?:\{[^}`]*\})?`", section))


def metric_names(expr: str) -> Set[str]:
    """The metric names a PromQL expression selects (functions, keywords,
    label names, strings and durations left out)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', " ", expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for match in re.finditer(r"(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        word = match.group(0)
        if expr[match.end():].lstrip().startswith("(") or word.lower() in PROMQL_KEYWORDS:
            continue
        names.add(word)
    return names


def base_metric(name: str, known: Set[str]) -> str:
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in known:
            return name[: -len(suffix)]
    return name


def alert_rules() -> List[Dict]:
    groups = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_panels() -> List[Dict]:
    return [panel for panel in json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"] if panel["type"] != "row"]


def dashboard_queries() -> List[str]:
    return [target["expr"] for panel in dashboard_panels() for target in panel["targets"]]


def test_prometheus_config_is_valid():
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout


def test_prometheus_scrapes_the_action_server_and_rasa():
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["actions"]["metrics_path"] == "/metrics"
    assert jobs["actions"]["static_configs"][0]["targets"] == ["actions:5055"]
    assert jobs["rasa"]["metrics_path"] == "/webhooks/metrics/"
    assert jobs["rasa"]["static_configs"][0]["targets"] == ["rasa:5005"]


def test_alert_rules_are_valid():
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_alert_unit_tests_pass():
    result = promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_firing_and_a_quiet_case():
    cases = yaml.safe_load((PROMETHEUS_DIR / "alerts_test.yml").read_text(encoding="utf-8"))["tests"]
    checks = [check for case in cases for check in case["alert_rule_test"]]
    for rule in alert_rules():
        mine = [check for check in checks if check["alertname"] == rule["alert"]]
        assert any(check["exp_alerts"] for check in mine), f"{rule['alert']}: no case where it fires"
        assert any(not check["exp_alerts"] for check in mine), f"{rule['alert']}: no case where it stays quiet"


@pytest.mark.parametrize(
    "alert, wrong_expr",
    [
        # the seed's rule: a rate of failures per second, not a ratio
        ("PMSHighFailureRatio", 'rate(pms_circuit_breaker_calls_total{result="failure"}[5m]) > 0.3'),
        ("CircuitBreakerOpen", "max(pms_circuit_breaker_state) >= 1"),  # half-open is not open
        ("DeadLetterQueueGrowing", "max(dlq_queue_size) > 0"),  # a stable backlog is not growth
        ("TargetDown", "up == 0"),  # other jobs' targets are not ours
        ("StaffGuestWaitingTooLong", "max(staff_oldest_wait_seconds) > 900"),  # which hotel must be said
    ],
)
def test_alert_unit_tests_catch_a_wrong_rule(tmp_path, alert, wrong_expr):
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text(encoding="utf-8"))
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule["alert"] == alert:
                rule["expr"] = wrong_expr
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    shutil.copy(PROMETHEUS_DIR / "alerts_test.yml", tmp_path / "alerts_test.yml")

    result = promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)

    assert result.returncode != 0
    assert f"alertname: {alert}" in result.stdout + result.stderr


def test_dashboard_queries_parse(tmp_path):
    queries = dashboard_queries()
    rules = []
    for number, query in enumerate(queries):
        for variable, value in GRAFANA_VARIABLES.items():
            query = query.replace(variable, value)
        assert "$" not in query, f"unknown Grafana variable in {query}"
        rules.append({"record": f"dashboard:query_{number}", "expr": query})
    (tmp_path / "queries.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")

    result = promtool("check", "rules", "queries.yml", cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


def test_a_broken_query_does_fail_the_parse_check(tmp_path):
    rules = {"groups": [{"name": "g", "rules": [{"record": "r:x", "expr": "sum by (le (rate(x[5m]))"}]}]}
    (tmp_path / "queries.yml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    assert promtool("check", "rules", "queries.yml", cwd=tmp_path).returncode != 0


def test_dashboard_and_alerts_use_only_contract_metrics():
    known = contract_metric_names()
    assert {"pms_circuit_breaker_state", "dlq_queue_size", "channel_turn_latency_seconds"} <= known
    used = {}
    for expr in dashboard_queries() + [rule["expr"] for rule in alert_rules()]:
        for name in metric_names(expr):
            used.setdefault(base_metric(name, known), expr)
    unknown = {name: expr for name, expr in used.items() if name not in known | PROMETHEUS_BUILTIN_METRICS}
    assert not unknown, f"metrics not in docs/production-contract.md: {unknown}"


def test_dashboard_shows_what_operators_need():
    used = {base_metric(name, contract_metric_names()) for expr in dashboard_queries() for name in metric_names(expr)}
    assert {
        "pms_circuit_breaker_state",
        "pms_circuit_breaker_calls_total",
        "pms_api_latency_seconds",
        "dlq_queue_size",
        "dlq_messages_total",
        "dlq_retries_total",
        "dlq_permanent_failures_total",
        "channel_turn_latency_seconds",
        "channel_messages_total",
    } <= used
    titles = " | ".join(panel["title"] for panel in dashboard_panels())
    for words in ("Circuit breaker state", "failure ratio", "latency p95", "p50 / p95 by channel"):
        assert words in titles


def test_metric_name_extraction():
    assert metric_names('sum by (le, channel) (rate(channel_turn_latency_seconds_bucket{channel="x"}[5m]))') == {
        "channel_turn_latency_seconds_bucket"
    }
    assert metric_names("max(delta(dlq_queue_size[10m])) > 0 and max(dlq_queue_size) > 0") == {"dlq_queue_size"}
    assert metric_names('sum(rate(pms_circut_calls_total{result="failure"}[5m])) / 2') == {"pms_circut_calls_total"}


def test_dashboard_panels_use_the_provisioned_datasource_and_do_not_overlap():
    datasource = yaml.safe_load((GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text())["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"
    panels = json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    occupied = set()
    for panel in panels:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]
            assert panel["targets"] and all(target["datasource"]["uid"] == datasource["uid"] for target in panel["targets"])
        box = panel["gridPos"]
        assert box["x"] + box["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(box["x"], box["x"] + box["w"]) for y in range(box["y"], box["y"] + box["h"])}
        assert not cells & occupied, f"{panel['title']} overlaps another panel"
        occupied |= cells
