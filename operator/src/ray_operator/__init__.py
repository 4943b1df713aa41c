"""ray-operator: reconciles KubeRay-compatible ray.io/v1 resources with kopf."""
