"""Pure helpers around the RayService reconciler: endpoint counting, failure messages and the
watch fingerprint that decides which RayService events enqueue work."""

from __future__ import annotations

from typing import Any

import service_factory as f

from ray_operator.service.effects import count_ready_endpoints
from ray_operator.service.handlers import fingerprint
from ray_operator.service.status import with_failures


def endpoint(uid: str, ready: bool, address: str = "10.0.0.1") -> dict[str, Any]:
    return {
        "addresses": [address],
        "conditions": {"ready": ready},
        "targetRef": {"kind": "Pod", "name": f"pod-{uid}", "uid": uid},
    }


def test_ready_endpoints_are_counted_once_per_pod() -> None:
    ipv4 = {"endpoints": [endpoint("a", True), endpoint("b", True), endpoint("c", False)]}
    ipv6 = {"endpoints": [endpoint("a", True, "fd00::1"), endpoint("b", True, "fd00::2")]}
    assert count_ready_endpoints([ipv4, ipv6]) == 2
    assert count_ready_endpoints([]) == 0
    assert count_ready_endpoints([{"endpoints": None}]) == 0


def test_failures_extend_ready_message_only_while_not_ready() -> None:
    waiting = {
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "Initializing",
                "message": "RayService is initializing",
                "lastTransitionTime": "2025-01-01T00:00:00Z",
            }
        ]
    }
    failure = "Failed to update serve applications to the RayCluster ns/c: refused"
    out = with_failures(waiting, [failure], "2025-01-01T00:01:00Z", 2)
    ready = out["conditions"][0]
    assert ready["message"] == f"RayService is initializing; {failure}"
    assert ready["reason"] == "Initializing"
    assert ready["lastTransitionTime"] == "2025-01-01T00:00:00Z"
    serving = {"conditions": [{**waiting["conditions"][0], "status": "True", "message": "ok"}]}
    assert with_failures(serving, [failure], "2025-01-01T00:01:00Z", 2) == serving
    assert with_failures(waiting, [], "2025-01-01T00:01:00Z", 2) == waiting


def test_status_writes_do_not_change_the_fingerprint() -> None:
    service = f.service(generation=4)
    before = fingerprint(service)
    service["status"] = {"numServeEndpoints": 3}
    service["metadata"]["resourceVersion"] = "999"
    assert fingerprint(service) == before
    service["metadata"]["generation"] = 5
    assert fingerprint(service) != before
    timed = f.service(generation=4, annotations={"ray.io/initializing-timeout": "5m"})
    assert fingerprint(timed) != before
