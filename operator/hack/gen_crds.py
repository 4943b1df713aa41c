"""Authoring tool for the three ray.io/v1 CRDs in charts/ray-operator/crds/.

The YAML files are what everyone consumes (the chart, `make dev`, the tests); this script is
how they are written, so the schemas stay consistent across the three kinds (a RayJob and a
RayService embed a RayCluster spec and status). Edit this file, run
`.venv/bin/python operator/hack/gen_crds.py`, commit both; operator/tests/test_crds.py fails
when the YAML and this script disagree.

Field names and meanings follow KubeRay's ray.io/v1 API; the schemas are our own.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

Schema = dict[str, Any]

CRD_DIR = Path(__file__).resolve().parents[2] / "charts" / "ray-operator" / "crds"
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


def pod_template(description: str) -> Schema:
    """A PodTemplateSpec: Kubernetes validates the pod; we only insist on containers."""
    return {
        "type": "object",
        "description": description,
        "x-kubernetes-preserve-unknown-fields": True,
        "required": ["spec"],
        "properties": {
            "metadata": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {"labels": string_map(), "annotations": string_map()},
            },
            "spec": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "required": ["containers"],
                "properties": {
                    "containers": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                            "required": ["name"],
                            "properties": {"name": string()},
                        },
                    }
                },
            },
        },
    }


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
            "headService": opaque("A Service merged into the head service the operator creates."),
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
    securityContext) are the apiserver's to judge when the head pod is created."""
    return obj(
        {
            "image": string(),
            "imagePullPolicy": string(enum=["Always", "Never", "IfNotPresent"]),
            "resources": opaque("The autoscaler container's resources."),
            "securityContext": opaque("The autoscaler container's securityContext."),
            "env": {"type": "array", "items": opaque("An EnvVar.")},
            "envFrom": {"type": "array", "items": opaque("An EnvFromSource.")},
            "volumeMounts": {"type": "array", "items": opaque("A VolumeMount.")},
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
            "gcsFaultToleranceOptions": opaque("GCS fault tolerance (not supported)."),
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
            "serveService": opaque("A Service merged into the serve service."),
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
    return {"name": name, "type": type_, "jsonPath": path, "priority": priority}


def crd(
    kind: str,
    plural: str,
    short_names: list[str],
    spec: Schema,
    status: Schema,
    columns: list[Schema],
) -> Schema:
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
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {
                        "openAPIV3Schema": obj(
                            {
                                "apiVersion": string(),
                                "kind": string(),
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": status,
                            },
                            required=["spec"],
                        )
                    },
                }
            ],
        },
    }


def all_crds() -> dict[str, Schema]:
    age = column("age", ".metadata.creationTimestamp", "date")
    return {
        "ray.io_rayclusters.yaml": crd(
            "RayCluster",
            "rayclusters",
            ["rayc"],
            ray_cluster_spec(),
            ray_cluster_status(with_bookkeeping=True, with_worker_groups=True),
            [
                column("desired workers", ".status.desiredWorkerReplicas", "integer"),
                column("available workers", ".status.availableWorkerReplicas", "integer"),
                column("cpus", ".status.desiredCPU", "string", priority=1),
                column("memory", ".status.desiredMemory", "string", priority=1),
                column("gpus", ".status.desiredGPU", "string", priority=1),
                column("status", ".status.state", "string"),
                column("head pod IP", ".status.head.podIP", "string"),
                age,
            ],
        ),
        "ray.io_rayjobs.yaml": crd(
            "RayJob",
            "rayjobs",
            ["rayj"],
            ray_job_spec(),
            ray_job_status(),
            [
                column("job status", ".status.jobStatus", "string"),
                column("deployment status", ".status.jobDeploymentStatus", "string"),
                column("ray cluster name", ".status.rayClusterName", "string", priority=1),
                column("start time", ".status.startTime", "string"),
                column("end time", ".status.endTime", "string"),
                age,
            ],
        ),
        "ray.io_rayservices.yaml": crd(
            "RayService",
            "rayservices",
            ["raysvc"],
            ray_service_spec(),
            ray_service_status(),
            [
                column("ready", '.status.conditions[?(@.type=="Ready")].status', "string"),
                column("service status", ".status.serviceStatus", "string"),
                column("num serve endpoints", ".status.numServeEndpoints", "integer"),
                age,
            ],
        ),
    }


HEADER = (
    "# Generated by operator/hack/gen_crds.py; edit that script and re-run it.\n"
    "# ray.io/v1 with KubeRay's field names; see docs/api.md for the supported subset.\n"
)


def render(document: Schema) -> str:
    body = yaml.safe_dump(document, sort_keys=False, width=100, allow_unicode=True)
    return HEADER + "---\n" + body


def main(argv: list[str]) -> int:
    target = Path(argv[1]) if len(argv) > 1 else CRD_DIR
    target.mkdir(parents=True, exist_ok=True)
    for filename, document in all_crds().items():
        (target / filename).write_text(render(document), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
