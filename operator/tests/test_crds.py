"""The committed CRDs: in sync with their generator, and shaped as the contract says."""

from __future__ import annotations

import importlib.util
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


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((CRD_DIR / name).read_text())
    return document


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


def schema(name: str) -> dict[str, Any]:
    (version,) = load(name)["spec"]["versions"]
    result: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return result


def test_yaml_matches_the_generator(tmp_path: Path) -> None:
    assert generator().main(["gen", str(tmp_path)]) == 0
    for path in sorted(CRD_DIR.glob("ray.io_*.yaml")):
        assert (tmp_path / path.name).read_text() == path.read_text(), (
            f"{path.name} differs from operator/hack/gen_crds.py; re-run the generator"
        )


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("ray.io_rayclusters.yaml", "RayCluster"),
        ("ray.io_rayjobs.yaml", "RayJob"),
        ("ray.io_rayservices.yaml", "RayService"),
    ],
)
def test_each_crd_is_ray_io_v1_with_status_and_short_names(name: str, kind: str) -> None:
    crd = load(name)
    assert crd["spec"]["group"] == "ray.io"
    assert crd["spec"]["names"]["kind"] == kind
    assert not set(crd["spec"]["names"]["shortNames"]) & CORE_SHORT_NAMES
    (version,) = crd["spec"]["versions"]
    assert version["name"] == "v1"
    assert version["served"]
    assert version["storage"]
    assert version["subresources"] == {"status": {}}
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert status["properties"]["kopf"]["x-kubernetes-preserve-unknown-fields"] is True


def test_raycluster_printer_columns() -> None:
    (version,) = load("ray.io_rayclusters.yaml")["spec"]["versions"]
    columns = {
        c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"] if c["priority"] == 0
    }
    assert columns == {
        "desired workers": ".status.desiredWorkerReplicas",
        "available workers": ".status.availableWorkerReplicas",
        "status": ".status.state",
        "head pod IP": ".status.head.podIP",
        "age": ".metadata.creationTimestamp",
    }


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
    assert template["x-kubernetes-preserve-unknown-fields"] is True
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
