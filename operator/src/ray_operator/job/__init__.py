"""The RayJob reconciler: a child or selected RayCluster, a Ray job submitted to it, tracked
through the dashboard until it ends, retried, suspended and cleaned up.
"""
