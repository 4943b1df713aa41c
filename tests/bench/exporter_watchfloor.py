"""A bare RayCluster watch in its own process, for the exporter benchmark.

It records when the apiserver delivers each RayCluster update, without the
benchmark's load generator competing for the same interpreter. For every
MODIFIED event it writes `name seconds monotonic-time` to the output file,
where `seconds` is the RayClusterProvisioned lastTransitionTime minus the
object's creationTimestamp (the value the benchmark encodes in each update).
`time.monotonic()` is CLOCK_MONOTONIC, comparable across processes.

`python exporter_watchfloor.py OUTPUT NAMESPACE-PREFIX` (KUBECONFIG names the
cluster; only namespaces starting with the prefix count); prints `watching` once
the watch is open.
"""

from __future__ import annotations

import calendar
import json
import sys
import time
from typing import Any

import urllib3
from kubernetes import client, config

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def seconds(obj: dict[str, Any]) -> int | None:
    created = obj["metadata"].get("creationTimestamp")
    for condition in obj.get("status", {}).get("conditions", []):
        if condition.get("type") == "RayClusterProvisioned" and created:
            moment = calendar.timegm(time.strptime(condition["lastTransitionTime"], FORMAT))
            return int(moment - calendar.timegm(time.strptime(created, FORMAT)))
    return None


def main() -> None:
    configuration = client.Configuration()
    config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    pool = urllib3.PoolManager(
        ca_certs=configuration.ssl_ca_cert,
        cert_file=configuration.cert_file,
        key_file=configuration.key_file,
    )
    headers = {"Accept": "application/json"}
    token = configuration.get_api_key_with_prefix("BearerToken")
    if token:
        headers["Authorization"] = token
    base = configuration.host + "/apis/ray.io/v1/rayclusters"
    listed = json.loads(pool.request("GET", base + "?limit=1", headers=headers).data)
    version = listed["metadata"]["resourceVersion"]
    with open(sys.argv[1], "w", buffering=1) as out:
        while True:  # the apiserver may close a watch it finds slow: resume where it ended
            print(f"watching from {version}", file=sys.stderr, flush=True)
            response = pool.request(
                "GET",
                f"{base}?watch=1&resourceVersion={version}",
                headers=headers,
                preload_content=False,
            )
            print("watching", flush=True)  # read once by the benchmark, ignored after
            pending = b""
            for chunk in response.stream(65536):
                now = time.monotonic()
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    event = json.loads(line)
                    obj = event["object"]
                    if event.get("type") == "ERROR":
                        print(f"watch error: {obj}", file=sys.stderr, flush=True)
                        return
                    version = obj["metadata"]["resourceVersion"]
                    if event.get("type") == "MODIFIED" and obj["metadata"].get(
                        "namespace", ""
                    ).startswith(sys.argv[2]):
                        value = seconds(obj)
                        if value is not None:
                            out.write(f"{obj['metadata']['name']} {value} {now}\n")


if __name__ == "__main__":
    main()
