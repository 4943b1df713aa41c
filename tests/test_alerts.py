"""The shipped alert rules: structure, runbooks, documented metrics, the chart contract, promtool.

Unit tier. promtool (from .tools/bin) checks the rule file and runs alerts/tests/*.yaml;
those tests are skipped, with the reason, only when the binary has not been built.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ALERTS = REPO / "alerts"
RULES = ALERTS / "ray-operator.rules.yaml"
CONTRACT = ALERTS / "alerts.yaml"
RUNBOOKS = REPO / "docs" / "runbooks.md"
METRICS_DOC = REPO / "docs" / "metrics.md"
PROMTOOL = REPO / ".tools" / "bin" / "promtool"
sys.path.insert(0, str(REPO / "dashboards"))

from ray_dashboards.promql import documented_metric_names, family, metric_names  # noqa: E402

SEVERITIES = {"info", "warning", "critical"}
PROMETHEUS_SERIES = {"up"}

Json = dict[str, Any]

needs_promtool = pytest.mark.skipif(
    not PROMTOOL.exists(), reason=f"{PROMTOOL.relative_to(REPO)} is not built yet (make tools)"
)


def rules(text: str | None = None) -> dict[str, Json]:
    """Alert name -> rule (with its group name under "_group"), in file order."""
    doc = yaml.safe_load(text if text is not None else RULES.read_text(encoding="utf-8"))
    out: dict[str, Json] = {}
    for group in doc["groups"]:
        for rule in group["rules"]:
            assert rule["alert"] not in out, f"duplicate alert {rule['alert']}"
            out[rule["alert"]] = {**rule, "_group": group["name"]}
    return out


def contract() -> Json:
    loaded: Json = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    return loaded


def go_printf(fmt: str, value: object) -> str:
    """Helm's `printf` for the verbs the contract uses (%v, %s)."""
    return fmt.replace("%v", str(value)).replace("%s", str(value))


def render_like_the_chart(values: Json) -> str:
    """The rule file as the chart renders it (alerts/README.md, "Contract with the chart").

    values: {"substitutions": {name: value}, "alerts": {name: {for, severity, parameters}}}.
    """
    spec = contract()
    text = RULES.read_text(encoding="utf-8")
    for name, sub in spec["substitutions"].items():
        value = values.get("substitutions", {}).get(name, sub["default"])
        text = text.replace(sub["token"], go_printf(sub["format"], value))
    doc = yaml.safe_load(text)
    for group in doc["groups"]:
        for rule in group["rules"]:
            override = values.get("alerts", {}).get(rule["alert"], {})
            rule["for"] = override.get("for", rule["for"])
            rule["labels"]["severity"] = override.get("severity", rule["labels"]["severity"])
            params = spec["alerts"][rule["alert"]]["parameters"]
            for pname, value in override.get("parameters", {}).items():
                param = params[pname]
                new = go_printf(param["format"], value)
                rule["expr"] = rule["expr"].replace(param["token"], new)
    return str(yaml.safe_dump(doc, sort_keys=False))


def github_anchors(markdown: str) -> set[str]:
    """Anchors GitHub gives the headings of a Markdown document."""
    anchors = set()
    for line in markdown.splitlines():
        if match := re.match(r"#{1,6}\s+(.*)", line):
            slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug)
    return anchors


def duration_seconds(text: str) -> int:
    """A Prometheus duration ("1h30m", "15m", "0s") in seconds."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+)([dhms])", text)
    assert "".join(n + u for n, u in parts) == text, f"unsupported duration {text!r}"
    return sum(int(n) * units[u] for n, u in parts)


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PROMTOOL), *map(str, args)], capture_output=True, text=True, timeout=300, check=False
    )


ALERT_NAMES = list(rules())


def test_the_expected_alerts_exist() -> None:
    assert set(ALERT_NAMES) == {
        "RayClusterProvisioningStuck",
        "RayClusterSlowProvisioning",
        "RayWorkerGroupAtMaxReplicas",
        "RayJobFailed",
        "RayJobExecutionTimeout",
        "RayServiceNotReady",
        "RayServiceUpgradeStuck",
        "RayReconciliationStalled",
        "RayExporterDown",
        "RayExporterStale",
        "RayOperatorReconcileErrors",
        "RayOperatorWorkQueueBacklog",
    }


@pytest.mark.parametrize("name", ALERT_NAMES)
def test_labels_and_annotations(name: str) -> None:
    rule = rules()[name]
    assert rule["labels"]["severity"] in SEVERITIES
    assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
    description = rule["annotations"]["description"]
    assert "$labels.namespace" in description
    assert re.search(r"\$labels\.(name|pod|instance)\b", description)
    assert "for" in rule
    duration_seconds(rule["for"])


@pytest.mark.parametrize("name", ALERT_NAMES)
def test_runbook_url_points_at_an_existing_section(name: str) -> None:
    base = contract()["substitutions"]["runbookBaseURL"]["default"]
    url = rules()[name]["annotations"]["runbook_url"]
    assert url == f"{base}#{name.lower()}"
    assert base.endswith("docs/runbooks.md")
    assert name.lower() in github_anchors(RUNBOOKS.read_text(encoding="utf-8"))


def test_runbooks_have_one_section_per_alert() -> None:
    sections = re.findall(r"^## (\S+)\s*$", RUNBOOKS.read_text(encoding="utf-8"), re.MULTILINE)
    assert sorted(sections) == sorted(ALERT_NAMES)


def test_object_alerts_drop_the_exporter_target_labels() -> None:
    """Aggregated by object, so an exporter restart neither splits nor resets an alert."""
    for name, rule in rules().items():
        if name.startswith(("RayExporter", "RayOperator")):
            continue  # about the exporter or operator targets themselves
        match = re.match(r"max by \(([^)]*)\)", rule["expr"])
        assert match, name
        by = {label.strip() for label in match.group(1).split(",")}
        assert {"namespace", "name", "uid"} <= by, name
        assert not by & {"job", "instance", "pod"}, name


def test_only_documented_metrics_are_used() -> None:
    if not METRICS_DOC.exists():
        pytest.fail(f"{METRICS_DOC.relative_to(REPO)} is missing: it must document every metric")
    documented = documented_metric_names(METRICS_DOC.read_text(encoding="utf-8"))
    used = {(name, m) for name, rule in rules().items() for m in metric_names(rule["expr"])}
    assert used, "no metric found in the rules"
    undocumented = sorted(
        (name, m)
        for name, m in used
        if m not in PROMETHEUS_SERIES and family(m, documented) is None
    )
    assert undocumented == []


# -- the contract with the chart (alerts/alerts.yaml) ------------------------------------


def test_contract_lists_every_alert_with_its_defaults() -> None:
    spec = contract()
    assert spec["ruleFile"] == RULES.name
    assert list(spec["alerts"]) == ALERT_NAMES
    for name, rule in rules().items():
        entry = spec["alerts"][name]
        assert entry["group"] == rule["_group"], name
        assert entry["for"] == rule["for"], name
        assert entry["severity"] == rule["labels"]["severity"], name


@pytest.mark.parametrize("name", ALERT_NAMES)
def test_parameter_tokens_occur_once_in_their_expr(name: str) -> None:
    rule = rules()[name]
    for pname, param in contract()["alerts"][name]["parameters"].items():
        assert rule["expr"].count(param["token"]) == 1, (name, pname)
        assert go_printf(param["format"], param["default"]) == param["token"], (name, pname)
        assert param["description"], (name, pname)


def test_substitution_tokens_are_the_defaults_and_present() -> None:
    text = RULES.read_text(encoding="utf-8")
    for name, sub in contract()["substitutions"].items():
        assert go_printf(sub["format"], sub["default"]) == sub["token"], name
        assert sub["token"] in text, name
    down = rules()["RayExporterDown"]["expr"]
    assert down.count(contract()["substitutions"]["exporterJobSelector"]["token"]) == 2


CHANGED: Json = {
    "substitutions": {
        "runbookBaseURL": "https://example.org/ray/runbooks.md",
        "exporterJobSelector": 'job="prod-ray-operator-exporter"',
    },
    "alerts": {
        "RayClusterSlowProvisioning": {"parameters": {"thresholdSeconds": 900, "window": "2h"}},
        "RayJobFailed": {"severity": "warning", "parameters": {"deploymentStatuses": "Failed"}},
        "RayServiceNotReady": {"for": "15m"},
        "RayReconciliationStalled": {"parameters": {"generations": 1}},
        "RayExporterStale": {"for": "10m", "parameters": {"thresholdSeconds": 1200}},
    },
}


def test_chart_rendering_changes_exactly_what_was_asked() -> None:
    before, after = rules(), rules(render_like_the_chart(CHANGED))
    assert list(after) == list(before)
    slow = after["RayClusterSlowProvisioning"]["expr"]
    assert "> 900" in slow
    assert "offset 2h" in slow
    assert "> 600" not in slow
    assert after["RayJobFailed"]["labels"]["severity"] == "warning"
    assert 'deployment_status=~"Failed"' in after["RayJobFailed"]["expr"]
    assert after["RayServiceNotReady"]["for"] == "15m"
    assert after["RayExporterStale"]["for"] == "10m"
    assert "> 1200" in after["RayExporterStale"]["expr"]
    assert 'up{job="prod-ray-operator-exporter"}' in after["RayExporterDown"]["expr"]
    for name, rule in after.items():
        assert rule["annotations"]["runbook_url"].startswith("https://example.org/ray/runbooks.md#")
        untouched = name not in CHANGED["alerts"] and name != "RayExporterDown"
        if untouched:
            assert rule["expr"] == before[name]["expr"], name


# -- promtool ------------------------------------------------------------------------


@needs_promtool
def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERT_NAMES)} rules found" in result.stdout


@needs_promtool
def test_promtool_test_rules() -> None:
    files = sorted((ALERTS / "tests").glob("*.test.yaml"))
    assert files
    result = promtool("test", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_rules_rendered_with_other_values_pass_promtool(tmp_path: Path) -> None:
    rendered = tmp_path / "rendered.rules.yaml"
    rendered.write_text(render_like_the_chart(CHANGED), encoding="utf-8")
    result = promtool("check", "rules", rendered)
    assert result.returncode == 0, result.stdout + result.stderr
    # The changed values take effect: 700s is no longer slow, NotReady waits 15m.
    test = {
        "rule_files": [rendered.name],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'kuberay_cluster_provisioned_duration_seconds{namespace="a", '
                        'name="c", uid="u1"}',
                        "values": "700x20",
                    },
                    {
                        "series": 'kuberay_service_condition_ready{namespace="a", name="s", '
                        'uid="u2", condition="false"}',
                        "values": "1x20",
                    },
                ],
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": "RayClusterSlowProvisioning"},
                    {"eval_time": "14m", "alertname": "RayServiceNotReady"},
                ],
            }
        ],
    }
    test_file = tmp_path / "rendered.test.yaml"
    test_file.write_text(yaml.safe_dump(test), encoding="utf-8")
    result = promtool("test", "rules", test_file)
    assert result.returncode == 0, result.stdout + result.stderr


# -- coverage of the promtool tests ------------------------------------------------------


def _cases() -> Iterator[tuple[str, int, str, int, int]]:
    """(file:group, interval s, alertname, eval_time s, number of expected alerts)."""
    for path in sorted((ALERTS / "tests").glob("*.test.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert doc["rule_files"] == ["../ray-operator.rules.yaml"], path.name
        interval = duration_seconds(doc.get("evaluation_interval", "1m"))
        for i, group in enumerate(doc["tests"]):
            for case in group.get("alert_rule_test", []):
                yield (
                    f"{path.name}:{i}",
                    interval,
                    case["alertname"],
                    duration_seconds(case["eval_time"]),
                    len(case.get("exp_alerts") or []),
                )


@pytest.mark.parametrize("name", ALERT_NAMES)
def test_promtool_tests_cover_firing_silence_and_the_boundary(name: str) -> None:
    cases = [c for c in _cases() if c[2] == name]
    assert any(n > 0 for *_, n in cases), f"{name}: no case where it fires"
    assert any(n == 0 for *_, n in cases), f"{name}: no case where it stays silent"
    # One evaluation before the alert (or one more instance of it) starts firing, and at it.
    by_time = {(group, t): n for group, _, _, t, n in cases}
    boundary = [
        (group, t)
        for group, interval, _, t, n in cases
        if (group, t - interval) in by_time and by_time[(group, t - interval)] < n
    ]
    assert boundary, f"{name}: no pair of cases one evaluation apart around a firing edge"
