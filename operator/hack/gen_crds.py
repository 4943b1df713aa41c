"""Authoring tool for the three ray.io/v1 CRDs in charts/ray-operator/crds/.

The YAML files are what everyone consumes (the chart, `make dev`, the tests); this script is
how they are written, so the schemas stay consistent across the three kinds (a RayJob and a
RayService embed a RayCluster spec and status). Edit this file, run
`.venv/bin/python operator/hack/gen_crds.py`, commit both; operator/tests/test_crds.py fails
when the YAML and this script disagree.

Field names and meanings follow KubeRay's ray.io/v1 API; the schemas are our own, except the
Kubernetes types they embed (pod templates, Services, the autoscaler container's fields) and
gcsFaultToleranceOptions: those are the schemas KubeRay v1.5.0's CRDs carry, vendored in
operator/hack/k8s_schemas/ (see its README), so the apiserver rejects a typo or a wrong type
inside a pod template at apply time exactly as it does on KubeRay's CRDs.

As KubeRay's (controller-gen `crd:maxDescLen=0`), the rendered CRDs carry no descriptions: the
ones below document this script and docs/api.md documents the API.
"""

from __future__ import annotations

import copy
import functools
import json
import sys
from pathlib import Path
from typing import Any

import yaml

Schema = dict[str, Any]

CRD_DIR = Path(__file__).resolve().parents[2] / "charts" / "ray-operator" / "crds"
K8S_SCHEMAS = Path(__file__).resolve().parent / "k8s_schemas" / "kuberay-v1.5.0.json"
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
MAX_INT32 = 2147483647
MAX_WORKER_GROUPS = 64
MANAGED_BY_RULES = [
    {"rule": "self == oldSelf", "message": "the managedBy field is immutable"},
    {
        "rule": "self in ['ray.io/kuberay-operator', 'kueue.x-k8s.io/multikueue']",
        "message": "the managedBy field value must be either 'ray.io/kuberay-operator' "
        "or 'kueue.x-k8s.io/multikueue'",
    },
]


def obj(properties: dict[str, Schema] | None = None, **extra: Any) -> Schema:
    schema: Schema = {"type": "object"}
    if properties is not None:
        schema["properties"] = properties
    schema.update(extra)
    return schema


def string(**extra: Any) -> Schema:
    return {"type": "string", **extra}


def boolean(**extra: Any) -> Schema:
    return {"type": "boolean", **extra}


def int32(**extra: Any) -> Schema:
    return {"type": "integer", "format": "int32", **extra}


def int64(**extra: Any) -> Schema:
    return {"type": "integer", "format": "int64", **extra}


def timestamp(**extra: Any) -> Schema:
    return {"type": "string", "format": "date-time", **extra}


def string_map(**extra: Any) -> Schema:
    return {"type": "object", "additionalProperties": {"type": "string"}, **extra}


def opaque(description: str) -> Schema:
    """An object whose inner fields are not validated by us (Kubernetes or unsupported types)."""
    return {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "description": description,
    }


def quantity() -> Schema:
    return {
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "pattern": QUANTITY_PATTERN,
        "x-kubernetes-int-or-string": True,
    }


@functools.cache
def _k8s_types() -> dict[str, Schema]:
    types: dict[str, Schema] = json.loads(K8S_SCHEMAS.read_text(encoding="utf-8"))["types"]
    return types


def k8s_type(name: str) -> Schema:
    """A fresh copy of a vendored Kubernetes type's schema (see operator/hack/k8s_schemas/)."""
    return copy.deepcopy(_k8s_types()[name])


def pod_template(description: str) -> Schema:
    """A PodTemplateSpec with Kubernetes' schema (as KubeRay's CRDs have it); on top of it we
    insist on a spec with at least one container, which the Ray container is."""
    schema = k8s_type("PodTemplateSpec")
    schema["description"] = description
    schema["required"] = ["spec"]
    schema["properties"]["spec"]["properties"]["containers"]["minItems"] = 1
    return schema


def service(description: str) -> Schema:
    """A Service with Kubernetes' schema, as KubeRay's CRDs have it."""
    return {**k8s_type("Service"), "description": description}


def condition() -> Schema:
    """metav1.Condition."""
    return obj(
        {
            "type": string(maxLength=316),
            "status": string(enum=["True", "False", "Unknown"]),
            "reason": string(maxLength=1024),
            "message": string(maxLength=32768),
            "lastTransitionTime": timestamp(),
            "observedGeneration": int64(minimum=0),
        },
        required=["type", "status", "lastTransitionTime", "reason"],
    )


def conditions() -> Schema:
    return {
        "type": "array",
        "items": condition(),
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
    }


def kopf_bookkeeping() -> Schema:
    return opaque("Bookkeeping of the operator framework (kopf); not part of the API.")


# --- RayCluster -------------------------------------------------------------------------------


def head_group_spec() -> Schema:
    return obj(
        {
            "template": pod_template("Pod template of the head pod."),
            "headService": service("A Service merged into the head service the operator creates."),
            "enableIngress": boolean(),
            "ingressOptions": opaque("Ingress options (not supported by this operator)."),
            "resources": string_map(description="Ray logical resources of the head node."),
            "labels": string_map(description="Ray node labels of the head node."),
            "rayStartParams": string_map(description="Flags of `ray start` for the head."),
            "serviceType": string(
                enum=["ClusterIP", "NodePort", "LoadBalancer"],
                description="Type of the head service; ClusterIP when unset.",
            ),
        },
        required=["template"],
    )


def worker_group_spec() -> Schema:
    return obj(
        {
            "suspend": boolean(),
            "groupName": string(minLength=1, maxLength=63),
            "replicas": int32(minimum=0, default=0),
            "minReplicas": int32(minimum=0, default=0),
            "maxReplicas": int32(minimum=0, default=MAX_INT32),
            "idleTimeoutSeconds": int32(minimum=0),
            "priority": int32(),
            "resources": string_map(description="Ray logical resources of these workers."),
            "labels": string_map(description="Ray node labels of these workers."),
            "rayStartParams": string_map(description="Flags of `ray start` for these workers."),
            "template": pod_template("Pod template of the workers of this group."),
            "scaleStrategy": obj(
                {"workersToDelete": {"type": "array", "items": string()}},
                description="Pods to remove first when the group scales down.",
            ),
            "numOfHosts": int32(minimum=1, default=1),
        },
        required=["groupName", "template"],
        **{
            "x-kubernetes-validations": [
                {
                    "rule": "self.minReplicas <= self.maxReplicas",
                    "message": "minReplicas must be less than or equal to maxReplicas",
                }
            ]
        },
    )


def autoscaler_options() -> Schema:
    """KubeRay's AutoscalerOptions; the Kubernetes types inside (resources, env, mounts,
    securityContext) have Kubernetes' schemas, as in KubeRay's CRD."""
    return obj(
        {
            "image": string(),
            "imagePullPolicy": string(enum=["Always", "Never", "IfNotPresent"]),
            "resources": k8s_type("AutoscalerResources"),
            "securityContext": k8s_type("AutoscalerSecurityContext"),
            "env": k8s_type("AutoscalerEnv"),
            "envFrom": k8s_type("AutoscalerEnvFrom"),
            "volumeMounts": k8s_type("AutoscalerVolumeMounts"),
            "command": {"type": "array", "items": string()},
            "args": {"type": "array", "items": string()},
            "idleTimeoutSeconds": int32(minimum=0),
            "upscalingMode": string(enum=["Default", "Aggressive", "Conservative"]),
            "version": string(enum=["v1", "v2"]),
        },
        description="Ray's autoscaler sidecar (with enableInTreeAutoscaling).",
    )


def ray_cluster_spec() -> Schema:
    return obj(
        {
            "upgradeStrategy": obj({"type": string(enum=["Recreate", "None"])}),
            "authOptions": obj(
                {
                    "enableK8sTokenAuth": boolean(),
                    "secretName": string(),
                    "mode": string(enum=["disabled", "token"]),
                }
            ),
            "suspend": boolean(),
            "managedBy": string(**{"x-kubernetes-validations": MANAGED_BY_RULES}),
            "autoscalerOptions": autoscaler_options(),
            "headServiceAnnotations": string_map(),
            "enableInTreeAutoscaling": boolean(),
            # Not supported (reported, blocking), but typed as in KubeRay's CRD.
            "gcsFaultToleranceOptions": k8s_type("GcsFaultToleranceOptions"),
            "historyServerOptions": opaque("History server collector (not supported)."),
            "networkPolicy": opaque("Network isolation (not supported)."),
            "tlsOptions": obj({"enabled": boolean()}),
            "headGroupSpec": head_group_spec(),
            "rayVersion": string(),
            "workerGroupSpecs": {
                "type": "array",
                "maxItems": MAX_WORKER_GROUPS,
                "items": worker_group_spec(),
                "x-kubernetes-validations": [
                    {
                        "rule": "self.all(x, self.exists_one(y, y.groupName == x.groupName))",
                        "message": "worker group names must be unique",
                    }
                ],
            },
        },
        required=["headGroupSpec"],
    )


def worker_groups_status() -> Schema:
    """Per worker group pod counts, which this operator writes and ray-exporter serves."""
    return {
        "type": "array",
        "maxItems": MAX_WORKER_GROUPS,
        "x-kubernetes-list-type": "atomic",
        "description": "Per worker group: its pods that are running and ready, and available.",
        "items": obj(
            {
                "name": string(description="The group's groupName."),
                "readyReplicas": int32(),
                "availableReplicas": int32(),
            }
        ),
    }


def ray_cluster_status(with_bookkeeping: bool, with_worker_groups: bool = False) -> Schema:
    """A RayCluster's status; RayJob and RayService mirror it without the bookkeeping and
    without `workerGroups` (they copy a fixed list of fields)."""
    properties: dict[str, Schema] = {
        "state": string(description="ready | unhealthy | failed | suspended; unset while new."),
        "reason": string(description="Why the cluster is in its state."),
        "desiredCPU": quantity(),
        "desiredMemory": quantity(),
        "desiredGPU": quantity(),
        "desiredTPU": quantity(),
        "lastUpdateTime": timestamp(nullable=True),
        "stateTransitionTimes": {"type": "object", "additionalProperties": timestamp()},
        "endpoints": string_map(description="Head service port name -> port (node port)."),
        "head": obj(
            {
                "podIP": string(),
                "serviceIP": string(),
                "podName": string(),
                "serviceName": string(),
            }
        ),
        "conditions": conditions(),
        "readyWorkerReplicas": int32(),
        "availableWorkerReplicas": int32(),
        "desiredWorkerReplicas": int32(),
        "minWorkerReplicas": int32(),
        "maxWorkerReplicas": int32(),
        "observedGeneration": int64(),
    }
    if with_worker_groups:
        properties["workerGroups"] = worker_groups_status()
    if with_bookkeeping:
        properties["kopf"] = kopf_bookkeeping()
    return obj(properties)


# --- RayJob -----------------------------------------------------------------------------------


def deletion_strategy() -> Schema:
    policy = string(enum=["DeleteCluster", "DeleteWorkers", "DeleteSelf", "DeleteNone"])
    return obj(
        {
            "onSuccess": obj({"policy": policy}),
            "onFailure": obj({"policy": policy}),
            "deletionRules": {
                "type": "array",
                "minItems": 1,
                "x-kubernetes-list-type": "atomic",
                "items": obj(
                    {
                        "policy": policy,
                        "condition": obj(
                            {
                                "jobStatus": string(enum=["SUCCEEDED", "FAILED"]),
                                "jobDeploymentStatus": string(enum=["Failed"]),
                                "ttlSeconds": int32(minimum=0, default=0),
                            },
                            **{
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "!(has(self.jobStatus) && "
                                        "has(self.jobDeploymentStatus))",
                                        "message": "JobStatus and JobDeploymentStatus cannot be "
                                        "used together within the same deletion condition.",
                                    },
                                    {
                                        "rule": "has(self.jobStatus) || "
                                        "has(self.jobDeploymentStatus)",
                                        "message": "the deletion condition requires either the "
                                        "JobStatus or the JobDeploymentStatus field.",
                                    },
                                ]
                            },
                        ),
                    },
                    required=["policy", "condition"],
                ),
            },
        },
        **{
            "x-kubernetes-validations": [
                {
                    "rule": "!((has(self.onSuccess) || has(self.onFailure)) && "
                    "has(self.deletionRules))",
                    "message": "legacy policies (onSuccess/onFailure) and deletionRules cannot "
                    "be used together within the same deletionStrategy",
                },
                {
                    "rule": "((has(self.onSuccess) && has(self.onFailure)) || "
                    "has(self.deletionRules))",
                    "message": "deletionStrategy requires either BOTH onSuccess and onFailure, "
                    "OR the deletionRules field (cannot be empty)",
                },
            ]
        },
    )


def ray_job_spec() -> Schema:
    return obj(
        {
            "activeDeadlineSeconds": int32(minimum=1),
            "backoffLimit": int32(minimum=0, default=0),
            "rayClusterSpec": ray_cluster_spec(),
            "submitterPodTemplate": pod_template("Pod template of the `ray job submit` pod."),
            "metadata": string_map(),
            "clusterSelector": string_map(),
            "submitterConfig": obj({"backoffLimit": int32(minimum=0)}),
            "managedBy": string(**{"x-kubernetes-validations": MANAGED_BY_RULES}),
            "deletionStrategy": deletion_strategy(),
            "entrypoint": string(),
            "runtimeEnvYAML": string(),
            "jobId": string(),
            "submissionMode": string(
                enum=["K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode"],
                default="K8sJobMode",
            ),
            "entrypointResources": string(),
            "entrypointNumCpus": {"type": "number"},
            "entrypointNumGpus": {"type": "number"},
            "ttlSecondsAfterFinished": int32(minimum=0, default=0),
            "preRunningDeadlineSeconds": int32(minimum=1),
            "shutdownAfterJobFinishes": boolean(),
            "suspend": boolean(),
        }
    )


def attempt_history() -> Schema:
    return {
        "type": "array",
        "maxItems": 50,
        "description": "Finished attempts, most recent last (an extension to KubeRay's API).",
        "items": obj(
            {
                "retryCount": int32(minimum=0),
                "result": string(enum=["Retrying", "Complete", "Failed"]),
                "startTime": timestamp(),
                "endTime": timestamp(),
                "jobId": string(),
                "reason": string(),
            },
            required=["retryCount", "result", "startTime", "endTime"],
        ),
    }


def ray_job_status() -> Schema:
    deployment_statuses = [
        "",
        "Initializing",
        "Running",
        "Complete",
        "Failed",
        "ValidationFailed",
        "Suspending",
        "Suspended",
        "Retrying",
        "Waiting",
    ]
    return obj(
        {
            "rayJobInfo": obj({"startTime": timestamp(), "endTime": timestamp()}),
            "jobId": string(),
            "rayClusterName": string(),
            "dashboardURL": string(),
            "jobStatus": string(),
            "jobDeploymentStatus": string(enum=deployment_statuses),
            "reason": string(),
            "message": string(),
            "startTime": timestamp(),
            "endTime": timestamp(),
            "succeeded": int32(minimum=0),
            "failed": int32(minimum=0),
            "rayClusterStatus": ray_cluster_status(with_bookkeeping=False),
            "jobStatusCheckFailureStartTime": timestamp(),
            "observedGeneration": int64(),
            "attemptHistory": attempt_history(),
            "kopf": kopf_bookkeeping(),
        }
    )


# --- RayService -------------------------------------------------------------------------------


def ray_service_spec() -> Schema:
    return obj(
        {
            "rayClusterDeletionDelaySeconds": int32(minimum=0),
            "serviceUnhealthySecondThreshold": int32(),
            "deploymentUnhealthySecondThreshold": int32(),
            "serveService": service("A Service merged into the serve service."),
            "upgradeStrategy": obj(
                {
                    "type": string(enum=["NewCluster", "NewClusterWithIncrementalUpgrade", "None"]),
                    "clusterUpgradeOptions": obj(
                        {
                            "maxSurgePercent": int32(minimum=0, maximum=100, default=100),
                            "stepSizePercent": int32(minimum=0, maximum=100),
                            "intervalSeconds": int32(minimum=1),
                            "gatewayClassName": string(),
                        },
                        required=["stepSizePercent", "intervalSeconds", "gatewayClassName"],
                    ),
                }
            ),
            "managedBy": string(**{"x-kubernetes-validations": MANAGED_BY_RULES}),
            "serveConfigV2": string(),
            "rayClusterConfig": ray_cluster_spec(),
            "excludeHeadPodFromServeSvc": boolean(),
            "suspend": boolean(),
        },
        required=["rayClusterConfig"],
    )


def serve_cluster_status() -> Schema:
    message_and_status = obj({"status": string(), "message": string()})
    application = obj(
        {
            "serveDeploymentStatuses": {
                "type": "object",
                "additionalProperties": message_and_status,
            },
            "status": string(),
            "message": string(),
        }
    )
    return obj(
        {
            "applicationStatuses": {"type": "object", "additionalProperties": application},
            "targetCapacity": int32(minimum=0, maximum=100),
            "trafficRoutedPercent": int32(minimum=0, maximum=100),
            "lastTrafficMigratedTime": timestamp(),
            "rayClusterName": string(),
            "rayClusterStatus": ray_cluster_status(with_bookkeeping=False),
        }
    )


def ray_service_status() -> Schema:
    return obj(
        {
            "conditions": conditions(),
            "lastUpdateTime": timestamp(),
            "serviceStatus": string(),
            "activeServiceStatus": serve_cluster_status(),
            "pendingServiceStatus": serve_cluster_status(),
            "numServeEndpoints": int32(minimum=0),
            "observedGeneration": int64(),
            "kopf": kopf_bookkeeping(),
        }
    )


# --- CRDs -------------------------------------------------------------------------------------


def column(name: str, path: str, type_: str, priority: int = 0) -> Schema:
    schema: Schema = {"name": name, "type": type_, "jsonPath": path}
    if priority:
        schema["priority"] = priority
    return schema


# kubectl get's columns, per kind and served version, as KubeRay v1.5.0's CRDs print them
# (KubeRay's v1alpha1 RayJob and RayService have none, so kubectl prints NAME and AGE).
AGE = column("age", ".metadata.creationTimestamp", "date")
RAYCLUSTER_COLUMNS = [
    column("desired workers", ".status.desiredWorkerReplicas", "integer"),
    column("available workers", ".status.availableWorkerReplicas", "integer"),
    column("cpus", ".status.desiredCPU", "string"),
    column("memory", ".status.desiredMemory", "string"),
    column("gpus", ".status.desiredGPU", "string"),
    column("tpus", ".status.desiredTPU", "string", priority=1),
    column("status", ".status.state", "string"),
    AGE,
    column("head pod IP", ".status.head.podIP", "string", priority=1),
    column("head service IP", ".status.head.serviceIP", "string", priority=1),
]
RAYJOB_COLUMNS = [
    column("job status", ".status.jobStatus", "string"),
    column("deployment status", ".status.jobDeploymentStatus", "string"),
    column("ray cluster name", ".status.rayClusterName", "string"),
    column("start time", ".status.startTime", "string"),
    column("end time", ".status.endTime", "string"),
    AGE,
]
RAYSERVICE_COLUMNS = [
    column("service status", ".status.serviceStatus", "string"),
    column("num serve endpoints", ".status.numServeEndpoints", "string"),
]


def version(name: str, schema: Schema, columns: list[Schema], storage: bool) -> Schema:
    served: Schema = {"name": name, "served": True, "storage": storage}
    if not storage:
        served["deprecated"] = True
        served["deprecationWarning"] = f"ray.io/{name} is deprecated; use ray.io/v1"
    served["subresources"] = {"status": {}}
    if columns:
        served["additionalPrinterColumns"] = columns
    served["schema"] = {"openAPIV3Schema": copy.deepcopy(schema)}
    return served


def crd(
    kind: str,
    plural: str,
    short_names: list[str],
    spec: Schema,
    status: Schema,
    columns: dict[str, list[Schema]],
) -> Schema:
    """The CRD of one kind. As KubeRay 1.5 does, it serves v1 (stored) and v1alpha1 (served,
    not stored, no conversion webhook: the apiserver only rewrites apiVersion). v1alpha1 has v1's
    schema, so an object written through it loses no v1 field; it is marked deprecated, so
    kubectl prints a warning when it is used."""
    schema = obj(
        {
            "apiVersion": string(),
            "kind": string(),
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
        required=["spec"],
    )
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.ray.io",
            "labels": {"app.kubernetes.io/part-of": "ray-operator"},
        },
        "spec": {
            "group": "ray.io",
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": ["all", "ray"],
            },
            "versions": [
                version("v1", schema, columns["v1"], storage=True),
                version("v1alpha1", schema, columns["v1alpha1"], storage=False),
            ],
        },
    }


def all_crds() -> dict[str, Schema]:
    return {
        "ray.io_rayclusters.yaml": crd(
            "RayCluster",
            "rayclusters",
            ["rayc"],
            ray_cluster_spec(),
            ray_cluster_status(with_bookkeeping=True, with_worker_groups=True),
            {"v1": RAYCLUSTER_COLUMNS, "v1alpha1": RAYCLUSTER_COLUMNS},
        ),
        "ray.io_rayjobs.yaml": crd(
            "RayJob",
            "rayjobs",
            ["rayj"],
            ray_job_spec(),
            ray_job_status(),
            {"v1": RAYJOB_COLUMNS, "v1alpha1": []},
        ),
        "ray.io_rayservices.yaml": crd(
            "RayService",
            "rayservices",
            ["raysvc"],
            ray_service_spec(),
            ray_service_status(),
            {"v1": RAYSERVICE_COLUMNS, "v1alpha1": []},
        ),
    }


def without_descriptions(node: Any) -> Any:
    """The schema without its descriptions, as controller-gen's `crd:maxDescLen=0` writes
    KubeRay's: they would make up much of the size of CRDs that embed pod templates."""
    if isinstance(node, dict):
        return {
            key: without_descriptions(value)
            for key, value in node.items()
            if not (key == "description" and isinstance(value, str))
        }
    if isinstance(node, list):
        return [without_descriptions(item) for item in node]
    return node


HEADER = (
    "# Generated by operator/hack/gen_crds.py; edit that script and re-run it.\n"
    "# ray.io/v1 with KubeRay's field names; see docs/api.md for the supported subset.\n"
)


def render(document: Schema) -> str:
    body = yaml.safe_dump(
        without_descriptions(document), sort_keys=False, width=100, allow_unicode=True
    )
    return HEADER + "---\n" + body


def main(argv: list[str]) -> int:
    target = Path(argv[1]) if len(argv) > 1 else CRD_DIR
    target.mkdir(parents=True, exist_ok=True)
    for filename, document in all_crds().items():
        (target / filename).write_text(render(document), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
