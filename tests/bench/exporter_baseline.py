"""A baseline collector built the way KubeRay's metrics work, for the exporter benchmark.

KubeRay's collectors keep every Ray object in an informer cache, and on each
scrape `Collect()` lists all of them from that cache and builds const metrics
for every family, which the Prometheus client then encodes. This module does
the same in Python: a list+watch thread per resource keeps the decoded objects
in a dict (the informer cache), and a prometheus-client `Collector` walks all
of them on every `collect()`, building `GaugeMetricFamily`s that
`generate_latest` encodes. It reads the same status fields with the same
meaning as ray-exporter, so both serve the same series.

It shares no code with ray_exporter on purpose. Run it as a process:
`python exporter_baseline.py --port 9000` (KUBECONFIG names the cluster).
"""

from __future__ import annotations

import argparse
import calendar
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any, cast

from kubernetes import client, config, watch
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

GROUP, VERSION = "ray.io", "v1"
PLURALS = ("rayclusters", "rayjobs", "rayservices")


def _seconds(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return float(calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return None


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for item in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(item, dict) and item.get("type") == kind:
            return item
    return None


class InformerCache:
    """Objects of one resource kept current by list+watch, keyed by UID."""

    def __init__(self, api: client.CustomObjectsApi, plural: str) -> None:
        self.api = api
        self.plural = plural
        self.objects: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.synced = threading.Event()

    def run(self) -> None:
        while True:
            try:
                listed = cast(
                    dict[str, Any],
                    self.api.list_cluster_custom_object(GROUP, VERSION, self.plural),
                )
                with self.lock:
                    self.objects = {item["metadata"]["uid"]: item for item in listed["items"]}
                self.synced.set()
                version = listed["metadata"]["resourceVersion"]
                stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
                    self.api.list_cluster_custom_object,
                    GROUP,
                    VERSION,
                    self.plural,
                    resource_version=version,
                    timeout_seconds=300,
                )
                for event in stream:
                    obj = event["object"]
                    with self.lock:
                        if event["type"] == "DELETED":
                            self.objects.pop(obj["metadata"]["uid"], None)
                        else:
                            self.objects[obj["metadata"]["uid"]] = obj
            except Exception:  # relist, as an informer does
                time.sleep(1)

    def list(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.objects.values())


class KubeRayStyleCollector(Collector):
    """Lists every object from the caches and builds all families on each collect()."""

    def __init__(self, caches: dict[str, InformerCache]) -> None:
        self.caches = caches

    def collect(self) -> Iterator[Metric]:
        yield from self._clusters(self.caches["rayclusters"].list())
        yield from self._jobs(self.caches["rayjobs"].list())
        yield from self._services(self.caches["rayservices"].list())

    @staticmethod
    def _ids(obj: dict[str, Any]) -> list[str]:
        meta = obj["metadata"]
        return [meta["name"], meta["namespace"], meta["uid"]]

    def _clusters(self, objects: Iterable[dict[str, Any]]) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "kuberay_cluster_info",
            "Metadata information about RayCluster custom resources",
            labels=["name", "namespace", "uid", "owner_kind"],
        )
        provisioned = GaugeMetricFamily(
            "kuberay_cluster_condition_provisioned",
            "Indicates whether the RayCluster is provisioned",
            labels=["name", "namespace", "uid", "condition"],
        )
        duration = GaugeMetricFamily(
            "kuberay_cluster_provisioned_duration_seconds",
            "The time, in seconds, when a RayCluster's `RayClusterProvisioned` status transitions"
            " from false (or unset) to true",
            labels=["name", "namespace", "uid"],
        )
        for obj in objects:
            ids = self._ids(obj)
            owner = (obj["metadata"].get("labels") or {}).get("ray.io/originated-from-crd", "None")
            info.add_metric([*ids, owner], 1)
            condition = _condition(obj, "RayClusterProvisioned")
            is_true = condition is not None and condition.get("status") == "True"
            provisioned.add_metric([*ids, "true" if is_true else "false"], 1)
            if is_true and condition is not None:
                start = _seconds(obj["metadata"].get("creationTimestamp"))
                end = _seconds(condition.get("lastTransitionTime"))
                if start is not None and end is not None:
                    duration.add_metric(ids, end - start)
        yield from (info, provisioned, duration)

    def _jobs(self, objects: Iterable[dict[str, Any]]) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "kuberay_job_info",
            "Metadata information about RayJob custom resources",
            labels=["name", "namespace", "uid"],
        )
        status = GaugeMetricFamily(
            "kuberay_job_deployment_status",
            "The RayJob's current deployment status",
            labels=["name", "namespace", "uid", "deployment_status"],
        )
        duration = GaugeMetricFamily(
            "kuberay_job_execution_duration_seconds",
            "Duration from when the RayJob CR\u2019s JobDeploymentStatus transitions from"
            " Initializing to either the Retrying state or a terminal state, such as Complete or"
            " Failed. The Retrying state indicates that the CR previously failed and that"
            " spec.backoffLimit is enabled.",
            labels=["name", "namespace", "uid", "job_deployment_status", "retry_count"],
        )
        for obj in objects:
            ids = self._ids(obj)
            info.add_metric(ids, 1)
            job_status = obj.get("status") or {}
            status.add_metric([*ids, job_status.get("jobDeploymentStatus", "")], 1)
            for entry in job_status.get("attemptHistory") or []:
                start, end = _seconds(entry.get("startTime")), _seconds(entry.get("endTime"))
                if start is not None and end is not None:
                    labels = [*ids, entry["result"], str(entry["retryCount"])]
                    duration.add_metric(labels, end - start)
        yield from (info, status, duration)

    def _services(self, objects: Iterable[dict[str, Any]]) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "kuberay_service_info",
            "Metadata information about RayService custom resources",
            labels=["name", "namespace", "uid"],
        )
        ready = GaugeMetricFamily(
            "kuberay_service_condition_ready",
            "Describes whether the RayService is ready. Ready means users can send requests to"
            " the underlying cluster and the number of serve endpoints is greater than 0.",
            labels=["name", "namespace", "uid", "condition"],
        )
        upgrading = GaugeMetricFamily(
            "kuberay_service_condition_upgrade_in_progress",
            "Describes whether the RayService is performing a zero-downtime upgrade.",
            labels=["name", "namespace", "uid", "condition"],
        )
        for obj in objects:
            ids = self._ids(obj)
            info.add_metric(ids, 1)
            for family, kind in ((ready, "Ready"), (upgrading, "UpgradeInProgress")):
                condition = _condition(obj, kind)
                flag = (
                    "true"
                    if condition is not None and condition.get("status") == "True"
                    else "false"
                )
                family.add_metric([*ids, flag], 1)
        yield from (info, ready, upgrading)


def main() -> None:
    started = time.monotonic()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    api = client.CustomObjectsApi(config.new_client_from_config())  # type: ignore[no-untyped-call]
    caches = {plural: InformerCache(api, plural) for plural in PLURALS}
    for cache in caches.values():
        threading.Thread(target=cache.run, name=cache.plural, daemon=True).start()
    registry = CollectorRegistry()
    registry.register(KubeRayStyleCollector(caches))
    start_http_server(args.port, addr="127.0.0.1", registry=registry)
    for cache in caches.values():
        cache.synced.wait()
    print(f"synced {time.monotonic() - started:.3f}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
