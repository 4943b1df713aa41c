"""The RayService reconciler: child RayClusters, Serve applications, services and upgrades."""
