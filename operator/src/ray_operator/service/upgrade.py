"""The RayService state machine: (RayService with its status, observations) -> (status, actions).

Pure. The reconciler observes the child clusters, their pods, what Serve reports on each
cluster's dashboard and the serve Service's selector and ready endpoints, then calls `step`
and carries out the actions it returns. The status returned assumes those actions succeed;
the reconciler does not write it when switching the services fails.

Active and pending clusters are named in status (`activeServiceStatus.rayClusterName`,
`pendingServiceStatus.rayClusterName`). One pass:

1. Clusters. No cluster yet: a pending one is prepared (its name set, then created). A config
   change needing a new cluster (see `changes`) prepares a pending cluster when the upgrade
   strategy is NewCluster, and is reported otherwise. Mid-upgrade, a further change replaces
   the pending cluster (a change back to the active cluster's config just ends the upgrade);
   the active cluster is never touched during an upgrade. In-place changes update the pending
   cluster, else the active one.
2. Serve. The config is sent to the pending cluster if there is one, else to the active one,
   whenever it differs from what that cluster last got. A cluster is ready for traffic when
   it got the current config and all its applications are RUNNING.
3. Pods of both clusters get `ray.io/serve` from the health of Serve's proxies.
4. Traffic. The serve and head Services point to the pending cluster once it is ready, else
   to the active cluster once that is ready; they are not created before a cluster is ready.
5. Promotion. When the Services point to the pending cluster it becomes the active one.
6. Clusters that are neither active nor pending get a deletion time (now + the service's
   `rayClusterDeletionDelaySeconds`) and are deleted once it has passed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ray_operator.clock import parse_time, rfc3339
from ray_operator.cluster import constants as cc
from ray_operator.cluster.spec import conditions_of, status_of
from ray_operator.conditions import find_condition, is_true
from ray_operator.reasons import EventType, Reason
from ray_operator.service import constants as c
from ray_operator.service import status as st
from ray_operator.service.actions import (
    Action,
    ApplyServe,
    CreateCluster,
    DeleteCluster,
    Emit,
    Observed,
    PointServices,
    ScheduleDeletion,
    SetServeLabel,
    Step,
    UpdateCluster,
)
from ray_operator.service.changes import Change, classify
from ray_operator.service.constants import Condition, ConditionReason
from ray_operator.service.serve import (
    all_running,
    failed_applications,
    need_apply,
    serve_config_hash,
    serve_label,
)
from ray_operator.service.spec import (
    Body,
    cluster_config,
    deletion_delay_seconds,
    exclude_head_pod,
    generation_of,
    initializing_timeout,
    namespace_of,
    serve_config_text,
    zero_downtime,
)

Json = dict[str, Any]
STEADY_SECONDS = 10.0  # how often a settled RayService re-reads Serve's health


def _name(block: Any) -> str:
    return str((block or {}).get("rayClusterName") or "") if isinstance(block, Mapping) else ""


def _annotation(cluster: Mapping[str, Any] | None, key: str) -> str | None:
    value = ((cluster or {}).get("metadata") or {}).get("annotations", {}).get(key)
    return str(value) if value else None


def head_ready(cluster: Mapping[str, Any] | None) -> bool:
    return is_true(((cluster or {}).get("status") or {}).get("conditions") or [], "HeadPodReady")


@dataclass
class _Pass:
    """Working state of one step."""

    service: Body
    observed: Observed
    old: Mapping[str, Any]
    actions: list[Action] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    note: str = ""
    ready: dict[str, bool] = field(default_factory=dict)

    def cluster(self, name: str) -> Json | None:
        return dict(self.observed.clusters[name]) if name in self.observed.clusters else None

    def ref(self, name: str) -> str:
        return f"{namespace_of(self.service)}/{name}"


def _plan_clusters(p: _Pass, active: str, pending: str) -> tuple[str, str]:
    """Step 1: which clusters are active and pending after this pass, and what to create."""
    goal = cluster_config(p.service)
    active_body, pending_body = p.cluster(active), p.cluster(pending)
    new = p.observed.new_cluster_name
    if pending and pending_body is None:
        p.actions.append(CreateCluster(pending))
        p.waiting.append(f"creating RayCluster {p.ref(pending)}")
        return active, pending
    if pending_body is not None:
        change = classify(goal, pending_body)
        if change is Change.IN_PLACE:
            p.actions.append(UpdateCluster(pending))
        elif change is Change.NEW_CLUSTER:
            back = active_body is not None and classify(goal, active_body) is not Change.NEW_CLUSTER
            if back:
                p.note = (
                    f"rayClusterConfig matches the active RayCluster again; {pending} is dropped"
                )
                if classify(goal, active_body or {}) is Change.IN_PLACE:
                    p.actions.append(UpdateCluster(active))
                return active, ""
            p.actions.append(CreateCluster(new))
            p.waiting.append(f"creating RayCluster {p.ref(new)} (replacing {pending})")
            return active, new
        return active, pending
    if active_body is not None:
        change = classify(goal, active_body)
        if change is Change.IN_PLACE:
            p.actions.append(UpdateCluster(active))
        elif change is Change.NEW_CLUSTER:
            if zero_downtime(p.service):
                p.actions.append(CreateCluster(new))
                p.waiting.append(f"creating RayCluster {p.ref(new)}")
                return active, new
            p.note = (
                "rayClusterConfig changed in a way that needs a new RayCluster, but "
                f"upgradeStrategy.type is None: {active} keeps its configuration"
            )
        return active, ""
    p.actions.append(CreateCluster(new))
    p.waiting.append(f"creating RayCluster {p.ref(new)}")
    return active, new


def _reconcile_serve(p: _Pass, name: str, *, apply: bool) -> Mapping[str, Json] | None:
    """Step 2 for one cluster: apply the config if needed; its app statuses (None: unknown)."""
    body = p.cluster(name)
    p.ready[name] = False
    if body is None:
        return None
    if not head_ready(body):
        p.waiting.append(f"waiting for the head Pod of RayCluster {p.ref(name)} to be ready")
        return None
    view = p.observed.serve.get(name)
    if view is None:
        error = p.observed.serve_errors.get(name, "no answer")
        p.waiting.append(f"cannot read Serve status from the dashboard of {p.ref(name)}: {error}")
        return None
    desired = serve_config_hash(serve_config_text(p.service))
    why = need_apply(_annotation(body, c.ANNOTATION_SERVE_CONFIG_HASH), desired, view.apps)
    if why is not None and apply:
        p.actions.append(ApplyServe(name, why))
        p.waiting.append(f"applying serveConfigV2 to RayCluster {p.ref(name)} ({why})")
        return view.apps
    failed = failed_applications(view.apps)
    if failed:
        p.waiting.append(f"Serve applications on RayCluster {p.ref(name)}: " + "; ".join(failed))
    elif not all_running(view.apps):
        states = ", ".join(f"{k} {v.get('status')}" for k, v in sorted(view.apps.items()))
        p.waiting.append(
            f"Serve applications on RayCluster {p.ref(name)} are not all RUNNING yet"
            + (f" ({states})" if states else " (none reported)")
        )
    else:
        p.ready[name] = why is None
    return view.apps


def _labels(p: _Pass, name: str) -> None:
    """Step 3: `ray.io/serve` on the cluster's pods from Serve's proxy health."""
    view = p.observed.serve.get(name)
    proxies = view.proxies if view is not None else None
    for pod in p.observed.pods.get(name) or []:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue
        want = serve_label(pod, proxies, exclude_head_pod(p.service))
        if (meta.get("labels") or {}).get(c.LABEL_SERVE) != want:
            head = (meta.get("labels") or {}).get(cc.LABEL_NODE_TYPE) == cc.NODE_TYPE_HEAD
            p.actions.append(SetServeLabel(name, str(meta.get("name")), want, head))


def _new_failures(old_block: Any, apps: Mapping[str, Json] | None) -> list[str]:
    """Applications that failed since the status last said so (for one Warning each time)."""
    if not apps:
        return []
    before = (
        (old_block or {}).get("applicationStatuses") or {} if isinstance(old_block, Mapping) else {}
    )
    fresh = {
        k: v
        for k, v in apps.items()
        if v.get("status") != (before.get(k) or {}).get("status")
        or v.get("message") != (before.get(k) or {}).get("message")
    }
    return failed_applications(fresh)


def _block_named(old: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    for key in ("activeServiceStatus", "pendingServiceStatus"):
        block = old.get(key)
        if name and _name(block) == name:
            return block
    return None


def _serving_pods(pods: Sequence[Json]) -> int:
    """Pods labelled to serve that are running and ready (endpoints once selected)."""
    count = 0
    for pod in pods:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        conditions = (pod.get("status") or {}).get("conditions") or []
        ready = any(x.get("type") == "Ready" and x.get("status") == "True" for x in conditions)
        if labels.get(c.LABEL_SERVE) == "true" and ready:
            count += 1
    return count


def _traffic_target(p: _Pass, active: str, pending: str) -> str | None:
    """Step 4: where the Services should point (None: leave them as they are)."""
    if pending:
        # Switch only to a cluster whose pods already serve, so the Service never has a
        # moment without endpoints.
        if p.ready.get(pending) and _serving_pods(p.observed.pods.get(pending) or []):
            return pending
        if p.ready.get(pending):
            p.waiting.append(f"waiting for Serve's proxies on RayCluster {p.ref(pending)}")
        return None
    return active if active and p.ready.get(active) else None


def _dangling(p: _Pass, keep: set[str]) -> float | None:
    """Step 6: schedule or delete clusters that are neither active nor pending."""
    requeue: float | None = None
    delay = timedelta(seconds=deletion_delay_seconds(p.service))
    for name, body in sorted(p.observed.clusters.items()):
        if name in keep or (body.get("metadata") or {}).get("deletionTimestamp"):
            continue
        scheduled = _annotation(body, c.ANNOTATION_DELETE_AFTER)
        deadline = parse_time(scheduled)
        if deadline is None:
            # Whole seconds, rounded up: the annotation never says earlier than the delay.
            deadline = p.observed.now + delay
            deadline += timedelta(microseconds=-deadline.microsecond % 1_000_000)
            if delay.total_seconds() > 0:
                p.actions.append(ScheduleDeletion(name, rfc3339(deadline)))
        remaining = (deadline - p.observed.now).total_seconds()
        if remaining <= 0:
            p.actions.append(
                DeleteCluster(name, f"it is no longer used and {scheduled or 'now'} has passed")
            )
        else:
            requeue = remaining if requeue is None else min(requeue, remaining)
    return requeue


def step(service: Body, observed: Observed) -> Step:
    old: Mapping[str, Any] = status_of(service)
    now = rfc3339(observed.now)
    generation = generation_of(service)
    p = _Pass(service, observed, old)
    conditions = st.initial_conditions(conditions_of(old), now, generation)
    active, pending = _name(old.get("activeServiceStatus")), _name(old.get("pendingServiceStatus"))

    if st.timed_out(conditions):
        requeue = _dangling(p, set())
        status = st.assemble(old, conditions, generation, active={}, pending={}, endpoints=0)
        return Step(status, p.actions, requeue)

    active, pending = _plan_clusters(p, active, pending)
    pending_apps = _reconcile_serve(p, pending, apply=True) if pending else None
    active_apps = _reconcile_serve(p, active, apply=not pending) if active else None
    for name in (active, pending):
        if name and name in observed.clusters:
            _labels(p, name)

    for name, apps in ((active, active_apps), (pending, pending_apps)):
        for line in _new_failures(_block_named(old, name), apps):
            p.actions.append(
                Emit(
                    EventType.WARNING,
                    Reason.FAILED_TO_UPDATE_SERVE_APPLICATIONS,
                    f"Serve application {line} (RayCluster {p.ref(name)})",
                )
            )

    target = _traffic_target(p, active, pending)
    if target is not None:
        p.actions.append(PointServices(target))
    serving = target or observed.serving_cluster
    if pending and serving == pending:
        old_active, active, pending = active, pending, ""
        active_apps, pending_apps = pending_apps, None
        if old_active:
            p.note = f"upgraded from {old_active} to {active}"

    def kept_apps(name: str, apps: Mapping[str, Json] | None) -> Mapping[str, Json] | None:
        """This pass's statuses; the last known ones while Serve did not answer."""
        if apps is not None:
            return apps
        return (_block_named(old, name) or {}).get("applicationStatuses")

    endpoints = observed.num_serve_endpoints
    conditions = st.ready_condition(conditions, endpoints, "; ".join(p.waiting), now, generation)
    conditions = _check_timeout(p, conditions, endpoints, now, generation)
    if st.timed_out(conditions):
        active = pending = ""
        p.actions = [a for a in p.actions if isinstance(a, Emit | SetServeLabel)]
    conditions = st.upgrade_condition(conditions, active, pending, p.note, now, generation)
    status = st.assemble(
        old,
        conditions,
        generation,
        active=st.cluster_block(active, p.cluster(active), kept_apps(active, active_apps)),
        pending=st.cluster_block(pending, p.cluster(pending), kept_apps(pending, pending_apps)),
        endpoints=endpoints,
    )
    requeue = _dangling(p, {active, pending})
    settled = (
        endpoints > 0
        and not pending
        and not p.waiting
        and not any(isinstance(a, CreateCluster | UpdateCluster | ApplyServe) for a in p.actions)
    )
    cadence = STEADY_SECONDS if settled else c.REQUEUE_SECONDS
    return Step(status, p.actions, cadence if requeue is None else min(cadence, requeue))


def _check_timeout(
    p: _Pass, conditions: list[dict[str, Any]], endpoints: int, now: str, generation: int
) -> list[dict[str, Any]]:
    """Ready False/Initializing for longer than the `ray.io/initializing-timeout` annotation:
    give up (terminal until the RayService is recreated) and let its clusters go."""
    timeout = initializing_timeout(p.service)
    ready = find_condition(conditions, Condition.READY) or {}
    if timeout is None or endpoints > 0 or ready.get("reason") != ConditionReason.INITIALIZING:
        return conditions
    since = parse_time(ready.get("lastTransitionTime"))
    if since is None:
        return conditions
    spent = p.observed.now - since
    if spent < timeout:
        return conditions
    message = (
        f"RayService failed to become ready within the configured timeout of {timeout}. "
        f"Time spent initializing: {spent}"
    )
    p.actions.append(
        Emit(
            EventType.WARNING,
            Reason.RAY_SERVICE_INITIALIZING_TIMEOUT,
            f"RayService initializing timeout exceeded after {spent} "
            f"(configured timeout: {timeout})",
        )
    )
    return st.set_ready_timeout(conditions, message, now, generation)
