"""What a kubelet makes of a container's spec before it starts the process: the environment
(literal values, `$(VAR)` references, downward-API fieldRefs and resourceFieldRefs) and the
command line with its `$(VAR)` references expanded.

Pure functions over pod manifests as plain dicts, so the Ray kubelet (raykubelet.py) starts
a pod's processes with exactly the environment a real kubelet would give its containers.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Mapping
from typing import Any

Json = dict[str, Any]

_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_FIELD_KEYED = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")
_SUFFIXES: dict[str, decimal.Decimal] = {
    "Ki": decimal.Decimal(2**10),
    "Mi": decimal.Decimal(2**20),
    "Gi": decimal.Decimal(2**30),
    "Ti": decimal.Decimal(2**40),
    "m": decimal.Decimal("0.001"),
    "k": decimal.Decimal(10**3),
    "M": decimal.Decimal(10**6),
    "G": decimal.Decimal(10**9),
    "T": decimal.Decimal(10**12),
}


class PodEnvError(ValueError):
    """The container asks for something this kubelet does not provide."""


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion: known names are replaced, `$$` is a literal `$`, and an
    unknown `$(NAME)` is left as it is."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _REFERENCE.sub(one, text)


def quantity(text: str) -> decimal.Decimal:
    """A Kubernetes quantity ("500m", "2", "1Gi") as a number."""
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if text.endswith(suffix):
            return decimal.Decimal(text[: -len(suffix)]) * _SUFFIXES[suffix]
    return decimal.Decimal(text)


def field_value(pod: Json, path: str) -> str:
    """The downward API's value of `fieldPath` for this pod."""
    metadata = pod.get("metadata") or {}
    keyed = _FIELD_KEYED.match(path)
    if keyed:
        return str((metadata.get(keyed.group(1)) or {}).get(keyed.group(2), ""))
    simple = {
        "metadata.name": metadata.get("name"),
        "metadata.namespace": metadata.get("namespace"),
        "metadata.uid": metadata.get("uid"),
        "spec.nodeName": (pod.get("spec") or {}).get("nodeName"),
        "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName"),
        "status.podIP": (pod.get("status") or {}).get("podIP"),
        "status.hostIP": (pod.get("status") or {}).get("hostIP"),
    }
    if path not in simple:
        raise PodEnvError(f"fieldRef {path!r} is not provided by this kubelet")
    return str(simple[path] or "")


def resource_value(container: Json, ref: Json) -> str:
    """A resourceFieldRef (limits.cpu, requests.memory, ...) rounded up by its divisor."""
    section, _, name = str(ref["resource"]).partition(".")
    resources = container.get("resources") or {}
    amounts = resources.get(section) or {}
    if name not in amounts and section == "requests":
        amounts = resources.get("limits") or {}
    if name not in amounts:
        raise PodEnvError(f"resourceFieldRef {ref['resource']!r}: the container sets none")
    divisor = quantity(str(ref.get("divisor") or "1"))
    value = (quantity(str(amounts[name])) / divisor).to_integral_value(decimal.ROUND_UP)
    return str(int(value))


def container_env(
    pod: Json, container: Json, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The container's environment as its process sees it: `base` (what the runtime and the
    service links provide), then each `env` entry in order, later `$(VAR)` references seeing
    the earlier ones. envFrom and Secret/ConfigMap references are refused: no test needs them."""
    if container.get("envFrom"):
        raise PodEnvError("envFrom is not provided by this kubelet")
    env = dict(base or {})
    for entry in container.get("env") or []:
        name = str(entry["name"])
        source = entry.get("valueFrom")
        if source is None:
            env[name] = expand(str(entry.get("value", "")), env)
        elif "fieldRef" in source:
            env[name] = field_value(pod, str(source["fieldRef"]["fieldPath"]))
        elif "resourceFieldRef" in source:
            env[name] = resource_value(container, source["resourceFieldRef"])
        else:
            raise PodEnvError(f"env {name}: {sorted(source)} is not provided by this kubelet")
    return env


def command_line(container: Json, env: Mapping[str, str]) -> list[str]:
    """`command` + `args` with `$(VAR)` expanded, as the kubelet hands them to the runtime."""
    argv = [*(container.get("command") or []), *(container.get("args") or [])]
    if not argv:
        raise PodEnvError(f"container {container.get('name')!r} names no command")
    return [expand(str(arg), env) for arg in argv]


def container_named(pod: Json, name: str) -> Json | None:
    for container in (pod.get("spec") or {}).get("containers") or []:
        if container.get("name") == name:
            return dict(container)
    return None
