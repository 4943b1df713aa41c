"""A typed, read-only view of a RayJob's spec with KubeRay's defaults applied.

The apiserver applies the CRD defaults, but `JobSpec.of` defaults the same way so a body that
skipped defaulting (a unit test, an old stored object) gives the same answer. Values of the
wrong type read as absent; validation reports them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from ray_operator.job import constants as c
from ray_operator.shape import deeper_than

# A parsed runtimeEnvYAML or entrypointResources is rewritten as JSON for Ray; YAML aliases
# can make a short text stand for an exponentially large value, so both are bounded.
MAX_PARSED_DEPTH = 32
MAX_PARSED_NODES = 10_000

Body = Mapping[str, Any]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _larger_than(value: Any, limit: int) -> bool:
    """Whether `value` has more than `limit` nodes, counting a node reached twice (a YAML
    alias) twice; stops counting at the limit."""
    stack, seen = [value], 0
    while stack:
        current = stack.pop()
        seen += 1
        if seen > limit:
            return True
        if isinstance(current, Mapping):
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return False


def _flow_depth(text: str) -> int:
    """The deepest nesting of YAML flow brackets in `text` (quotes ignored: an over-count
    only errs towards refusing). PyYAML composes nested nodes recursively and slowly, so a
    text of a few thousand brackets is refused before it is parsed."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(depth - 1, 0)
    return deepest


def _bounded(parsed: Any, field: str) -> Any:
    # Size first: it stops at the limit, while the depth walk visits every node.
    if _larger_than(parsed, MAX_PARSED_NODES) or deeper_than(parsed, MAX_PARSED_DEPTH):
        raise ValueError(f"{field} is too large or nests too deeply once parsed")
    return parsed


@dataclass(frozen=True)
class JobSpec:
    name: str
    namespace: str
    uid: str
    generation: int
    submission_mode: str
    entrypoint: str
    job_id: str
    runtime_env_yaml: str
    metadata: Mapping[str, Any]
    entrypoint_num_cpus: float | None
    entrypoint_num_gpus: float | None
    entrypoint_resources: str
    cluster_spec: Mapping[str, Any] | None
    cluster_selector: Mapping[str, Any]
    submitter_template: Mapping[str, Any] | None
    submitter_backoff_limit: int
    backoff_limit: int
    active_deadline_seconds: int | None
    shutdown_after_job_finishes: bool
    ttl_seconds_after_finished: int
    suspend: bool
    managed_by: str
    raw: Body

    @classmethod
    def of(cls, job: Body) -> JobSpec:
        meta = _mapping(job.get("metadata"))
        spec = _mapping(job.get("spec"))
        submitter_config = _mapping(spec.get("submitterConfig"))
        cluster_spec = spec.get("rayClusterSpec")
        template = spec.get("submitterPodTemplate")
        submitter_limit = _int(submitter_config.get("backoffLimit"))
        return cls(
            name=str(meta.get("name", "")),
            namespace=str(meta.get("namespace", "")),
            uid=str(meta.get("uid", "")),
            generation=_int(meta.get("generation")) or 0,
            submission_mode=str(spec.get("submissionMode") or c.SubmissionMode.K8S_JOB),
            entrypoint=str(spec.get("entrypoint") or "").strip(),
            job_id=str(spec.get("jobId") or ""),
            runtime_env_yaml=str(spec.get("runtimeEnvYAML") or ""),
            metadata=_mapping(spec.get("metadata")),
            entrypoint_num_cpus=_number(spec.get("entrypointNumCpus")),
            entrypoint_num_gpus=_number(spec.get("entrypointNumGpus")),
            entrypoint_resources=str(spec.get("entrypointResources") or ""),
            cluster_spec=cluster_spec if isinstance(cluster_spec, Mapping) else None,
            cluster_selector=_mapping(spec.get("clusterSelector")),
            submitter_template=template if isinstance(template, Mapping) else None,
            submitter_backoff_limit=(
                c.DEFAULT_SUBMITTER_BACKOFF_LIMIT if submitter_limit is None else submitter_limit
            ),
            backoff_limit=_int(spec.get("backoffLimit")) or 0,
            active_deadline_seconds=_int(spec.get("activeDeadlineSeconds")),
            shutdown_after_job_finishes=spec.get("shutdownAfterJobFinishes") is True,
            ttl_seconds_after_finished=_int(spec.get("ttlSecondsAfterFinished")) or 0,
            suspend=spec.get("suspend") is True,
            managed_by=str(spec.get("managedBy") or ""),
            raw=job,
        )

    @property
    def mode(self) -> str:
        return self.submission_mode

    @property
    def uses_selector(self) -> bool:
        return bool(self.cluster_selector)

    @property
    def selected_cluster(self) -> str:
        return str(self.cluster_selector.get(c.CLUSTER_SELECTOR_KEY) or "")

    @property
    def owns_cluster(self) -> bool:
        return not self.uses_selector

    def runtime_env(self) -> dict[str, Any] | None:
        """runtimeEnvYAML parsed (ValueError when it is not a YAML mapping)."""
        if not self.runtime_env_yaml.strip():
            return None
        if _flow_depth(self.runtime_env_yaml) > MAX_PARSED_DEPTH:
            raise ValueError("runtimeEnvYAML nests too deeply")
        try:
            parsed = _bounded(yaml.safe_load(self.runtime_env_yaml), "runtimeEnvYAML")
        except yaml.YAMLError as error:
            raise ValueError(f"runtimeEnvYAML is not YAML: {error}") from None
        except RecursionError:  # PyYAML composes nested nodes recursively
            raise ValueError("runtimeEnvYAML nests too deeply") from None
        if parsed is None:
            return None
        if not isinstance(parsed, Mapping):
            raise ValueError("runtimeEnvYAML must be a YAML mapping")
        return dict(parsed)

    def resources(self) -> dict[str, float] | None:
        """entrypointResources parsed (ValueError when not a JSON object of numbers)."""
        if not self.entrypoint_resources.strip():
            return None
        try:
            parsed = json.loads(self.entrypoint_resources)
        except (ValueError, RecursionError):
            raise ValueError("entrypointResources is not JSON") from None
        if not isinstance(parsed, Mapping) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in parsed.values()
        ):
            raise ValueError("entrypointResources must be a JSON object of numbers")
        return {str(k): float(v) for k, v in parsed.items()}

    def string_metadata(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.metadata.items()}
