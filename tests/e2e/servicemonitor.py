"""The Prometheus scrape configuration the Prometheus Operator generates from a ServiceMonitor.

`scrape_configs` follows the Prometheus Operator's config generator for the fields the
chart's ServiceMonitor uses: one job per endpoint, `serviceMonitor/<namespace>/<name>/<i>`,
with `kubernetes_sd_configs` of role `endpoints` or `endpointslice` restricted to
`namespaceSelector.matchNames`, and its relabelings in its order: keep the Services
whose labels match `selector.matchLabels` (value and presence), keep the endpoint port
named `port`, `node`/`pod` from the address's target, `namespace`, `service`, `pod`,
`container`, the Service's `targetLabels`, `job` from the Service name, `endpoint` from
the port name, then the endpoint's own `relabelings` (the chart sets `job` there), and
`metricRelabelings` after the scrape. Fields it does not translate (matchExpressions,
TLS, authorization, ...) raise, so a chart change that needs them fails the test
instead of being ignored.

The one difference: the operator's Prometheus runs in the cluster and reaches the
apiserver through its ServiceAccount; this one is outside and is given
`kubeconfig_file`.
"""

from __future__ import annotations

import re
from typing import Any

Json = dict[str, Any]

ROLES = ("endpoints", "endpointslice")
_TRANSLATED = {
    "port",
    "path",
    "scheme",
    "interval",
    "scrapeTimeout",
    "honorLabels",
    "relabelings",
    "metricRelabelings",
}
_RELABEL_KEYS = {
    "sourceLabels": "source_labels",
    "separator": "separator",
    "targetLabel": "target_label",
    "regex": "regex",
    "modulus": "modulus",
    "replacement": "replacement",
    "action": "action",
}


def _label(name: str) -> str:
    """A Kubernetes label name as Prometheus's discovery spells it in meta labels."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def _relabel(config: Json) -> Json:
    unknown = set(config) - set(_RELABEL_KEYS)
    if unknown:
        raise NotImplementedError(f"RelabelConfig fields {sorted(unknown)}")
    result = {_RELABEL_KEYS[key]: value for key, value in config.items()}
    if "action" in result:
        result["action"] = str(result["action"]).lower()
    return result


def scrape_configs(monitor: Json, role: str, kubeconfig: str) -> list[Json]:
    """The scrape jobs for `monitor` (a ServiceMonitor as a dict) with discovery `role`."""
    if role not in ROLES:
        raise ValueError(role)
    meta, spec = monitor["metadata"], monitor["spec"]
    unknown_spec = set(spec) - {"selector", "namespaceSelector", "endpoints", "targetLabels"}
    if unknown_spec or set(spec["selector"]) - {"matchLabels"}:
        raise NotImplementedError(f"ServiceMonitor fields {sorted(unknown_spec)} or selector")
    namespaces = spec.get("namespaceSelector", {}).get("matchNames") or [meta["namespace"]]
    kind = "endpoint" if role == "endpoints" else "endpointslice"
    jobs = []
    for index, endpoint in enumerate(spec["endpoints"]):
        unknown = set(endpoint) - _TRANSLATED
        if unknown:
            raise NotImplementedError(f"ServiceMonitor endpoint fields {sorted(unknown)}")
        relabel: list[Json] = [
            {"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"}
        ]
        for key, value in spec["selector"].get("matchLabels", {}).items():
            relabel.append(
                {
                    "action": "keep",
                    "source_labels": [
                        f"__meta_kubernetes_service_label_{_label(key)}",
                        f"__meta_kubernetes_service_labelpresent_{_label(key)}",
                    ],
                    "regex": f"({value});true",
                }
            )
        relabel.append(
            {
                "action": "keep",
                "source_labels": [f"__meta_kubernetes_{kind}_port_name"],
                "regex": endpoint["port"],
            }
        )
        for target in ("Node", "Pod"):
            relabel.append(
                {
                    "source_labels": [
                        f"__meta_kubernetes_{kind}_address_target_kind",
                        f"__meta_kubernetes_{kind}_address_target_name",
                    ],
                    "separator": ";",
                    "regex": f"{target};(.*)",
                    "replacement": "${1}",
                    "target_label": target.lower(),
                }
            )
        relabel += [
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
            {
                "source_labels": ["__meta_kubernetes_pod_container_name"],
                "target_label": "container",
            },
        ]
        for name in spec.get("targetLabels", []):
            relabel.append(
                {
                    "source_labels": [f"__meta_kubernetes_service_label_{_label(name)}"],
                    "target_label": _label(name),
                    "regex": "(.+)",
                    "replacement": "${1}",
                }
            )
        relabel += [
            {
                "source_labels": ["__meta_kubernetes_service_name"],
                "target_label": "job",
                "replacement": "${1}",
            },
            {"target_label": "endpoint", "replacement": endpoint["port"]},
            *(_relabel(r) for r in endpoint.get("relabelings", [])),
        ]
        job: Json = {
            "job_name": f"serviceMonitor/{meta['namespace']}/{meta['name']}/{index}",
            "honor_labels": bool(endpoint.get("honorLabels", False)),
            "kubernetes_sd_configs": [
                {"role": role, "kubeconfig_file": kubeconfig, "namespaces": {"names": namespaces}}
            ],
            "metrics_path": endpoint.get("path", "/metrics"),
            "scheme": endpoint.get("scheme", "http"),
            "relabel_configs": relabel,
        }
        if "interval" in endpoint:
            job["scrape_interval"] = endpoint["interval"]
        if "scrapeTimeout" in endpoint:
            job["scrape_timeout"] = endpoint["scrapeTimeout"]
        if endpoint.get("metricRelabelings"):
            job["metric_relabel_configs"] = [_relabel(r) for r in endpoint["metricRelabelings"]]
        jobs.append(job)
    return jobs
