"""The shape of the RayCluster fields the operator reads (see `ray_operator.shape`).

Only what the builders in this package read is described; anything else in a pod template
passes through to the apiserver untouched, which judges it when the pod is created. The
RayJob and RayService shapes reuse `POD_TEMPLATE` and `CLUSTER_SPEC`.
"""

from __future__ import annotations

from ray_operator.shape import ANY_OBJECT, BOOLEAN, INTEGER, SCALAR, STRING, Items, Obj

STRING_MAP = Obj(values=STRING)
METADATA = Obj({"name": STRING, "labels": STRING_MAP, "annotations": STRING_MAP})
NAMED = Obj({"name": STRING})
CONTAINER = Obj(
    {
        "name": STRING,
        "image": STRING,
        "imagePullPolicy": STRING,
        "command": Items(SCALAR),
        "args": Items(SCALAR),
        "env": Items(NAMED),
        "ports": Items(Obj({"name": STRING, "containerPort": INTEGER})),
        "resources": Obj({"limits": Obj(values=SCALAR), "requests": Obj(values=SCALAR)}),
        "volumeMounts": Items(Obj({"name": STRING, "mountPath": STRING})),
    }
)
POD_TEMPLATE = Obj(
    {
        "metadata": Obj({"labels": STRING_MAP, "annotations": STRING_MAP}),
        "spec": Obj(
            {
                "containers": Items(CONTAINER),
                "initContainers": Items(CONTAINER),
                "volumes": Items(NAMED),
            }
        ),
    }
)
SERVICE_PORT = Obj({"name": STRING})
HEAD_SERVICE = Obj(
    {
        "metadata": Obj({"name": STRING, "labels": STRING_MAP, "annotations": STRING_MAP}),
        "spec": Obj({"type": STRING, "ports": Items(SERVICE_PORT)}),
    }
)
_GROUP_FIELDS = {
    "rayStartParams": Obj(values=SCALAR),
    "resources": Obj(values=SCALAR),
    "labels": Obj(values=SCALAR),
    "template": POD_TEMPLATE,
}
HEAD_GROUP = Obj(
    {
        **_GROUP_FIELDS,
        "serviceType": STRING,
        "headService": HEAD_SERVICE,
        "enableIngress": SCALAR,
        "ingressOptions": ANY_OBJECT,
    }
)
WORKER_GROUP = Obj(
    {
        **_GROUP_FIELDS,
        "groupName": STRING,
        "replicas": INTEGER,
        "minReplicas": INTEGER,
        "maxReplicas": INTEGER,
        "numOfHosts": INTEGER,
        "scaleStrategy": Obj({"workersToDelete": Items(SCALAR)}),
        "idleTimeoutSeconds": INTEGER,
        "suspend": BOOLEAN,
    }
)
AUTOSCALER_OPTIONS = Obj(
    {
        "image": STRING,
        "imagePullPolicy": STRING,
        "resources": Obj({"limits": Obj(values=SCALAR), "requests": Obj(values=SCALAR)}),
        "env": Items(NAMED),
        "envFrom": Items(ANY_OBJECT),
        "volumeMounts": Items(Obj({"name": STRING, "mountPath": STRING})),
        "securityContext": ANY_OBJECT,
        "command": Items(SCALAR),
        "args": Items(SCALAR),
        "idleTimeoutSeconds": INTEGER,
        "upscalingMode": STRING,
        "version": STRING,
    }
)
CLUSTER_SPEC = Obj(
    {
        "rayVersion": STRING,
        "managedBy": STRING,
        "headGroupSpec": HEAD_GROUP,
        "workerGroupSpecs": Items(WORKER_GROUP),
        "headServiceAnnotations": STRING_MAP,
        "upgradeStrategy": Obj({"type": STRING}),
        "tlsOptions": ANY_OBJECT,
        "enableInTreeAutoscaling": BOOLEAN,
        "autoscalerOptions": AUTOSCALER_OPTIONS,
    }
)
RAYCLUSTER = Obj({"metadata": METADATA, "spec": CLUSTER_SPEC})
