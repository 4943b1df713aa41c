"""Print the replace/exclude directives a tools module must copy from a target go.mod.

`go install pkg@version` refuses modules whose go.mod has replace or exclude
lines, so each tool is built from a small tools module of its own. That module
must repeat the target's non-local replace and exclude directives. Local
replaces that point into a staging tree (Kubernetes) are rewritten to the
published module at `staging_version`.

Usage: gomod_pins.py TARGET_GO_MOD [STAGING_VERSION]
"""

from __future__ import annotations

import re
import sys

DIRECTIVE = re.compile(r"^(replace|exclude)\s*(\(?)\s*(.*)$")


def directives(text: str) -> list[tuple[str, str]]:
    """Return (kind, body) for every replace/exclude entry, blocks flattened."""
    out: list[tuple[str, str]] = []
    block: str | None = None
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if block:
            if line == ")":
                block = None
            else:
                out.append((block, line))
            continue
        m = DIRECTIVE.match(line)
        if not m:
            continue
        kind, paren, rest = m.groups()
        if paren:
            block = kind
        else:
            out.append((kind, rest))
    return out


def rewrite(kind: str, body: str, staging_version: str) -> str | None:
    if kind == "exclude":
        return body
    left, _, right = (part.strip() for part in body.partition("=>"))
    target = right.split()
    if target[0].startswith((".", "/")):
        if not staging_version or "/staging/" not in target[0]:
            return None
        module = left.split()[0]
        return f"{module} => {module} {staging_version}"
    return body


def main() -> int:
    path = sys.argv[1]
    staging_version = sys.argv[2] if len(sys.argv) > 2 else ""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    for kind, body in directives(text):
        line = rewrite(kind, body, staging_version)
        if line is not None:
            print(f"{kind} {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
