"""RayService families: info and the `Ready` and `UpgradeInProgress` condition flags.

Both flags are "true" only when the condition is present with status True;
Unknown, False or missing is "false" (DESIGN §4). A malformed `conditions`
field counts as missing and is reported as a problem.
"""

from __future__ import annotations

from ray_exporter.families import (
    RESOURCE_GENERATION_LAG,
    SERVICE_CONDITION_READY,
    SERVICE_CONDITION_UPGRADE_IN_PROGRESS,
    SERVICE_INFO,
    Resource,
    condition_flag,
    generation_lag,
    info,
)

RAYSERVICES = Resource(
    plural="rayservices",
    kind="RayService",
    families=(
        (SERVICE_INFO, info(SERVICE_INFO)),
        (SERVICE_CONDITION_READY, condition_flag(SERVICE_CONDITION_READY, "Ready")),
        (
            SERVICE_CONDITION_UPGRADE_IN_PROGRESS,
            condition_flag(SERVICE_CONDITION_UPGRADE_IN_PROGRESS, "UpgradeInProgress"),
        ),
        (RESOURCE_GENERATION_LAG, generation_lag),
    ),
)
