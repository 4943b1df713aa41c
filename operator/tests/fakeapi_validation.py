"""The metadata checks every apiserver write passes, for the fake apiserver in `fakeapi.py`:
object names (DNS-1035 labels for Services, DNS-1123 subdomains otherwise), label keys and
values, finalizers. A failure is the apiserver's 422 Invalid, except label or annotation
values that are not strings, which the apiserver cannot even decode (400 BadRequest).
Kind-specific schema validation is not modelled.
"""

from __future__ import annotations

import re

from fakeapi_paths import Json, Target, bad_request, invalid
from fakeapi_selectors import LABEL_KEY, LABEL_VALUE

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1035_KINDS = frozenset({"services"})


def _name_problem(target: Target, name: str) -> str | None:
    if target.plural in DNS1035_KINDS:
        if len(name) > 63 or not DNS1035_LABEL.match(name):
            return (
                f'Invalid value: "{name}": a DNS-1035 label must consist of lower case'
                " alphanumeric characters or '-', start with an alphabetic character, and end"
                " with an alphanumeric character, at most 63 characters"
            )
        return None
    if len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
        return (
            f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower'
            " case alphanumeric characters, '-' or '.', and must start and end with an"
            " alphanumeric character, at most 253 characters"
        )
    return None


def validate_metadata(target: Target, meta: Json) -> None:
    name = str(meta.get("name") or "")
    problem = _name_problem(target, name)
    if problem:
        raise invalid(target, name, "metadata.name", problem)
    for field in ("labels", "annotations"):
        values = meta.get(field) or {}
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise bad_request(f"json: cannot unmarshal metadata.{field}: values must be strings")
    for key, value in (meta.get("labels") or {}).items():
        if not LABEL_KEY.match(key) or len(key) > 317:
            raise invalid(target, name, "metadata.labels", f'Invalid value: "{key}": bad key')
        if not LABEL_VALUE.match(value):
            problem = (
                f'Invalid value: "{value}": a valid label must be an empty string or consist of'
                " alphanumeric characters, '-', '_' or '.', and must start and end with an"
                " alphanumeric character, at most 63 characters"
            )
            raise invalid(target, name, f"metadata.labels[{key}]", problem)
    finalizers = meta.get("finalizers") or []
    if not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers):
        raise invalid(target, name, "metadata.finalizers", "Invalid value: must be strings")
