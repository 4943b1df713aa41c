"""Idempotent API operations the reconcilers use: each can be repeated safely.

Creating something that already exists (409) counts as success, deleting something already
gone (404) too. Status is written with a merge patch on the status subresource, guarded by
the resourceVersion the reconciler read, so a concurrent writer makes it retry instead of
overwriting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from ray_operator.kubeapi import ApiError, Json, KubeApi, namespaced

Drift = Callable[[Mapping[str, Any], Mapping[str, Any]], Json | None]


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


def _meta(body: Mapping[str, Any]) -> Mapping[str, Any]:
    return body.get("metadata") or {}


async def get_or_none(api: KubeApi, path: str) -> Json | None:
    try:
        return await api.get(path)
    except ApiError as error:
        if error.not_found:
            return None
        raise


async def list_pods(api: KubeApi, namespace: str, label_selector: str) -> list[Json]:
    return await api.list(namespaced("v1", "pods", namespace), label_selector=label_selector)


async def create_pod(api: KubeApi, pod: Json) -> Json:
    """Create a pod. With a fixed name, an existing pod of that name is the result."""
    namespace = str(_meta(pod)["namespace"])
    try:
        return await api.create(namespaced("v1", "pods", namespace), pod)
    except ApiError as error:
        name = _meta(pod).get("name")
        if error.already_exists and name:
            return await api.get(namespaced("v1", "pods", namespace, str(name)))
        raise


async def delete_pod(api: KubeApi, namespace: str, name: str) -> bool:
    """Delete a pod; False when it was already gone."""
    try:
        await api.delete(namespaced("v1", "pods", namespace, name))
    except ApiError as error:
        if error.not_found:
            return False
        raise
    return True


async def ensure_service(api: KubeApi, desired: Json, drift: Drift) -> tuple[Json, Outcome]:
    """Create the service, or patch the fields `drift` reports as different."""
    namespace = str(_meta(desired)["namespace"])
    name = str(_meta(desired)["name"])
    path = namespaced("v1", "services", namespace, name)
    current = await get_or_none(api, path)
    if current is None:
        try:
            return await api.create(
                namespaced("v1", "services", namespace), desired
            ), Outcome.CREATED
        except ApiError as error:
            if not error.already_exists:
                raise
            current = await api.get(path)
    patch = drift(desired, current)
    if patch is None:
        return current, Outcome.UNCHANGED
    return await api.merge_patch(path, patch), Outcome.UPDATED


async def patch_status(
    api: KubeApi,
    group_version: str,
    plural: str,
    namespace: str,
    name: str,
    status_patch: Json,
    resource_version: str | None,
) -> Json:
    """Merge-patch `status` through the status subresource (409 if the object moved on)."""
    body: Json = {"status": status_patch}
    if resource_version:
        body["metadata"] = {"resourceVersion": resource_version}
    return await api.merge_patch(namespaced(group_version, plural, namespace, name, "status"), body)
