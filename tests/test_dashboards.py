"""The shipped Grafana dashboards: generated, stably formatted, conventional, documented metrics.

Unit tier: reads dashboards/*.json and docs/metrics.md only. Whether each query returns
the expected series is the e2e tier's job (a real Prometheus against the real exporter).
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DASHBOARDS = REPO / "dashboards"
METRICS_DOC = REPO / "docs" / "metrics.md"
PROMTOOL = REPO / ".tools" / "bin" / "promtool"
sys.path.insert(0, str(DASHBOARDS))

from ray_dashboards.catalog import stable_json  # noqa: E402
from ray_dashboards.promql import documented_metric_names, family, metric_names  # noqa: E402

OBJECT_DASHBOARDS = {"ray-overview", "ray-cluster", "ray-job", "ray-service"}
EXPORTER_DASHBOARDS = {"ray-exporter-health", "ray-operator-health"}
"""Dashboards of the exporter's and the operator's own health: scoped by job and instance."""
PROMETHEUS_SERIES = {"up"}
"""Series Prometheus itself writes per target: not served by the exporter, always present."""

Json = dict[str, Any]


def load(uid: str) -> Json:
    board: Json = json.loads((DASHBOARDS / f"{uid}.json").read_text(encoding="utf-8"))
    return board


def panels(board: Json) -> Iterator[Json]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def exprs(board: Json) -> Iterator[tuple[str, str]]:
    """(panel title, PromQL) for every query of every panel."""
    for panel in panels(board):
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def variables(board: Json) -> dict[str, Json]:
    return {v["name"]: v for v in board["templating"]["list"]}


ALL = sorted(OBJECT_DASHBOARDS | EXPORTER_DASHBOARDS)


def _build_script() -> Any:
    spec = importlib.util.spec_from_file_location("ray_dashboards_build", DASHBOARDS / "build.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_files_are_the_generators_output() -> None:
    assert _build_script().check(DASHBOARDS) == []


def test_check_reports_a_hand_edit(tmp_path: Path) -> None:
    for path in DASHBOARDS.glob("*.json"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    edited = tmp_path / "ray-job.json"
    edited.write_text(edited.read_text(encoding="utf-8").replace('"utc"', '"browser"'), "utf-8")
    (tmp_path / "stray.json").write_text("{}\n", encoding="utf-8")
    problems = _build_script().check(tmp_path)
    assert [p.split(":")[0] for p in problems] == ["ray-job.json", "stray.json"]


def test_exactly_the_expected_dashboards_ship() -> None:
    assert sorted(p.stem for p in DASHBOARDS.glob("*.json")) == ALL


@pytest.mark.parametrize("uid", ALL)
def test_valid_json_in_the_stable_format(uid: str) -> None:
    text = (DASHBOARDS / f"{uid}.json").read_text(encoding="utf-8")
    assert text == stable_json(json.loads(text))


@pytest.mark.parametrize("uid", ALL)
def test_dashboard_conventions(uid: str) -> None:
    board = load(uid)
    assert board["uid"] == uid
    assert board["title"].startswith("Ray / ")
    assert "ray" in board["tags"]
    assert board["timezone"] == "utc"
    assert board.get("id") is None
    [link] = board["links"]
    assert link["type"] == "dashboards"
    assert link["tags"] == ["ray"]
    assert link["includeVars"] is True
    assert link["keepTime"] is True


@pytest.mark.parametrize("uid", ALL)
def test_everything_queries_through_the_datasource_variable(uid: str) -> None:
    board = load(uid)
    ds = variables(board)["datasource"]
    assert ds["type"] == "datasource"
    assert ds["query"] == "prometheus"
    ref = {"type": "prometheus", "uid": "${datasource}"}
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            assert var["datasource"] == ref, var["name"]
    for panel in panels(board):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == ref, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == ref, panel["title"]


@pytest.mark.parametrize("uid", ALL)
def test_hidden_cluster_variable(uid: str) -> None:
    cluster = variables(load(uid))["cluster"]
    assert cluster["hide"] == 2
    assert cluster["includeAll"] is True
    assert cluster["allValue"] == ".*"
    assert cluster["query"].startswith("label_values(")
    assert cluster["query"].endswith(", cluster)")


@pytest.mark.parametrize("uid", sorted(OBJECT_DASHBOARDS))
def test_namespace_variable_from_kuberay_series(uid: str) -> None:
    namespace = variables(load(uid))["namespace"]
    assert namespace["multi"] is True
    assert namespace["includeAll"] is True
    assert namespace["allValue"] == ".*"
    assert namespace["hide"] == 0
    pattern = r"label_values\(\{__name__=~\"kuberay_.*\}, namespace\)"
    assert re.fullmatch(pattern, namespace["query"])
    assert 'cluster=~"$cluster"' in namespace["query"]


def _selectors(expr: str) -> Iterator[tuple[str, str]]:
    """(metric, matchers) of every `metric{...}` selector in expr."""
    for match in re.finditer(r"([a-zA-Z_:][\w:]*)\{([^{}]*)\}", expr):
        yield match.group(1), match.group(2)


@pytest.mark.parametrize("uid", ALL)
def test_every_selector_is_scoped_by_the_variables(uid: str) -> None:
    board = load(uid)
    scope = (
        ['cluster=~"$cluster"', 'namespace=~"$namespace"']
        if uid in OBJECT_DASHBOARDS
        else ['cluster=~"$cluster"', 'job=~"$job"', 'instance=~"$instance"']
    )
    for title, expr in exprs(board):
        names = metric_names(expr)
        selectors = list(_selectors(expr))
        assert {metric for metric, _ in selectors} == names, (title, expr)
        for metric, matchers in selectors:
            for required in scope:
                assert required in matchers, (title, metric, required)


@pytest.mark.parametrize("uid", ALL)
def test_rates_use_rate_interval(uid: str) -> None:
    for title, expr in exprs(load(uid)):
        for match in re.finditer(r"\[([^\]]*)\]", expr):
            assert match.group(1) == "$__rate_interval", (title, expr)


@pytest.mark.parametrize("uid", ALL)
def _call_arguments(expr: str, function: str) -> Iterator[str]:
    """The argument text of every call of `function` in expr (up to its closing paren)."""
    for match in re.finditer(rf"\b{function}\s*\(", expr):
        depth, start = 1, match.end()
        for i in range(start, len(expr)):
            depth += {"(": 1, ")": -1}.get(expr[i], 0)
            if depth == 0:
                yield expr[start:i]
                break


@pytest.mark.parametrize("uid", ALL)
def test_histogram_quantile_only_over_buckets(uid: str) -> None:
    for title, expr in exprs(load(uid)):
        for argument in _call_arguments(expr, "histogram_quantile"):
            names = metric_names(argument)
            assert names, (title, expr)
            assert all(n.endswith("_bucket") for n in names), (title, expr)


def test_provisioning_percentiles_are_quantile_over_the_gauge() -> None:
    queries = [expr for _, expr in exprs(load("ray-cluster"))]
    gauge = "kuberay_cluster_provisioned_duration_seconds{"
    for q in ("0.5", "0.99"):
        assert any(e.startswith(f"quantile({q}, {gauge}") for e in queries), q
    assert not any("histogram_quantile" in e for e in queries)


def test_panels_tile_the_grid_without_overlap() -> None:
    for uid in ALL:
        occupied: set[tuple[int, int]] = set()
        ids = []
        for panel in panels(load(uid)):
            ids.append(panel["id"])
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24, (uid, panel["title"])
            cells = {
                (x, y)
                for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])
            }
            assert not cells & occupied, (uid, panel["title"])
            occupied |= cells
        assert len(ids) == len(set(ids)), uid


def test_uids_are_unique_and_fit_grafana() -> None:
    uids = [load(uid)["uid"] for uid in ALL]
    assert len(set(uids)) == len(uids)
    assert all(len(u) <= 40 and re.fullmatch(r"[a-z0-9-]+", u) for u in uids)


def test_every_kuberay_gauge_is_on_some_dashboard() -> None:
    used = {name for uid in ALL for _, expr in exprs(load(uid)) for name in metric_names(expr)}
    kuberay = {
        "kuberay_cluster_info",
        "kuberay_cluster_condition_provisioned",
        "kuberay_cluster_provisioned_duration_seconds",
        "kuberay_job_info",
        "kuberay_job_deployment_status",
        "kuberay_job_execution_duration_seconds",
        "kuberay_service_info",
        "kuberay_service_condition_ready",
        "kuberay_service_condition_upgrade_in_progress",
    }
    assert kuberay <= used


def test_only_documented_metrics_are_queried() -> None:
    if not METRICS_DOC.exists():
        pytest.fail(f"{METRICS_DOC.relative_to(REPO)} is missing: it must document every metric")
    documented = documented_metric_names(METRICS_DOC.read_text(encoding="utf-8"))
    assert documented, "no metric names found in docs/metrics.md"
    queried = {
        (uid, name) for uid in ALL for _, expr in exprs(load(uid)) for name in metric_names(expr)
    }
    undocumented = sorted(
        (uid, name)
        for uid, name in queried
        if name not in PROMETHEUS_SERIES and family(name, documented) is None
    )
    assert undocumented == []


SUBSTITUTIONS = {
    "$__rate_interval": "1m",
    "$cluster": ".*",
    "$namespace": ".*",
    "$job": ".*",
    "$instance": ".*",
}
"""What Grafana puts in place of the variables with "All" selected (multi-value: a regex)."""


def substituted(expr: str) -> str:
    for variable, value in SUBSTITUTIONS.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, expr
    return expr


@pytest.mark.skipif(not PROMTOOL.exists(), reason="promtool is not built yet (make tools)")
@pytest.mark.parametrize("uid", ALL)
def test_queries_parse_as_promql(uid: str) -> None:
    for title, expr in exprs(load(uid)):
        result = subprocess.run(
            [str(PROMTOOL), "--experimental", "promql", "format", substituted(expr)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, (title, expr, result.stderr)


def test_metric_name_reader() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(a_bucket{job=~"x|y"}[5m])))\n'
        "/ on (ns) group_left (owner) max without (pod) (b offset 1h)\n"
        'or label_replace(count(c{d="e(f)"} > bool 0), "s", "New", "s", "") unless time() - d'
    )
    assert metric_names(expr) == {"a_bucket", "b", "c", "d"}
    documented = documented_metric_names("`kuberay_x{name}` and `ray_exporter_y`, `kuberay_*`")
    assert documented == {"kuberay_x", "ray_exporter_y"}
    assert family("ray_exporter_y_bucket", documented) == "ray_exporter_y"
    assert family("ray_exporter_z_total", documented) is None


def test_worker_group_scaling_is_drawn_over_time() -> None:
    """Desired, min, max, ready and available pods each have a time series on Ray / RayCluster."""
    drawn = {
        name
        for panel in panels(load("ray-cluster"))
        if panel["type"] == "timeseries"
        for target in panel["targets"]
        for name in metric_names(target["expr"])
    }
    kinds = ("desired", "min", "max", "ready", "available")
    assert {f"ray_worker_group_{kind}_replicas" for kind in kinds} <= drawn
    used = {name for _, expr in exprs(load("ray-cluster")) for name in metric_names(expr)}
    assert "ray_worker_group_info" in used


def test_groups_at_max_panels_use_the_alert_condition() -> None:
    """The table and stat of groups at maxReplicas are the alert's expression, scoped."""
    rules = yaml.safe_load((REPO / "alerts" / "ray-operator.rules.yaml").read_text("utf-8"))
    [alert] = [
        rule["expr"]
        for group in rules["groups"]
        for rule in group["rules"]
        if rule["alert"] == "RayWorkerGroupAtMaxReplicas"
    ]
    scope = 'cluster=~"$cluster", namespace=~"$namespace"'

    def unscoped(expr: str) -> str:
        return " ".join(expr.replace(f"{{{scope}, ", "{").replace(f"{{{scope}}}", "").split())

    board = dict(exprs(load("ray-cluster")))
    assert unscoped(board["Autoscaled groups at maxReplicas"]) == " ".join(alert.split())
    stat_expr = unscoped(board["Groups at maxReplicas"])
    assert stat_expr == f"count({' '.join(alert.split())}) or vector(0)"
