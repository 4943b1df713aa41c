"""What the side-by-side tests against KubeRay v1.5.0's real operator share: KubeRay's
operator watching one namespace, its samples, and objects compared field by field.

KubeRay's operator is built by `hack/tools.sh kuberay` (make test-integration does it). The
fixtures `kuberay_namespace` and `kuberay` are in conftest.py.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

import yaml
from bench.operator_rivals import KubeRayOperator, Limits
from kubernetes import client

SAMPLES = Path(__file__).parent / "kuberay_samples"
Json = dict[str, Any]
# The projected token volume the ServiceAccount admission plugin adds, named at random.
TOKEN_VOLUME = re.compile(r"kube-api-access-[a-z0-9]+")
# The RayCluster's own generated fields that differ between any two objects.
VOLATILE_METADATA = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation")


class ScopedKubeRay(KubeRayOperator):
    """KubeRay's operator watching one namespace only."""

    def __init__(self, kubeconfig: Path, log_path: Path, namespace: str) -> None:
        super().__init__(kubeconfig, log_path, Limits(concurrency=1, qps=50, burst=100))
        self.namespace = namespace

    def command(self) -> list[str]:
        return [*super().command(), f"--watch-namespace={self.namespace}"]


def kuberay_sample(name: str, kind: str = "RayCluster") -> Json:
    documents = yaml.safe_load_all((SAMPLES / name).read_text())
    return next(d for d in documents if d and d.get("kind") == kind)


def plain(api_client: client.ApiClient, obj: Any) -> Json:
    result: Json = api_client.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
    return result


def normalized(obj: Json, namespace: str) -> Json:
    """An object without what is unique to its instance, with the namespace as `NS`."""
    body = copy.deepcopy(obj)
    metadata = body.get("metadata") or {}
    for key in (*VOLATILE_METADATA, "namespace"):
        metadata.pop(key, None)
    for ref in metadata.get("ownerReferences") or []:
        ref.pop("uid", None)
    text = yaml.safe_dump(body).replace(namespace, "NS")
    text = TOKEN_VOLUME.sub("kube-api-access", text)
    result: Json = yaml.safe_load(text)
    return result


def differences(
    ours: Any, theirs: Any, known: Collection[tuple[str, ...]] = (), path: tuple[str, ...] = ()
) -> list[str]:
    """Every leaf that differs, by dotted path, except the paths in `known`."""
    if path in known:
        return []
    if isinstance(ours, dict) and isinstance(theirs, dict):
        found = []
        for key in sorted(set(ours) | set(theirs)):
            found += differences(ours.get(key), theirs.get(key), known, (*path, str(key)))
        return found
    if ours != theirs:
        return [f"{'.'.join(path)}: ours {ours!r}, KubeRay's {theirs!r}"]
    return []
