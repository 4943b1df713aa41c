"""The chart with the pinned tools: helm lint, helm template per ct value set, helm-unittest,
ct lint, schema typos, the monitoring-API check, and what the rendered objects promise."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from chartkit import CHART, MONITORING_APIS, REPO, Tools, ci_values_files
from manifest_checks import hardening_problems, label_problems, rbac_problems, selector_problems

pytestmark = pytest.mark.chart

API_FLAGS = [flag for api in MONITORING_APIS for flag in ("--api-versions", api)]
CI_FILES = ci_values_files()


def test_helm_lint_strict_passes_on_defaults(tools: Tools) -> None:
    result = tools.helm("lint", "--strict", CHART)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("values", CI_FILES, ids=[p.name for p in CI_FILES])
def test_helm_lint_strict_passes_on_each_ci_value_set(tools: Tools, values: Path) -> None:
    result = tools.helm("lint", "--strict", CHART, "--values", values)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("values", CI_FILES, ids=[p.name for p in CI_FILES])
def test_each_ci_value_set_renders_consistent_hardened_objects(tools: Tools, values: Path) -> None:
    docs = tools.template("--values", values, *API_FLAGS)
    assert {"Deployment", "Service", "ServiceAccount"} <= {d["kind"] for d in docs}
    problems = (
        selector_problems(docs)
        + rbac_problems(docs)
        + hardening_problems(docs)
        + label_problems(docs, "ray")
    )
    assert problems == []


def test_ci_value_sets_cover_the_main_variants() -> None:
    names = {p.name for p in CI_FILES}
    assert {
        "default-values.yaml",
        "ha-values.yaml",
        "sidecar-values.yaml",
        "namespaced-values.yaml",
        "monitoring-values.yaml",
    } <= names


def test_every_template_has_a_unittest_suite() -> None:
    templates = {
        str(p.relative_to(CHART))
        for p in (CHART / "templates").rglob("*")
        if p.is_file() and not p.name.startswith("_")
    }
    covered: set[str] = set()
    for suite in (CHART / "tests").glob("*_test.yaml"):
        covered.update(yaml.safe_load(suite.read_text())["templates"])
    assert templates - covered == set()


def test_helm_unittest_suites_pass_strictly(tools: Tools) -> None:
    result = tools.helm("unittest", "--strict", CHART)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    suites = len(list((CHART / "tests").glob("*_test.yaml")))
    assert re.search(rf"Test Suites:\s+{suites} passed, {suites} total", output), output


def test_ct_lint_passes_with_the_project_config(tools: Tools) -> None:
    result = tools.run(
        REPO / ".tools" / "bin" / "ct", "lint", "--config", REPO / "ct.yaml", "--all"
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "All charts linted successfully" in output
    for values in CI_FILES:
        assert f'values file "charts/ray-operator/ci/{values.name}"' in output


@pytest.mark.parametrize(
    ("setting", "where", "typo"),
    [
        ("operator.replica=2", "/operator", "replica"),
        (
            "metrics.serviceMonitor.additionalLabel.release=kps",
            "/metrics/serviceMonitor",
            "additionalLabel",
        ),
        ("exporter.mdoe=sidecar", "/exporter", "mdoe"),
        ("grafana.dashboard.enabled=true", "/grafana", "dashboard"),
        ("watchNamespace={a}", "", "watchNamespace"),
    ],
)
def test_a_typo_in_values_fails_naming_the_value(
    tools: Tools, setting: str, where: str, typo: str
) -> None:
    result = tools.helm("template", "ray", CHART, "--set", setting)
    assert result.returncode != 0
    assert f"at '{where}': additional properties '{typo}' not allowed" in result.stderr


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("metrics.serviceMonitor.enabled", "ServiceMonitor"),
        ("metrics.podMonitor.enabled", "PodMonitor"),
        ("prometheusRule.enabled", "PrometheusRule"),
    ],
)
def test_a_monitoring_kind_without_its_api_fails_naming_the_value(
    tools: Tools, value: str, kind: str
) -> None:
    missing = tools.helm("template", "ray", CHART, "--set", f"{value}=true")
    assert missing.returncode != 0
    assert f"{value}=true, but this cluster does not serve monitoring.coreos.com/v1 {kind}" in (
        missing.stderr
    )
    docs = tools.template(
        "--set", f"{value}=true", "--api-versions", f"monitoring.coreos.com/v1/{kind}"
    )
    assert [d["kind"] for d in docs].count(kind) == 1


def test_the_kube_version_constraint_accepts_the_pinned_kubernetes(tools: Tools) -> None:
    pinned = re.search(
        r"^KUBERNETES_VERSION=v(\S+)$", (REPO / "tools" / "versions.env").read_text(), re.M
    )
    assert pinned is not None
    assert tools.helm("template", "ray", CHART, "--kube-version", pinned[1]).returncode == 0
    old = tools.helm("template", "ray", CHART, "--kube-version", "1.28.0")
    assert old.returncode != 0
    assert "incompatible with Kubernetes v1.28.0" in old.stderr


def _schema_paths(schema: dict[str, Any], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for key, sub in schema.get("properties", {}).items():
        path = f"{prefix}{key}"
        paths.add(path)
        if sub.get("type") == "object" and "properties" in sub:
            paths |= _schema_paths(sub, f"{path}.")
    return paths


def _value_paths(values: dict[str, Any], schema_paths: set[str], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        paths.add(path)
        # Descend only where the schema names the keys (not into free-form objects).
        if isinstance(value, dict) and any(p.startswith(f"{path}.") for p in schema_paths):
            paths |= _value_paths(value, schema_paths, f"{path}.")
    return paths


def test_the_schema_names_exactly_the_keys_of_values_yaml() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    schema_paths = _schema_paths(schema) - {"global"}
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert _value_paths(values, schema_paths) == schema_paths


def _prometheus_rule(docs: list[dict[str, Any]]) -> dict[str, Any]:
    [rule] = [d for d in docs if d["kind"] == "PrometheusRule"]
    return rule


def _source_groups() -> list[dict[str, Any]]:
    manifest = yaml.safe_load((REPO / "alerts" / "alerts.yaml").read_text())
    groups: list[dict[str, Any]] = yaml.safe_load(
        (REPO / "alerts" / manifest["ruleFile"]).read_text()
    )["groups"]
    return groups


def test_without_overrides_the_prometheus_rule_equals_the_alerts_source(tools: Tools) -> None:
    selectors = (
        'prometheusRule.substitutions.exporterJobSelector=job=~".*ray-exporter.*"',
        'prometheusRule.substitutions.operatorJobSelector=job=~"(.+[-/])?ray-operator"',
    )
    docs = tools.template(
        "--set",
        "prometheusRule.enabled=true",
        *(arg for selector in selectors for arg in ("--set-string", selector)),
        *API_FLAGS,
    )
    assert _prometheus_rule(docs)["spec"]["groups"] == _source_groups()


def test_unscraped_exporter_and_operator_drop_only_their_groups(tools: Tools) -> None:
    docs = tools.template("--set", "prometheusRule.enabled=true", *API_FLAGS)
    unscraped = {"ray-operator.exporter", "ray-operator.operator"}
    expected = [g for g in _source_groups() if g["name"] not in unscraped]
    assert len(expected) == len(_source_groups()) - 2
    assert _prometheus_rule(docs)["spec"]["groups"] == expected


def test_rendered_rules_with_overrides_pass_promtool(tools: Tools, tmp_path: Path) -> None:
    promtool = REPO / ".tools" / "bin" / "promtool"
    if not promtool.exists():
        pytest.fail(f"{promtool} is missing: build the pinned toolchain with `make tools`")
    overrides = {
        "prometheusRule": {
            "enabled": True,
            "disabledAlerts": ["RayJobExecutionTimeout"],
            "alertLabels": {"team": "ml"},
            "substitutions": {"runbookBaseURL": "https://wiki.example/ray"},
            "alerts": {
                name: {"severity": "critical", "for": "7m", "parameters": params}
                for name, params in _every_parameter_changed().items()
            },
            "extraRules": [
                {"alert": "RayTooManyClusters", "expr": "count(kuberay_cluster_info) > 100"}
            ],
        },
        "metrics": {"serviceMonitor": {"enabled": True, "job": "ray-metrics"}},
        "operator": {"metrics": {"podMonitor": {"enabled": True, "job": "ray-control"}}},
    }
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(overrides))
    spec = _prometheus_rule(tools.template("--values", values, *API_FLAGS))["spec"]
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump(spec))
    result = tools.run(promtool, "check", "rules", rules_file)
    assert result.returncode == 0, result.stdout + result.stderr
    rules = {r["alert"]: r for g in spec["groups"] for r in g["rules"]}
    assert "RayJobExecutionTimeout" not in rules
    for name, params in _every_parameter_changed().items():
        assert rules[name]["for"] == "7m"
        assert rules[name]["labels"] == {"severity": "critical", "team": "ml"}
        for value in params.values():
            assert str(value) in rules[name]["expr"]
    assert 'job="ray-metrics"' in rules["RayExporterDown"]["expr"]
    assert 'job="ray-control"' in rules["RayOperatorReconcileErrors"]["expr"]


def _every_parameter_changed() -> dict[str, dict[str, Any]]:
    """A value for each declared parameter that differs from its default."""
    manifest = yaml.safe_load((REPO / "alerts" / "alerts.yaml").read_text())
    changed: dict[str, dict[str, Any]] = {}
    for name, alert in manifest["alerts"].items():
        for param, spec in (alert.get("parameters") or {}).items():
            default = spec["default"]
            if isinstance(default, int | float):
                value: Any = default + 7
            elif re.fullmatch(r"\d+[smhdw]", str(default)):
                value = "97m"
            else:
                value = f"{default}|Suspended"
            changed.setdefault(name, {})[param] = value
    assert changed, "alerts/alerts.yaml declares no parameters"
    return changed


def test_dashboard_configmaps_carry_each_dashboard_verbatim(tools: Tools) -> None:
    docs = tools.template("--set", "grafana.dashboards.enabled=true")
    maps = [d for d in docs if d["kind"] == "ConfigMap"]
    sources = sorted((REPO / "dashboards").glob("*.json"))
    assert len(maps) == len(sources) > 0
    carried = {key: text for m in maps for key, text in m["data"].items()}
    assert carried == {p.name: p.read_text() for p in sources}
    assert all(m["metadata"]["labels"]["grafana_dashboard"] == "1" for m in maps)
