"""Cross-object checks on a rendered chart: selectors, ports, names and hardening agree.

Each function takes the parsed documents of one `helm template` and returns a list of
problems (empty when all is well), so a test can report every problem at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Doc = dict[str, Any]


def _kind(docs: Iterable[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d.get("kind") == kind]


def _name(doc: Doc) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def pod_templates(docs: Iterable[Doc]) -> list[tuple[str, Doc]]:
    """(owner name, pod template) of every workload."""
    kinds = ("Deployment", "StatefulSet", "DaemonSet", "Job")
    return [(_name(d), d["spec"]["template"]) for d in docs if d.get("kind") in kinds]


def _container_ports(template: Doc) -> set[str]:
    return {
        port["name"]
        for container in template["spec"]["containers"]
        for port in container.get("ports", [])
        if "name" in port
    }


def selector_problems(docs: list[Doc]) -> list[str]:
    """Workload, Service, PDB, NetworkPolicy and monitor selectors select something real."""
    problems: list[str] = []
    templates = pod_templates(docs)
    workload_templates = [t for owner, t in templates if not owner.startswith("Job/")]
    for deployment in _kind(docs, "Deployment"):
        selector = deployment["spec"]["selector"]["matchLabels"]
        if not _matches(selector, deployment["spec"]["template"]["metadata"]["labels"]):
            problems.append(f"{_name(deployment)}: selector does not match its pod template")
    for service in _kind(docs, "Service"):
        selected = [
            t
            for t in workload_templates
            if _matches(service["spec"]["selector"], t["metadata"]["labels"])
        ]
        if not selected:
            problems.append(f"{_name(service)}: selects no pod template")
        for port in service["spec"]["ports"]:
            target = port.get("targetPort")
            if isinstance(target, str) and not any(target in _container_ports(t) for t in selected):
                problems.append(f"{_name(service)}: targetPort {target} is no container port")
    for kind in ("PodDisruptionBudget",):
        for pdb in _kind(docs, kind):
            selector = pdb["spec"]["selector"]["matchLabels"]
            if not any(_matches(selector, t["metadata"]["labels"]) for t in workload_templates):
                problems.append(f"{_name(pdb)}: selects no pod template")
    for policy in _kind(docs, "NetworkPolicy"):
        selector = policy["spec"]["podSelector"]["matchLabels"]
        if not any(_matches(selector, t["metadata"]["labels"]) for t in workload_templates):
            problems.append(f"{_name(policy)}: selects no pod template")
    for monitor in _kind(docs, "ServiceMonitor"):
        selector = monitor["spec"]["selector"]["matchLabels"]
        services = [
            s for s in _kind(docs, "Service") if _matches(selector, s["metadata"]["labels"])
        ]
        if not services:
            problems.append(f"{_name(monitor)}: selects no Service")
        for endpoint in monitor["spec"]["endpoints"]:
            if not any(
                endpoint["port"] in {p.get("name") for p in s["spec"]["ports"]} for s in services
            ):
                problems.append(
                    f"{_name(monitor)}: no selected Service has port {endpoint['port']}"
                )
    for monitor in _kind(docs, "PodMonitor"):
        selector = monitor["spec"]["selector"]["matchLabels"]
        pods = [t for t in workload_templates if _matches(selector, t["metadata"]["labels"])]
        if not pods:
            problems.append(f"{_name(monitor)}: selects no pod template")
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            if not any(endpoint["port"] in _container_ports(t) for t in pods):
                problems.append(f"{_name(monitor)}: no selected pod has port {endpoint['port']}")
    return problems


def rbac_problems(docs: list[Doc]) -> list[str]:
    """Bindings name rendered roles and ServiceAccounts; workloads use rendered accounts."""
    problems: list[str] = []
    accounts = {d["metadata"]["name"] for d in _kind(docs, "ServiceAccount")}
    roles = {
        (d["kind"], d["metadata"]["name"]) for d in docs if d.get("kind") in ("Role", "ClusterRole")
    }
    for binding in [d for d in docs if d.get("kind") in ("RoleBinding", "ClusterRoleBinding")]:
        ref = binding["roleRef"]
        if (ref["kind"], ref["name"]) not in roles:
            problems.append(
                f"{_name(binding)}: roleRef {ref['kind']}/{ref['name']} is not rendered"
            )
        for subject in binding["subjects"]:
            if subject["kind"] == "ServiceAccount" and subject["name"] not in accounts:
                problems.append(
                    f"{_name(binding)}: ServiceAccount {subject['name']} is not rendered"
                )
    for owner, template in pod_templates(docs):
        account = template["spec"].get("serviceAccountName")
        if account is not None and account not in accounts:
            problems.append(f"{owner}: serviceAccountName {account} is not rendered")
    return problems


def hardening_problems(docs: list[Doc]) -> list[str]:
    """Every container runs as non-root on a read-only root filesystem with no capabilities."""
    problems: list[str] = []
    for owner, template in pod_templates(docs):
        pod_context = template["spec"].get("securityContext", {})
        for container in template["spec"]["containers"]:
            where = f"{owner} container {container['name']}"
            context = container.get("securityContext", {})
            if not (context.get("runAsNonRoot") or pod_context.get("runAsNonRoot")):
                problems.append(f"{where}: may run as root")
            if context.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: writable root filesystem")
            if context.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: privilege escalation allowed")
            if context.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{where}: capabilities not dropped")
            seccomp = context.get("seccompProfile") or pod_context.get("seccompProfile") or {}
            if seccomp.get("type") != "RuntimeDefault":
                problems.append(f"{where}: no RuntimeDefault seccomp profile")
            ports = {p["name"] for p in container.get("ports", []) if "name" in p}
            for probe_name in ("livenessProbe", "readinessProbe"):
                port = container.get(probe_name, {}).get("httpGet", {}).get("port")
                if isinstance(port, str) and port not in ports:
                    problems.append(f"{where}: {probe_name} port {port} is not declared")
    return problems


def label_problems(docs: list[Doc], release: str) -> list[str]:
    """Every object carries the standard app.kubernetes.io labels of this release."""
    problems: list[str] = []
    for doc in docs:
        labels = doc["metadata"].get("labels", {})
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/managed-by", "helm.sh/chart"):
            if key not in labels:
                problems.append(f"{_name(doc)}: no {key} label")
        if labels.get("app.kubernetes.io/instance") != release:
            problems.append(f"{_name(doc)}: app.kubernetes.io/instance is not {release}")
    return problems
