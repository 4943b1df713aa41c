"""Names shared by the RayCluster builders, planner and status: labels, ports, annotations.

Values follow KubeRay's ray.io/v1 conventions so tools written for KubeRay (label selectors,
dashboards, `kubectl get pods -l ray.io/node-type=head`) keep working.
"""

from __future__ import annotations

from typing import Final

GROUP: Final = "ray.io"
VERSION: Final = "v1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "RayCluster"
PLURAL: Final = "rayclusters"
COMPONENT: Final = "raycluster-controller"

# Labels on every pod and service the operator creates for a cluster.
LABEL_CLUSTER: Final = "ray.io/cluster"
LABEL_NODE_TYPE: Final = "ray.io/node-type"
LABEL_GROUP: Final = "ray.io/group"
LABEL_IS_RAY_NODE: Final = "ray.io/is-ray-node"
LABEL_IDENTIFIER: Final = "ray.io/identifier"
LABEL_ORIGINATED_FROM_CRD: Final = "ray.io/originated-from-crd"
# The value of that label on a RayService's clusters.
SERVICE_CRD: Final = "RayService"
# Environment KubeRay gives the Ray container of a RayService's cluster unless the template
# sets it: no wait for a dead worker's death info, and short GCS and Serve KV timeouts, so
# Serve notices a dying replica and the serve Service stops routing to it quickly.
SERVICE_ENV: Final = (
    {"name": "RAY_timeout_ms_task_wait_for_death_info", "value": "0"},
    {"name": "RAY_gcs_server_request_timeout_seconds", "value": "5"},
    {"name": "RAY_SERVE_KV_TIMEOUT_S", "value": "5"},
)
LABEL_APP_NAME: Final = "app.kubernetes.io/name"
LABEL_CREATED_BY: Final = "app.kubernetes.io/created-by"
APP_NAME: Final = "kuberay"
CREATED_BY: Final = "ray-operator"
HEAD_GROUP: Final = "headgroup"
NODE_TYPE_HEAD: Final = "head"
NODE_TYPE_WORKER: Final = "worker"
RESERVED_LABELS: Final = frozenset({LABEL_CLUSTER, LABEL_NODE_TYPE, LABEL_GROUP, LABEL_IS_RAY_NODE})

# Annotations. The restart annotation is the user's; the pod stamps are ours.
ANNOTATION_RESTARTED_AT: Final = "ray.io/restarted-at"
ANNOTATION_OVERWRITE_CMD: Final = "ray.io/overwrite-container-cmd"
POD_ANNOTATION_RESTARTED_AT: Final = "ray.io/restarted-at"
POD_ANNOTATION_SPEC_HASH: Final = "ray.io/cluster-spec-hash"

# Ports: name -> default number. The head service exposes these unless the head container
# declares its own ports.
PORT_GCS: Final = "gcs-server"
PORT_DASHBOARD: Final = "dashboard"
PORT_CLIENT: Final = "client"
PORT_METRICS: Final = "metrics"
PORT_SERVE: Final = "serve"
DEFAULT_PORTS: Final = {
    PORT_CLIENT: 10001,
    PORT_DASHBOARD: 8265,
    PORT_GCS: 6379,
    PORT_METRICS: 8080,
    PORT_SERVE: 8000,
}
DEFAULT_DASHBOARD_AGENT_PORT: Final = 52365

# How every generated command runs (KubeRay's `bash -c`; not a login shell, which would read
# profile files the image may not expect to run).
SHELL: Final = ("/bin/bash", "-c", "--")

# The Ray container is the first container of each pod (as in KubeRay).
RAY_CONTAINER_INDEX: Final = 0
SHM_VOLUME: Final = "shared-mem"
SHM_PATH: Final = "/dev/shm"

# managedBy values: absent or ours means this operator reconciles the cluster.
MANAGED_BY_US: Final = "ray.io/kuberay-operator"

# Pod name budget: generateName gets 5 random characters appended; names are <= 63.
MAX_CLUSTER_NAME_LENGTH: Final = 53
