"""The chart installed into the local control plane: discovery labels, RBAC, helm test, ct install.

kwok marks scheduled pods Running and Ready without running their images, and completes
pods owned by Jobs, so installs with --wait and the `helm test` Job complete here; what the
images would do is shown by running the real ray-exporter locally with the exporter's
ServiceAccount token and the test hook's own script against it (docs/chart.md).
"""

from __future__ import annotations

import http.server
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_release import (
    CHART,
    REPO,
    Release,
    as_dict,
    hook_script,
    installed,
    monitoring_crds_applied,
    run,
    running_as,
    tool_env,
)
from kubernetes import client

from localkube.monitoring import free_port
from localkube.waiting import wait_for

pytestmark = pytest.mark.integration

MONITORING = ("monitoring.coreos.com", "v1")
# What a kube-prometheus-stack release named "kube-prometheus-stack" selects by default:
# serviceMonitorSelector, podMonitorSelector and ruleSelector are {release: <its name>}
# (in every namespace), and its Grafana's dashboard sidecar imports ConfigMaps labelled
# grafana_dashboard: "1".
KPS_SELECTOR = "release=kube-prometheus-stack"
SIDECAR_SELECTOR = "grafana_dashboard=1"
SAMPLE = REPO / "samples" / "raycluster-minimal.yaml"
# kopf observes CRDs and namespaces cluster-wide when allowed; the chart does not allow it
# (least privilege) and kopf falls back to the resources and namespaces it is given.
KOPF_OBSERVATION = ("customresourcedefinitions", 'resource "namespaces"', "list namespaces")
RAY_RESOURCES = ("rayclusters.ray.io", "rayjobs.ray.io", "rayservices.ray.io")
DISCOVERY_GROUPS = {"authentication.k8s.io", "authorization.k8s.io"}


@pytest.fixture(scope="module")
def monitoring_crds(kube_cluster: Any, api_client: client.ApiClient) -> Iterator[None]:
    """The Prometheus Operator's three kinds, removed afterwards unless they were there before."""
    with monitoring_crds_applied(kube_cluster, api_client):
        yield


MONITORED_VALUES = {
    "metrics": {
        "serviceMonitor": {
            "enabled": True,
            "additionalLabels": {"release": "kube-prometheus-stack"},
        }
    },
    "operator": {
        "metrics": {
            "podMonitor": {
                "enabled": True,
                "additionalLabels": {"release": "kube-prometheus-stack"},
            }
        }
    },
    "prometheusRule": {"enabled": True, "additionalLabels": {"release": "kube-prometheus-stack"}},
    "grafana": {"dashboards": {"enabled": True}},
}


@pytest.fixture(scope="module")
def release(
    kube_cluster: Any,
    api_client: client.ApiClient,
    monitoring_crds: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Release]:
    with installed(
        kube_cluster, api_client, MONITORED_VALUES, tmp_path_factory.mktemp("chart")
    ) as rel:
        yield rel


def _rendered(release: Release, kind: str) -> list[dict[str, Any]]:
    return [d for d in release.manifest if d["kind"] == kind]


def _selected_by_kube_prometheus_stack(
    release: Release, api_client: client.ApiClient, plural: str
) -> list[dict[str, Any]]:
    """The release namespace's objects of a monitoring.coreos.com kind that kube-prometheus-
    stack's default selector ({release: kube-prometheus-stack}) picks."""
    listed = client.CustomObjectsApi(api_client).list_namespaced_custom_object(
        *MONITORING, release.namespace, plural, label_selector=KPS_SELECTOR
    )
    items: list[dict[str, Any]] = as_dict(api_client, listed)["items"]
    return items


def test_kube_prometheus_stack_selects_the_service_monitor_and_it_finds_the_exporter(
    release: Release, api_client: client.ApiClient
) -> None:
    custom = client.CustomObjectsApi(api_client)
    found = as_dict(
        api_client,
        custom.list_cluster_custom_object(
            *MONITORING, "servicemonitors", label_selector=KPS_SELECTOR
        ),
    )
    monitors = [m for m in found["items"] if m["metadata"]["namespace"] == release.namespace]
    assert [m["metadata"]["name"] for m in monitors] == [release.exporter]
    [rendered] = _rendered(release, "ServiceMonitor")
    assert monitors[0]["spec"] == rendered["spec"]  # nothing pruned by the API server

    selector = ",".join(
        f"{k}={v}" for k, v in monitors[0]["spec"]["selector"]["matchLabels"].items()
    )
    core = client.CoreV1Api(api_client)
    services = core.list_namespaced_service(release.namespace, label_selector=selector)
    [service] = as_dict(api_client, services)["items"]
    assert [(p["name"], p["port"]) for p in service["spec"]["ports"]] == [("metrics", 8080)]
    discovery = client.DiscoveryV1Api(api_client)
    by_service = f"kubernetes.io/service-name={service['metadata']['name']}"

    def ready_metrics_endpoint() -> list[str]:
        slices = discovery.list_namespaced_endpoint_slice(
            release.namespace, label_selector=by_service
        )
        return [
            address
            for s in as_dict(api_client, slices)["items"]
            if any(p.get("name") == "metrics" and p.get("port") == 8080 for p in s.get("ports", []))
            for e in s.get("endpoints", [])
            if e.get("conditions", {}).get("ready")
            for address in e["addresses"]
        ]

    wait_for("a ready endpoint on the exporter's metrics port", ready_metrics_endpoint)


def test_kube_prometheus_stack_selects_the_operator_pod_monitor_and_it_finds_the_operator(
    release: Release, api_client: client.ApiClient
) -> None:
    [monitor] = _selected_by_kube_prometheus_stack(release, api_client, "podmonitors")
    [rendered] = _rendered(release, "PodMonitor")
    assert monitor["spec"] == rendered["spec"]  # nothing pruned by the API server
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("health", "/metrics")
    selector = ",".join(f"{k}={v}" for k, v in monitor["spec"]["selector"]["matchLabels"].items())
    pods = as_dict(
        api_client,
        client.CoreV1Api(api_client).list_namespaced_pod(
            release.namespace, label_selector=selector
        ),
    )["items"]
    assert pods, "the PodMonitor selects the operator pods"
    for pod in pods:
        ports = {p.get("name") for c in pod["spec"]["containers"] for p in c.get("ports", [])}
        assert "health" in ports, pod["metadata"]["name"]


def test_kube_prometheus_stack_selects_the_rules_with_every_shipped_alert(
    release: Release, api_client: client.ApiClient
) -> None:
    [rule] = _selected_by_kube_prometheus_stack(release, api_client, "prometheusrules")
    [rendered] = _rendered(release, "PrometheusRule")
    assert rule["spec"] == rendered["spec"]
    source = yaml.safe_load((REPO / "alerts" / "ray-operator.rules.yaml").read_text())
    alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert alerts == {r["alert"] for g in source["groups"] for r in g["rules"] if "alert" in r}


def test_grafana_sidecar_finds_one_configmap_per_dashboard(
    release: Release, api_client: client.ApiClient
) -> None:
    core = client.CoreV1Api(api_client)
    listed = core.list_namespaced_config_map(release.namespace, label_selector=SIDECAR_SELECTOR)
    maps = as_dict(api_client, listed)["items"]
    carried = {key: text for m in maps for key, text in m.get("data", {}).items()}
    sources = {p.name: p.read_text() for p in sorted((REPO / "dashboards").glob("*.json"))}
    assert len(maps) == len(sources) > 0
    assert carried == sources


def test_helm_test_hook_job_completes_under_kwok(release: Release) -> None:
    result = run(
        release.env, "helm", "test", release.name, "-n", release.namespace, "--timeout", "120s"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"TEST SUITE:     {release.name}-ray-operator-test-metrics" in result.stdout
    assert "Phase:          Succeeded" in result.stdout


def test_exporter_service_account_reads_the_ray_resources_and_nothing_else(
    release: Release,
) -> None:
    sa = release.exporter
    for resource in RAY_RESOURCES:
        for verb in ("get", "list", "watch"):
            assert release.can_i(sa, verb, resource)
            assert release.can_i(sa, verb, resource, "--all-namespaces")
        for verb in ("create", "update", "patch", "delete"):
            assert not release.can_i(sa, verb, resource)
        status = ("--subresource=status", "-n", release.namespace)
        assert not release.can_i(sa, "patch", resource, *status)
    for resource in (
        "pods",
        "secrets",
        "configmaps",
        "services",
        "events",
        "leases.coordination.k8s.io",
    ):
        assert not release.can_i(sa, "get", resource)
        assert not release.can_i(sa, "list", resource)

    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectRulesReview",
        "spec": {"namespace": release.namespace},
    }
    result = subprocess.run(
        [
            "kubectl",
            "create",
            "--validate=false",  # client-side validation would list CRDs as the account
            "-o",
            "yaml",
            "-f",
            "-",
            f"--as=system:serviceaccount:{release.namespace}:{sa}",
        ],
        input=yaml.safe_dump(review),
        env=release.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    rules = yaml.safe_load(result.stdout)["status"]["resourceRules"]
    granted = {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule["verbs"]
        if group not in DISCOVERY_GROUPS  # system:basic-user's self-reviews
    }
    assert granted == {
        ("ray.io", resource, verb)
        for resource in ("rayclusters", "rayjobs", "rayservices")
        for verb in ("get", "list", "watch")
    }


def test_namespaced_rbac_confines_both_components_to_the_release_namespace(
    kube_cluster: Any, api_client: client.ApiClient, tmp_path: Path
) -> None:
    values = {"singleNamespace": True, "operator": {"replicas": 2}}
    with installed(kube_cluster, api_client, values, tmp_path) as rel:
        assert not [d for d in rel.manifest if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
        operator = f"{rel.name}-ray-operator"
        for account in (operator, rel.exporter):
            assert rel.can_i(account, "list", "rayclusters.ray.io")
            assert not rel.can_i(account, "list", "rayclusters.ray.io", "-n", "default")
            assert not rel.can_i(account, "list", "rayclusters.ray.io", "--all-namespaces")
        assert rel.can_i(operator, "create", "pods")
        assert rel.can_i(operator, "update", "leases.coordination.k8s.io")
        assert not rel.can_i(rel.exporter, "update", "leases.coordination.k8s.io")
        assert not rel.can_i(operator, "create", "pods", "-n", "default")
        # A fault-tolerant cluster's Redis Secret is looked up by name (its metadata only);
        # Secrets are never listed or watched, nor read in another namespace.
        assert rel.can_i(operator, "get", "secrets")
        assert not rel.can_i(operator, "get", "secrets", "-n", "default")
        for verb in ("list", "watch", "create", "patch", "delete"):
            assert not rel.can_i(operator, verb, "secrets")


def test_operator_reconciles_a_raycluster_as_its_service_account(
    kube_cluster: Any, api_client: client.ApiClient, tmp_path: Path
) -> None:
    """The namespaced Roles and the Lease Role are all the operator needs to do its job."""
    values = {"singleNamespace": True, "operator": {"replicas": 2}}
    with installed(kube_cluster, api_client, values, tmp_path) as rel:
        args = ["--namespaces", rel.namespace, "--leader-election"]
        operator = f"{rel.name}-ray-operator"

        def holder() -> str:
            jsonpath = "jsonpath={..holderIdentity}"
            return rel.kubectl("get", "lease", "-n", rel.namespace, "-o", jsonpath).stdout.strip()

        with running_as(rel, operator, "ray_operator", args, tmp_path) as process:
            wait_for("the operator (as its ServiceAccount) to be ready", process.ready)
            applied = rel.kubectl("apply", "-n", rel.namespace, "-f", str(SAMPLE))
            assert applied.returncode == 0, applied.stderr

            def state() -> str:
                jsonpath = "jsonpath={.items[0].status.state}"
                got = rel.kubectl("get", "raycluster", "-n", rel.namespace, "-o", jsonpath)
                return got.stdout.strip()

            wait_for("the sample RayCluster to become ready", lambda: state() == "ready")
            assert holder() == f"{operator}-local"
        # Stopped with SIGTERM, it released the Lease (the Role allows that too).
        assert holder() == ""
        # kopf's optional cluster observation (CRDs, namespaces) is refused and falls back;
        # nothing the reconciler itself does may be.
        assert process.forbidden(tolerated=KOPF_OBSERVATION) == []
        rel.kubectl("delete", "-n", rel.namespace, "-f", str(SAMPLE), "--wait=false")


def test_operator_creates_the_autoscalers_rbac_as_its_service_account(
    kube_cluster: Any, api_client: client.ApiClient, tmp_path: Path
) -> None:
    """Kubernetes lets a Role be created only by someone who holds its rules: the chart's
    operator rules must cover the autoscaler's Role, or KubeRay's autoscaler sample fails."""
    sample = Path(__file__).parent / "kuberay_samples" / "ray-cluster.autoscaler.yaml"
    with installed(kube_cluster, api_client, {"singleNamespace": True}, tmp_path) as rel:
        operator = f"{rel.name}-ray-operator"
        args = ["--namespaces", rel.namespace]
        with running_as(rel, operator, "ray_operator", args, tmp_path) as process:
            wait_for("the operator (as its ServiceAccount) to be ready", process.ready)
            applied = rel.kubectl("apply", "-n", rel.namespace, "-f", str(sample))
            assert applied.returncode == 0, applied.stderr

            def head_account() -> str:
                jsonpath = "jsonpath={.items[0].spec.serviceAccountName}"
                selector = "ray.io/node-type=head"
                got = rel.kubectl(
                    "get", "pods", "-n", rel.namespace, "-l", selector, "-o", jsonpath
                )
                return got.stdout.strip()

            wait_for("the head pod", lambda: head_account() == "raycluster-autoscaler")
            for kind in ("serviceaccount", "role", "rolebinding"):
                wait_for(
                    f"the autoscaler's {kind}",
                    lambda kind=kind: (
                        rel.kubectl(
                            "get", kind, "raycluster-autoscaler", "-n", rel.namespace
                        ).returncode
                        == 0
                    ),
                )
        assert process.forbidden(tolerated=KOPF_OBSERVATION) == []
        rel.kubectl("delete", "-n", rel.namespace, "-f", str(sample), "--wait=false")


def test_hook_script_passes_against_a_real_exporter_running_as_the_exporter_account(
    release: Release, tmp_path: Path
) -> None:
    script, hook_env = hook_script(release)
    with running_as(release, release.exporter, "ray_exporter", [], tmp_path) as exporter:
        wait_for("the exporter (as its ServiceAccount) to list and watch all three", exporter.ready)
        checked = subprocess.run(
            ["sh", "-c", script],
            env=dict(
                os.environ, FAMILIES=hook_env["FAMILIES"], METRICS_URL=exporter.url("/metrics")
            ),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("ok      kuberay_") == 9
    assert exporter.forbidden() == []


class _NoFamilies(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"# HELP up_like Not a kuberay family\n# TYPE up_like gauge\nup_like 1\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_hook_script_fails_without_the_families_or_the_endpoint(release: Release) -> None:
    script, hook_env = hook_script(release)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NoFamilies)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
        wrong = subprocess.run(
            ["sh", "-c", script],
            env=dict(os.environ, FAMILIES=hook_env["FAMILIES"], METRICS_URL=url),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.shutdown()
    assert wrong.returncode == 1
    assert wrong.stdout.count("missing kuberay_") == 9
    gone = subprocess.run(
        ["sh", "-c", script],
        env=dict(
            os.environ,
            FAMILIES=hook_env["FAMILIES"],
            METRICS_URL=f"http://127.0.0.1:{free_port()}/metrics",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert gone.returncode == 1
    assert "cannot fetch" in gone.stdout


def test_ct_install_installs_tests_and_uninstalls_every_ci_value_set(
    kube_cluster: Any, api_client: client.ApiClient, monitoring_crds: None
) -> None:
    env = tool_env(kube_cluster)
    core = client.CoreV1Api(api_client)

    def namespaces() -> set[str]:
        return {n["metadata"]["name"] for n in as_dict(api_client, core.list_namespace())["items"]}

    before = namespaces()
    result = run(
        env, "ct", "install", "--config", "ct.yaml", "--charts", "charts/ray-operator", timeout=1500
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    cases = sorted(p.name for p in (CHART / "ci").glob("*-values.yaml"))
    for case in cases:
        assert f'values file "charts/ray-operator/ci/{case}"' in output
    assert output.count("Phase:          Succeeded") == len(cases)
    assert "All charts installed successfully" in output

    wait_for("ct's namespaces to be deleted", lambda: namespaces() <= before, timeout=180)
    roles = client.RbacAuthorizationV1Api(api_client).list_cluster_role(
        label_selector="app.kubernetes.io/name=ray-operator"
    )
    names = [r["metadata"]["name"] for r in as_dict(api_client, roles)["items"]]
    assert [n for n in names if n.startswith("ray-operator-")] == []
