"""The committed CRDs: in sync with their generator, and shaped as the contract says."""

from __future__ import annotations

import copy
import functools
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CRD_DIR = REPO / "charts" / "ray-operator" / "crds"
CORE_SHORT_NAMES = {
    "cm",
    "cs",
    "csr",
    "ds",
    "deploy",
    "ep",
    "ev",
    "hpa",
    "ing",
    "limits",
    "netpol",
    "no",
    "ns",
    "pc",
    "pdb",
    "po",
    "psp",
    "pv",
    "pvc",
    "quota",
    "rc",
    "rs",
    "sa",
    "sc",
    "sts",
    "svc",
    "crd",
    "crds",
}


KUBERAY_CRDS = REPO / ".tools" / "share" / "kuberay-crds"
VENDORED = REPO / "operator" / "hack" / "k8s_schemas" / "kuberay-v1.5.0.json"
ETCD_OBJECT_LIMIT = 1572864  # etcd's default --max-request-bytes (1.5 MiB)
KINDS = [
    ("ray.io_rayclusters.yaml", "RayCluster"),
    ("ray.io_rayjobs.yaml", "RayJob"),
    ("ray.io_rayservices.yaml", "RayService"),
]


@functools.cache
def _load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
    return document


def load(name: str) -> dict[str, Any]:
    return copy.deepcopy(_load(CRD_DIR / name))


def generator() -> Any:
    spec = importlib.util.spec_from_file_location(
        "gen_crds", REPO / "operator" / "hack" / "gen_crds.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_crds"] = module
    spec.loader.exec_module(module)
    return module


def versions(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in crd["spec"]["versions"]}


def schema(name: str, version: str = "v1") -> dict[str, Any]:
    result: dict[str, Any] = versions(load(name))[version]["schema"]["openAPIV3Schema"]
    return result


def pod_templates(name: str, version: str = "v1") -> dict[str, dict[str, Any]]:
    """Every pod template of the kind's schema, by its path."""
    spec = schema(name, version)["properties"]["spec"]
    cluster, prefix = spec, "spec"
    found: dict[str, dict[str, Any]] = {}
    if "rayClusterSpec" in spec["properties"]:
        found["spec.submitterPodTemplate"] = spec["properties"]["submitterPodTemplate"]
        cluster, prefix = spec["properties"]["rayClusterSpec"], "spec.rayClusterSpec"
    elif "rayClusterConfig" in spec["properties"]:
        cluster, prefix = spec["properties"]["rayClusterConfig"], "spec.rayClusterConfig"
    head = cluster["properties"]["headGroupSpec"]["properties"]["template"]
    worker = cluster["properties"]["workerGroupSpecs"]["items"]["properties"]["template"]
    found[f"{prefix}.headGroupSpec.template"] = head
    found[f"{prefix}.workerGroupSpecs[].template"] = worker
    return found


def preserved(node: dict[str, Any], path: str = "") -> list[str]:
    """The paths under `node` that keep unknown fields."""
    found = [path] if node.get("x-kubernetes-preserve-unknown-fields") else []
    for key, child in node.get("properties", {}).items():
        found += preserved(child, f"{path}.{key}")
    if isinstance(node.get("items"), dict):
        found += preserved(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        found += preserved(node["additionalProperties"], f"{path}{{}}")
    return found


def test_yaml_matches_the_generator(tmp_path: Path) -> None:
    assert generator().main(["gen", str(tmp_path)]) == 0
    for path in sorted(CRD_DIR.glob("ray.io_*.yaml")):
        assert (tmp_path / path.name).read_text() == path.read_text(), (
            f"{path.name} differs from operator/hack/gen_crds.py; re-run the generator"
        )


@pytest.mark.parametrize(("name", "kind"), KINDS)
def test_each_crd_serves_v1_stored_and_v1alpha1_as_kuberay(name: str, kind: str) -> None:
    crd = load(name)
    assert crd["spec"]["group"] == "ray.io"
    assert crd["spec"]["names"]["kind"] == kind
    assert not set(crd["spec"]["names"]["shortNames"]) & CORE_SHORT_NAMES
    # KubeRay 1.5: v1 served and stored, v1alpha1 served, not stored, no conversion webhook.
    assert "conversion" not in crd["spec"]
    served = versions(crd)
    assert [v["name"] for v in crd["spec"]["versions"]] == ["v1", "v1alpha1"]
    assert (served["v1"]["served"], served["v1"]["storage"]) == (True, True)
    assert (served["v1alpha1"]["served"], served["v1alpha1"]["storage"]) == (True, False)
    assert "deprecated" not in served["v1"]
    assert served["v1alpha1"]["deprecated"] is True
    warning = served["v1alpha1"]["deprecationWarning"]
    assert warning == "ray.io/v1alpha1 is deprecated; use ray.io/v1"
    for version in served.values():
        assert version["subresources"] == {"status": {}}
    # Without a conversion webhook only apiVersion changes between the two: with one schema,
    # an object written through v1alpha1 loses no v1 field.
    assert served["v1alpha1"]["schema"] == served["v1"]["schema"]
    status = served["v1"]["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert status["properties"]["kopf"]["x-kubernetes-preserve-unknown-fields"] is True


KUBERAY_COLUMNS = {
    "RayCluster": [
        ("desired workers", ".status.desiredWorkerReplicas", "integer", 0),
        ("available workers", ".status.availableWorkerReplicas", "integer", 0),
        ("cpus", ".status.desiredCPU", "string", 0),
        ("memory", ".status.desiredMemory", "string", 0),
        ("gpus", ".status.desiredGPU", "string", 0),
        ("tpus", ".status.desiredTPU", "string", 1),
        ("status", ".status.state", "string", 0),
        ("age", ".metadata.creationTimestamp", "date", 0),
        ("head pod IP", ".status.head.podIP", "string", 1),
        ("head service IP", ".status.head.serviceIP", "string", 1),
    ],
    "RayJob": [
        ("job status", ".status.jobStatus", "string", 0),
        ("deployment status", ".status.jobDeploymentStatus", "string", 0),
        ("ray cluster name", ".status.rayClusterName", "string", 0),
        ("start time", ".status.startTime", "string", 0),
        ("end time", ".status.endTime", "string", 0),
        ("age", ".metadata.creationTimestamp", "date", 0),
    ],
    "RayService": [
        ("service status", ".status.serviceStatus", "string", 0),
        ("num serve endpoints", ".status.numServeEndpoints", "string", 0),
    ],
}


def columns(version: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    return [
        (c["name"], c["jsonPath"], c["type"], c.get("priority", 0))
        for c in version.get("additionalPrinterColumns", [])
    ]


@pytest.mark.parametrize(("name", "kind"), KINDS)
def test_printer_columns_are_kuberays(name: str, kind: str) -> None:
    served = versions(load(name))
    assert columns(served["v1"]) == KUBERAY_COLUMNS[kind]
    # KubeRay's v1alpha1 RayCluster prints v1's columns; its RayJob and RayService none.
    expected = KUBERAY_COLUMNS[kind] if kind == "RayCluster" else []
    assert columns(served["v1alpha1"]) == expected


kuberay_built = pytest.mark.skipif(
    not KUBERAY_CRDS.is_dir(), reason="KubeRay's CRDs are built by `bash hack/tools.sh kuberay`"
)


@kuberay_built
@pytest.mark.parametrize(("name", "kind"), KINDS)
def test_versions_and_columns_equal_kuberays_crds(name: str, kind: str) -> None:
    ours, theirs = versions(load(name)), versions(_load(KUBERAY_CRDS / name))
    assert list(ours) == list(theirs)
    for version, served in theirs.items():
        assert (ours[version]["served"], ours[version]["storage"]) == (
            served["served"],
            served["storage"],
        )
        assert columns(ours[version]) == columns(served)
        assert ours[version]["subresources"] == served["subresources"]
    assert "conversion" not in _load(KUBERAY_CRDS / name)["spec"]


@kuberay_built
def test_vendored_kubernetes_schemas_are_kuberays() -> None:
    spec = importlib.util.spec_from_file_location(
        "vendor_k8s_schemas", REPO / "operator" / "hack" / "vendor_k8s_schemas.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.extract(KUBERAY_CRDS) == json.loads(VENDORED.read_text()), (
        "re-run operator/hack/vendor_k8s_schemas.py"
    )


@kuberay_built
@pytest.mark.parametrize(("name", "kind"), KINDS)
def test_pod_templates_are_kuberays_plus_a_required_container(name: str, kind: str) -> None:
    theirs = versions(_load(KUBERAY_CRDS / name))
    for version in ("v1", "v1alpha1"):
        kuberay_spec = theirs[version]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        template = kuberay_spec["properties"]
        template = (
            template["rayClusterSpec"]
            if "rayClusterSpec" in template
            else template.get("rayClusterConfig", kuberay_spec)
        )["properties"]["headGroupSpec"]["properties"]["template"]
        for path, ours in pod_templates(name, version).items():
            stricter = copy.deepcopy(template)
            stricter["required"] = ["spec"]
            stricter["properties"]["spec"]["properties"]["containers"]["minItems"] = 1
            assert ours == stricter, path


@pytest.mark.parametrize(("name", "kind"), KINDS)
def test_pod_templates_are_typed_kubernetes_schemas(name: str, kind: str) -> None:
    templates = pod_templates(name)
    assert len(templates) == (3 if kind == "RayJob" else 2)
    for path, template in templates.items():
        assert preserved(template) == [], path
        assert template["required"] == ["spec"]
        assert set(template["properties"]["metadata"]["properties"]) == {
            "annotations",
            "finalizers",
            "labels",
            "name",
            "namespace",
        }
        containers = template["properties"]["spec"]["properties"]["containers"]
        assert containers["minItems"] == 1
        assert containers["x-kubernetes-list-map-keys"] == ["name"]
        container = containers["items"]["properties"]
        assert container["imagePullPolicy"] == {"type": "string"}
        port = container["ports"]["items"]["properties"]
        assert port["containerPort"] == {"type": "integer", "format": "int32"}


@pytest.mark.parametrize(("name", "kind"), KINDS)
def test_only_unsupported_objects_keep_unknown_fields(name: str, kind: str) -> None:
    prefix = {"RayCluster": ".spec", "RayJob": ".spec.rayClusterSpec"}.get(
        kind, ".spec.rayClusterConfig"
    )
    assert preserved(schema(name)) == [
        f"{prefix}.historyServerOptions",
        f"{prefix}.networkPolicy",
        f"{prefix}.headGroupSpec.ingressOptions",
        ".status.kopf",
    ]


@pytest.mark.parametrize(("name", "kind"), KINDS)
def test_crds_have_no_descriptions_and_fit_in_etcd(name: str, kind: str) -> None:
    text = (CRD_DIR / name).read_text()
    assert "description:" not in text
    # What the apiserver stores is the JSON of the object (plus a little metadata).
    stored = len(json.dumps(load(name), separators=(",", ":")))
    assert stored < ETCD_OBJECT_LIMIT // 2, stored


def test_services_are_kubernetes_services() -> None:
    cluster = schema("ray.io_rayclusters.yaml")["properties"]["spec"]["properties"]
    head_service = cluster["headGroupSpec"]["properties"]["headService"]
    serve_service = schema("ray.io_rayservices.yaml")["properties"]["spec"]["properties"][
        "serveService"
    ]
    assert head_service == serve_service
    assert preserved(head_service) == []
    assert set(head_service["properties"]) == {"apiVersion", "kind", "metadata", "spec", "status"}
    port = head_service["properties"]["spec"]["properties"]["ports"]["items"]
    assert port["required"] == ["port"]
    autoscaler = cluster["autoscalerOptions"]["properties"]
    for field in ("resources", "securityContext", "env", "envFrom", "volumeMounts"):
        assert preserved(autoscaler[field]) == [], field
    gcs = cluster["gcsFaultToleranceOptions"]
    assert gcs["required"] == ["redisAddress"]
    assert preserved(gcs) == []
    assert set(autoscaler) >= {"command", "args", "version", "upscalingMode"}


def test_worker_groups_are_validated() -> None:
    spec = schema("ray.io_rayclusters.yaml")["properties"]["spec"]
    groups = spec["properties"]["workerGroupSpecs"]
    rules = [r["rule"] for r in groups["x-kubernetes-validations"]]
    assert rules == ["self.all(x, self.exists_one(y, y.groupName == x.groupName))"]
    group = groups["items"]
    assert group["required"] == ["groupName", "template"]
    assert [r["rule"] for r in group["x-kubernetes-validations"]] == [
        "self.minReplicas <= self.maxReplicas"
    ]
    for field in ("replicas", "minReplicas", "maxReplicas"):
        assert group["properties"][field]["minimum"] == 0
    assert group["properties"]["numOfHosts"] == {
        "type": "integer",
        "format": "int32",
        "minimum": 1,
        "default": 1,
    }
    template = group["properties"]["template"]
    assert "x-kubernetes-preserve-unknown-fields" not in template
    assert template["properties"]["spec"]["properties"]["containers"]["minItems"] == 1


def test_embedded_cluster_specs_are_the_raycluster_spec() -> None:
    cluster_spec = schema("ray.io_rayclusters.yaml")["properties"]["spec"]
    job = schema("ray.io_rayjobs.yaml")["properties"]
    service = schema("ray.io_rayservices.yaml")["properties"]
    assert job["spec"]["properties"]["rayClusterSpec"] == cluster_spec
    assert service["spec"]["properties"]["rayClusterConfig"] == cluster_spec


def test_rayjob_status_has_the_attempt_history() -> None:
    history = schema("ray.io_rayjobs.yaml")["properties"]["status"]["properties"]["attemptHistory"]
    assert history["maxItems"] == 50
    item = history["items"]
    assert item["required"] == ["retryCount", "result", "startTime", "endTime"]
    assert item["properties"]["result"]["enum"] == ["Retrying", "Complete", "Failed"]
    assert set(item["properties"]) == {
        "retryCount",
        "result",
        "startTime",
        "endTime",
        "jobId",
        "reason",
    }
