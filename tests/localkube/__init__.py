"""localkube: a real Kubernetes control plane on loopback, for tests and `make dev`.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok run as
local processes built by hack/tools.sh. kwok plays the kubelets of a few fake
nodes, so scheduled pods become Running and Ready without containers.
"""

from localkube.cluster import Cluster, ClusterError

__all__ = ["Cluster", "ClusterError"]
