"""RayJob integration tests: RayJobs, their submitter Jobs and child clusters as plain dicts,
a dashboard map pointing test namespaces at a real Ray head on this machine, and the Ray
head's own view of a job.

The operator and the exporter run as real subprocesses (raycluster_harness.OperatorProcess,
exporter_harness.ExporterProcess). The map entry `<namespace>/*` sends every RayCluster of a
test namespace, whatever its generated name, to the module's Ray head.

The fixtures are in conftest.py and rayjob_fixtures.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from raycluster_harness import wait_for

from localkube.ray import RayHead

Json = dict[str, Any]
GROUP, VERSION = "ray.io", "v1"
SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def head_template() -> Json:
    return {
        "spec": {
            "containers": [
                {
                    "name": "ray-head",
                    "image": "rayproject/ray:2.41.0",
                    "resources": {"limits": {"cpu": "1", "memory": "2Gi"}},
                }
            ]
        }
    }


def cluster_spec() -> Json:
    return {"headGroupSpec": {"rayStartParams": {}, "template": head_template()}}


def rayjob(name: str, **spec: Any) -> Json:
    body: Json = {"entrypoint": "echo hello", "rayClusterSpec": cluster_spec()}
    body.update(spec)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RayJob",
        "metadata": {"name": name},
        "spec": {k: v for k, v in body.items() if v is not None},
    }


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def point_map(path: Path, namespace: str, url: str) -> None:
    """Map every RayCluster of `namespace` to `url` (written atomically)."""
    entries: dict[str, str] = yaml.safe_load(path.read_text()) if path.exists() else {}
    entries = entries or {}
    entries[f"{namespace}/*"] = url
    temporary = path.with_suffix(".tmp")
    temporary.write_text(yaml.safe_dump(entries))
    os.replace(temporary, path)


def ray_job(head: RayHead, job_id: str) -> Json | None:
    """The Ray head's own answer about a job (None when it does not know it)."""
    try:
        with urllib.request.urlopen(f"{head.dashboard_url}/api/jobs/{job_id}", timeout=10) as r:
            return cast(Json, json.loads(r.read()))
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def ray_logs(head: RayHead, job_id: str) -> str:
    with urllib.request.urlopen(f"{head.dashboard_url}/api/jobs/{job_id}/logs", timeout=10) as r:
        return str(json.loads(r.read()).get("logs", ""))


def sample(name: str) -> Json:
    """A manifest of samples/ (namespace left to the caller's API call)."""
    return cast(Json, yaml.safe_load((SAMPLES / name).read_text()))


def ray_jobs(head: RayHead) -> list[Json]:
    with urllib.request.urlopen(f"{head.dashboard_url}/api/jobs/", timeout=10) as r:
        return cast(list[Json], json.loads(r.read()))


def run_submitter(job: Json, head: RayHead, workdir: Path) -> subprocess.CompletedProcess[str]:
    """Run the submitter container's exact command line against the local Ray head: its
    environment as the Job sets it, with the dashboard address pointing at the local head."""
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = head.env()
    for entry in container.get("env") or []:
        env[entry["name"]] = entry.get("value", "")
    env["RAY_DASHBOARD_ADDRESS"] = head.dashboard_url
    return subprocess.run(
        [*container["command"], *(container.get("args") or [])],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


class RayJobs:
    """RayJobs and what they own in one namespace."""

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self.api_client = api_client
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.batch = client.BatchV1Api(api_client)

    def _plain(self, obj: Any) -> Json:
        result: Json = self.api_client.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
        return result

    def create(self, body: Json, plural: str = "rayjobs") -> Json:
        result = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, plural, body
        )
        return cast(Json, result)

    def get(self, name: str, plural: str = "rayjobs") -> Json | None:
        try:
            result = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, plural, name
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return cast(Json, result)

    def status(self, name: str) -> Json:
        return cast(Json, (self.get(name) or {}).get("status") or {})

    def patch(self, name: str, spec: Json) -> Json:
        result = self.custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            self.namespace,
            "rayjobs",
            name,
            {"spec": spec},
            _content_type="application/merge-patch+json",
        )
        return cast(Json, result)

    def delete(self, name: str, plural: str = "rayjobs") -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, name)

    def clusters(self) -> list[Json]:
        listed = self.custom.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "rayclusters"
        )
        return cast(list[Json], cast(Json, listed)["items"])

    def submitter(self, name: str) -> Json | None:
        try:
            return self._plain(self.batch.read_namespaced_job(name, self.namespace))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def finish_submitter_pod(self, name: str) -> None:
        """Mark the running pod of RayJob `name`'s submitter Job Succeeded, as the kubelet does
        when its command exits 0 (kwok leaves submitter pods running: kwok-pod-complete.yaml)."""
        pods = self.core.list_namespaced_pod(
            self.namespace, label_selector=f"batch.kubernetes.io/job-name={name}"
        ).items
        running = [p for p in pods if p.status.phase == "Running"]
        assert running, f"no running submitter pod of {name}"
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for pod in running:
            statuses = [
                {
                    "name": c.name,
                    "image": c.image,
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "started": False,
                    "state": {
                        "terminated": {
                            "exitCode": 0,
                            "reason": "Completed",
                            "startedAt": now,
                            "finishedAt": now,
                        }
                    },
                }
                for c in pod.spec.containers
            ]
            self.core.patch_namespaced_pod_status(
                pod.metadata.name,
                self.namespace,
                {"status": {"phase": "Succeeded", "containerStatuses": statuses}},
            )

    def service(self, name: str) -> Json | None:
        try:
            return self._plain(self.core.read_namespaced_service(name, self.namespace))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def events(self, name: str, reason: str | None = None) -> list[Json]:
        selector = f"involvedObject.kind=RayJob,involvedObject.name={name}"
        items = self.core.list_namespaced_event(self.namespace, field_selector=selector).items
        events = [self._plain(e) for e in items]
        return [e for e in events if reason is None or e.get("reason") == reason]

    def reasons(self, name: str) -> set[str]:
        return {str(e.get("reason")) for e in self.events(name)}

    def in_state(self, name: str, *deployment: str) -> Json | None:
        status = self.status(name)
        return status if status.get("jobDeploymentStatus") in deployment else None


def finished(jobs: RayJobs, name: str, timeout: float = 180) -> dict[str, Any]:
    status: dict[str, Any] = wait_for(
        f"RayJob {name} to finish",
        lambda: jobs.in_state(name, "Complete", "Failed", "ValidationFailed"),
        timeout=timeout,
    )
    return status
