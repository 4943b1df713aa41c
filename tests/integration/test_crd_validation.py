"""The CRDs on the real control plane validate as KubeRay v1.5.0's do.

Every test runs twice: on the project's CRDs and on KubeRay's own (built into the tools cache by
`bash hack/tools.sh`), with the same expectations, so "as KubeRay" is measured, not assumed:

- a typo inside a pod template (`imagePullPolicyy`), of a RayCluster, a RayJob (its cluster's
  and its submitter's) and a RayService, is refused with the apiserver's strict-decoding error
  naming the field (400), and with field validation `Warn` it is pruned, never stored;
- a wrong type inside a pod template (`containerPort: "x"`) is refused with the apiserver's 422
  naming the field;
- `kubectl apply` of such a manifest fails with that message;
- every ray.io document of KubeRay v1.5.0's samples (config/samples/*.yaml of the Go module)
  passes a strict server-side dry run;
- `kubectl get -o wide` prints the same columns with the same values;
- an object created as ray.io/v1alpha1 is read back as ray.io/v1 unchanged (the project's
  CRDs add a deprecation warning).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from raycluster_harness import CRD_DIR, REPO_ROOT, apply_crds, sample, wait_for

pytestmark = pytest.mark.integration

KUBERAY_CRDS = REPO_ROOT / ".tools" / "share" / "kuberay-crds"
KUBERAY_MODULE = "github.com/ray-project/kuberay/ray-operator@v1.5.0"
PLURALS = {"RayCluster": "rayclusters", "RayJob": "rayjobs", "RayService": "rayservices"}
SUBMITTER = {
    "spec": {
        "restartPolicy": "Never",
        "containers": [{"name": "submitter", "image": "rayproject/ray:2.46.0"}],
    }
}
# (sample, the path of one pod template in it)
TEMPLATES = [
    ("raycluster-minimal", "spec.headGroupSpec.template"),
    ("raycluster-minimal", "spec.workerGroupSpecs[0].template"),
    ("rayjob-sample", "spec.rayClusterSpec.headGroupSpec.template"),
    ("rayjob-sample", "spec.submitterPodTemplate"),
    ("rayservice-sample", "spec.rayClusterConfig.workerGroupSpecs[0].template"),
]

Json = dict[str, Any]


def probe(namespace: str) -> Json:
    """A RayCluster with a field only the project's CRD has (KubeRay 1.5 has no
    upgradeStrategy): which CRDs the apiserver currently serves shows in its answer."""
    body = sample("raycluster-minimal", namespace, new_name="which-crds")
    body["spec"]["upgradeStrategy"] = {"type": "Recreate"}
    return body


def serving(custom: client.CustomObjectsApi, crd_set: str) -> bool:
    try:
        create(custom, probe("default"), dry_run=True)
    except ApiException as error:
        return crd_set == "kuberay" and error.status == 400
    return crd_set == "project"


def use_crds(env: dict[str, str], custom: client.CustomObjectsApi, crd_set: str) -> None:
    """Apply a CRD set and wait until the apiserver validates with it (Established is already
    True for an updated CRD while its new schema is being installed)."""
    apply_crds(env, CRD_DIR if crd_set == "project" else KUBERAY_CRDS)
    wait_for(f"the apiserver validating with the {crd_set} CRDs", lambda: serving(custom, crd_set))


@pytest.fixture(scope="module", params=["project", "kuberay"])
def crd_set(
    request: pytest.FixtureRequest, kube_cluster: Any, api_client: client.ApiClient
) -> Iterator[str]:
    name: str = request.param
    if name == "kuberay" and not KUBERAY_CRDS.is_dir():
        pytest.skip("KubeRay's CRDs are built by `bash hack/tools.sh kuberay`")
    custom = client.CustomObjectsApi(api_client)
    use_crds(kube_cluster.env(), custom, name)
    try:
        yield name
    finally:
        if name != "project":
            use_crds(kube_cluster.env(), custom, "project")


def create(
    custom: client.CustomObjectsApi,
    body: Json,
    *,
    dry_run: bool = False,
    validation: str = "Strict",
    version: str = "v1",
) -> Json:
    extra: dict[str, str] = {"field_validation": validation}
    if dry_run:
        extra["dry_run"] = "All"
    result: Json = custom.create_namespaced_custom_object(
        "ray.io", version, body["metadata"]["namespace"], PLURALS[body["kind"]], body, **extra
    )
    return result


def at(body: Json, path: str) -> Json:
    """The object at a dotted path like `spec.workerGroupSpecs[0].template`."""
    node: Any = body
    for part in path.split("."):
        name, _, index = part.partition("[")
        node = node[name]
        if index:
            node = node[int(index.rstrip("]"))]
    result: Json = node
    return result


def with_template(name: str, namespace: str, path: str, change: dict[str, Any]) -> Json:
    """The sample with `change` merged into the first container of the template at `path`."""
    body = sample(name, namespace)
    if path == "spec.submitterPodTemplate":
        body["spec"]["submitterPodTemplate"] = copy.deepcopy(SUBMITTER)
    at(body, path)["spec"]["containers"][0].update(change)
    return body


def kubectl(
    env: dict[str, str], *args: str, manifest: Json | None = None, tmp_path: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """kubectl with `args` (and `-f` a file holding `manifest`); never raises on failure."""
    if manifest is not None:
        assert tmp_path is not None
        path = tmp_path / f"{manifest['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(manifest))
        args = (*args, "-f", str(path))
    return subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True, check=False)


def failure(error: ApiException) -> Json:
    result: Json = json.loads(error.body)
    return result


@pytest.mark.parametrize(("name", "path"), TEMPLATES)
def test_a_typo_in_a_pod_template_is_refused_naming_the_field(
    crd_set: str, api_client: client.ApiClient, namespace: str, name: str, path: str
) -> None:
    custom = client.CustomObjectsApi(api_client)
    body = with_template(name, namespace, path, {"imagePullPolicyy": "Always"})
    with pytest.raises(ApiException) as refused:
        create(custom, body)
    kind = body["kind"]
    assert refused.value.status == 400
    assert failure(refused.value)["message"] == (
        f'{kind} in version "v1" cannot be handled as a {kind}: strict decoding error: '
        f'unknown field "{path}.spec.containers[0].imagePullPolicyy"'
    )
    # Without strict validation the field is dropped (the apiserver warns), never stored.
    stored = create(custom, body, validation="Warn")
    container = at(stored, path)["spec"]["containers"][0]
    assert "imagePullPolicyy" not in container
    assert container["name"] == at(body, path)["spec"]["containers"][0]["name"]


@pytest.mark.parametrize(("name", "path"), TEMPLATES)
def test_a_wrong_type_in_a_pod_template_is_a_422_naming_the_field(
    crd_set: str, api_client: client.ApiClient, namespace: str, name: str, path: str
) -> None:
    custom = client.CustomObjectsApi(api_client)
    body = with_template(name, namespace, path, {"ports": [{"containerPort": "x"}]})
    with pytest.raises(ApiException) as refused:
        create(custom, body)
    assert refused.value.status == 422
    answer = failure(refused.value)
    assert answer["reason"] == "Invalid"
    field = f"{path}.spec.containers[0].ports[0].containerPort"
    causes = [c for c in answer["details"]["causes"] if c.get("field") == field]
    assert [c["message"] for c in causes] == [
        f'Invalid value: "string": {field} in body must be of type integer: "string"'
    ]
    assert field in answer["message"]


def test_kubectl_apply_fails_with_the_apiservers_message(
    crd_set: str, kube_cluster: Any, namespace: str, tmp_path: Path
) -> None:
    path = "spec.headGroupSpec.template"
    typo = with_template("raycluster-minimal", namespace, path, {"imagePullPolicyy": "Always"})
    applied = kubectl(kube_cluster.env(), "apply", manifest=typo, tmp_path=tmp_path)
    assert applied.returncode != 0
    assert (
        f'strict decoding error: unknown field "{path}.spec.containers[0].imagePullPolicyy"'
        in applied.stderr
    )


def kuberay_samples(tmp_path: Path) -> list[Json]:
    """Every ray.io document of KubeRay v1.5.0's config/samples/*.yaml, from the Go module
    (downloaded through the module proxy when the module cache does not have it)."""
    if shutil.which("go") is None:
        pytest.skip("needs go, to download KubeRay's module")
    downloaded = subprocess.run(
        ["go", "mod", "download", "-json", KUBERAY_MODULE],
        cwd=tmp_path,
        env={**os.environ, "GOFLAGS": "-mod=mod"},
        capture_output=True,
        text=True,
        check=True,
    )
    samples = Path(json.loads(downloaded.stdout)["Dir"]) / "config" / "samples"
    documents = []
    for path in sorted(samples.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and str(document.get("apiVersion", "")).startswith("ray.io/"):
                documents.append({"file": path.name, "body": document})
    return documents


def test_kuberays_samples_pass_a_strict_dry_run(
    crd_set: str, api_client: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    custom = client.CustomObjectsApi(api_client)
    documents = kuberay_samples(tmp_path)
    kinds = {d["body"]["kind"] for d in documents}
    assert kinds == set(PLURALS)
    assert len(documents) >= 60
    refused = {}
    for document in documents:
        body = document["body"]
        body["metadata"]["namespace"] = namespace
        try:
            create(custom, body, dry_run=True, version=body["apiVersion"].split("/")[1])
        except ApiException as error:
            refused[f"{document['file']} {body['metadata']['name']}"] = failure(error)["message"]
    assert refused == {}


def kubectl_wide(env: dict[str, str], plural: str, namespace: str) -> list[list[str]]:
    listed = kubectl(env, "get", plural, "-n", namespace, "-o", "wide")
    assert listed.returncode == 0, listed.stderr
    # Columns are separated by at least two spaces; their names have single spaces.
    return [
        [cell for cell in line.split("  ") if cell.strip() != ""]
        for line in listed.stdout.splitlines()
    ]


def cells(row: list[str]) -> list[str]:
    return [cell.strip() for cell in row]


def test_kubectl_get_prints_kuberays_columns(
    crd_set: str, kube_cluster: Any, api_client: client.ApiClient, namespace: str
) -> None:
    custom = client.CustomObjectsApi(api_client)
    create(custom, sample("raycluster-minimal", namespace))
    status = {
        "desiredWorkerReplicas": 2,
        "availableWorkerReplicas": 1,
        "desiredCPU": "3",
        "desiredMemory": "4Gi",
        "desiredGPU": "1",
        "desiredTPU": "8",
        "state": "ready",
        "head": {"podIP": "10.0.0.7", "serviceIP": "10.96.0.9"},
    }
    custom.patch_namespaced_custom_object_status(
        "ray.io", "v1", namespace, "rayclusters", "raycluster-minimal", {"status": status}
    )
    header, row = (cells(r) for r in kubectl_wide(kube_cluster.env(), "rayclusters", namespace))
    assert header == [
        "NAME",
        "DESIRED WORKERS",
        "AVAILABLE WORKERS",
        "CPUS",
        "MEMORY",
        "GPUS",
        "TPUS",
        "STATUS",
        "AGE",
        "HEAD POD IP",
        "HEAD SERVICE IP",
    ]
    assert row[:8] == ["raycluster-minimal", "2", "1", "3", "4Gi", "1", "8", "ready"]
    assert row[9:] == ["10.0.0.7", "10.96.0.9"]

    create(custom, sample("rayjob-sample", namespace))
    (header, *_) = (cells(r) for r in kubectl_wide(kube_cluster.env(), "rayjobs", namespace))
    assert header == [
        "NAME",
        "JOB STATUS",
        "DEPLOYMENT STATUS",
        "RAY CLUSTER NAME",
        "START TIME",
        "END TIME",
        "AGE",
    ]
    create(custom, sample("rayservice-sample", namespace))
    (header, *_) = (cells(r) for r in kubectl_wide(kube_cluster.env(), "rayservices", namespace))
    assert header == ["NAME", "SERVICE STATUS", "NUM SERVE ENDPOINTS"]


def test_v1alpha1_is_served_and_stored_as_v1(
    crd_set: str, kube_cluster: Any, api_client: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    body = sample("raycluster-minimal", namespace, new_name="alpha")
    body["apiVersion"] = "ray.io/v1alpha1"
    created = kubectl(kube_cluster.env(), "create", manifest=body, tmp_path=tmp_path)
    assert created.returncode == 0, created.stderr
    warning = "Warning: ray.io/v1alpha1 is deprecated; use ray.io/v1"
    assert (warning in created.stderr) is (crd_set == "project"), created.stderr
    custom = client.CustomObjectsApi(api_client)
    stored = custom.get_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", "alpha")
    assert stored["apiVersion"] == "ray.io/v1"
    as_v1 = create(custom, sample("raycluster-minimal", namespace, new_name="beta"), dry_run=True)
    assert stored["spec"] == as_v1["spec"]
    read_back = custom.get_namespaced_custom_object(
        "ray.io", "v1alpha1", namespace, "rayclusters", "alpha"
    )
    assert read_back["apiVersion"] == "ray.io/v1alpha1"
    assert read_back["metadata"]["uid"] == stored["metadata"]["uid"]
