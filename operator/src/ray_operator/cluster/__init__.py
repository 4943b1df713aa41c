"""The RayCluster reconciler: pure builders, planner and status, plus its kopf handlers."""
