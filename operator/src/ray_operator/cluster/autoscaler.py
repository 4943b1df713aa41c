"""Ray's in-tree autoscaler as KubeRay runs it: the head pod's sidecar and its RBAC.

With `spec.enableInTreeAutoscaling: true` the head pod gets a container named `autoscaler`
that runs `ray kuberay-autoscaler`. That process reads the RayCluster and its pods, and
scales by writing the worker groups' `replicas` and `scaleStrategy.workersToDelete`; the
operator then creates pods up to `replicas` and deletes exactly the named ones (see
`plan.py`). The head's Ray container gets `--no-monitor` (the sidecar replaces Ray's own
monitor) and shares the log volume `/tmp/ray` with the sidecar, whose events the dashboard
shows. Autoscaler v2 (`autoscalerOptions.version: v2`) also needs `RAY_enable_autoscaler_v2`
on the head and `restartPolicy: Never` on every pod: v2 tracks each Ray node by its pod, so a
restarted container would be a node it never launched.

The head pod runs as a ServiceAccount bound to a Role with exactly the permissions the
autoscaler uses; both are named after the cluster and owned by it. A ServiceAccount is
created only when the head template names none (one the user names is the user's to
create). Names and shapes follow KubeRay v1.5, so an autoscaler image built for KubeRay
works unchanged. Everything here is pure: cluster in, manifests out.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ray_operator.cluster import constants as c
from ray_operator.cluster.spec import Body, head_group, mapping, spec_of

Manifest = dict[str, Any]

CONTAINER_NAME = "autoscaler"
LOG_VOLUME = "ray-logs"
LOG_PATH = "/tmp/ray"
ENV_V2 = "RAY_enable_autoscaler_v2"
START_COMMAND = (
    "ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) "
    "--cluster-namespace $(RAY_CLUSTER_NAMESPACE)"
)
DEFAULT_RESOURCES: Manifest = {
    "limits": {"cpu": "500m", "memory": "512Mi"},
    "requests": {"cpu": "500m", "memory": "512Mi"},
}
VERSIONS = ("v1", "v2")
UPSCALING_MODES = ("Default", "Aggressive", "Conservative")
PULL_POLICIES = ("Always", "Never", "IfNotPresent")
# What Ray's KubeRay node provider does with the API, and nothing more.
ROLE_RULES: tuple[Manifest, ...] = (
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]},
    {"apiGroups": [""], "resources": ["pods/resize"], "verbs": ["patch"]},
    {"apiGroups": [c.GROUP], "resources": [c.PLURAL], "verbs": ["get", "patch"]},
)
_NAME_BUDGET = 50  # KubeRay's pod-name budget, also applied to these names


def enabled(cluster: Body) -> bool:
    return spec_of(cluster).get("enableInTreeAutoscaling") is True


def options(cluster: Body) -> Mapping[str, Any]:
    return mapping(spec_of(cluster).get("autoscalerOptions"))


def version(cluster: Body) -> str:
    """ "v2" when autoscalerOptions.version says so, else "v1" (KubeRay's default)."""
    return "v2" if options(cluster).get("version") == "v2" else "v1"


def v2(cluster: Body) -> bool:
    return enabled(cluster) and version(cluster) == "v2"


def check_name(name: str) -> str:
    """KubeRay's name clipping: keep the last 50 characters, and start with a letter."""
    if len(name) > _NAME_BUDGET:
        name = name[len(name) - _NAME_BUDGET :]
    if name and (name[0].isdigit() or not name[0].isalnum()):
        name = "r" + name[1:]
    return name


def _cluster_name(cluster: Body) -> str:
    return str(mapping(cluster.get("metadata")).get("name", ""))


def user_service_account(cluster: Body) -> str:
    """The ServiceAccount the head template names ("" when none)."""
    template_spec = mapping(mapping(head_group(cluster).get("template")).get("spec"))
    return str(template_spec.get("serviceAccountName") or "")


def service_account_name(cluster: Body) -> str:
    return check_name(user_service_account(cluster) or _cluster_name(cluster))


def container(cluster: Body, head_image: Any) -> Manifest:
    """The `autoscaler` sidecar, with the user's `autoscalerOptions` applied."""
    opts = options(cluster)
    sidecar: Manifest = {
        "name": CONTAINER_NAME,
        "image": head_image,
        "imagePullPolicy": "IfNotPresent",
        "env": [
            _field_env("RAY_CLUSTER_NAME", f"metadata.labels['{c.LABEL_CLUSTER}']"),
            _field_env("RAY_CLUSTER_NAMESPACE", "metadata.namespace"),
            _field_env("RAY_HEAD_POD_NAME", "metadata.name"),
            {"name": "KUBERAY_CRD_VER", "value": c.VERSION},
        ],
        "command": list(c.SHELL),
        "args": [START_COMMAND],
        "resources": copy.deepcopy(DEFAULT_RESOURCES),
    }
    for key in ("image", "imagePullPolicy"):
        if opts.get(key):
            sidecar[key] = opts[key]
    if isinstance(opts.get("resources"), Mapping):
        sidecar["resources"] = copy.deepcopy(dict(opts["resources"]))
    for key in ("env", "envFrom", "volumeMounts"):
        extra = opts.get(key)
        if isinstance(extra, list) and extra:
            sidecar[key] = [*sidecar.get(key, []), *copy.deepcopy(extra)]
    if isinstance(opts.get("securityContext"), Mapping):
        sidecar["securityContext"] = copy.deepcopy(dict(opts["securityContext"]))
    # Later KubeRay releases let users replace the command; "$(KUBERAY_GEN_AUTOSCALER_START_CMD)"
    # in the replacement refers to the generated one.
    for key in ("command", "args"):
        if isinstance(opts.get(key), list) and opts[key]:
            sidecar[key] = [str(x) for x in opts[key]]
    if "command" in opts or "args" in opts:
        sidecar["env"].append({"name": "KUBERAY_GEN_AUTOSCALER_START_CMD", "value": START_COMMAND})
    return sidecar


def _field_env(name: str, path: str) -> Manifest:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def head_params(params: dict[str, str]) -> None:
    """The head's `ray start` flags with the sidecar in charge: Ray's own monitor is off."""
    params["no-monitor"] = "true"


def add_to_head(cluster: Body, spec: Manifest) -> None:
    """Add the sidecar, the ServiceAccount, the shared log volume and the v2 settings to the
    head pod's spec (whose Ray container is already complete)."""
    containers: list[Manifest] = spec["containers"]
    ray = containers[c.RAY_CONTAINER_INDEX]
    sidecar = container(cluster, ray.get("image"))
    containers.append(sidecar)
    spec["serviceAccountName"] = service_account_name(cluster)
    _mount_logs(spec, ray)
    _mount_logs(spec, sidecar)
    if v2(cluster):
        env = list(ray.get("env") or [])
        if not any(e.get("name") == ENV_V2 for e in env):
            env.append({"name": ENV_V2, "value": "true"})
        ray["env"] = env
        spec["restartPolicy"] = "Never"


def add_to_worker(cluster: Body, spec: Manifest) -> None:
    if v2(cluster):
        spec["restartPolicy"] = "Never"


def _mount_logs(spec: Manifest, target: Manifest) -> None:
    """An emptyDir at /tmp/ray in `target`, unless it mounts something there already."""
    mounts: list[Manifest] = list(target.get("volumeMounts") or [])
    if any(m.get("mountPath") == LOG_PATH for m in mounts):
        return
    volumes: list[Manifest] = list(spec.get("volumes") or [])
    if not any(v.get("name") == LOG_VOLUME for v in volumes):
        volumes.append({"name": LOG_VOLUME, "emptyDir": {}})
    mounts.append({"name": LOG_VOLUME, "mountPath": LOG_PATH})
    target["volumeMounts"] = mounts
    spec["volumes"] = volumes


# -- RBAC ----------------------------------------------------------------------------------


def _owned_metadata(cluster: Body, name: str) -> Manifest:
    metadata = mapping(cluster.get("metadata"))
    cluster_name = _cluster_name(cluster)
    return {
        "name": name,
        "namespace": str(metadata.get("namespace", "")),
        "labels": {
            c.LABEL_CLUSTER: cluster_name,
            c.LABEL_APP_NAME: c.APP_NAME,
            c.LABEL_CREATED_BY: c.CREATED_BY,
        },
        "ownerReferences": [
            {
                "apiVersion": c.API_VERSION,
                "kind": c.KIND,
                "name": cluster_name,
                "uid": str(metadata.get("uid", "")),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }


def rbac_names(cluster: Body) -> dict[str, str]:
    """Kind -> name of the autoscaler's objects the operator owns (no ServiceAccount when the
    head template names one)."""
    name = check_name(_cluster_name(cluster))
    names = {"Role": name, "RoleBinding": name}
    if not user_service_account(cluster):
        names["ServiceAccount"] = service_account_name(cluster)
    return names


def service_account(cluster: Body) -> Manifest | None:
    """The head's ServiceAccount, or None when the head template names one of the user's."""
    if user_service_account(cluster):
        return None
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _owned_metadata(cluster, service_account_name(cluster)),
    }


def role(cluster: Body) -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _owned_metadata(cluster, check_name(_cluster_name(cluster))),
        "rules": copy.deepcopy(list(ROLE_RULES)),
    }


def role_binding(cluster: Body) -> Manifest:
    name = check_name(_cluster_name(cluster))
    metadata = _owned_metadata(cluster, name)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": metadata,
        "subjects": [
            {
                "kind": "ServiceAccount",
                "name": service_account_name(cluster),
                "namespace": metadata["namespace"],
            }
        ],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
    }


def corrections(desired: Mapping[str, Any], actual: Mapping[str, Any]) -> list[Manifest]:
    """JSON patch operations bringing a Role's `rules` or a RoleBinding's `subjects` back to
    what the autoscaler needs ([] for a ServiceAccount, and when nothing differs). A
    RoleBinding's `roleRef` cannot change; its name is the cluster's, like the Role's."""
    return [
        {"op": "add", "path": f"/{key}", "value": desired[key]}
        for key in ("rules", "subjects")
        if key in desired and desired[key] != actual.get(key)
    ]
