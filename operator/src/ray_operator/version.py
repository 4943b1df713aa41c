"""The release version and source commit of `ray-operator`, as `ray-operator --version` prints them.

The version is the installed distribution's (operator/pyproject.toml and
exporter/pyproject.toml carry the repository's VERSION file, checked by a test).
The commit is read from a `COMMIT` file beside this module, which the image
build writes (hack/images.sh, or the Dockerfile's `COMMIT` build argument);
when it is absent and the package runs from this repository's checkout (an
editable install), from git; otherwise
it is `unknown`.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
from pathlib import Path

DISTRIBUTION = "ray-operator"
UNKNOWN = "unknown"


def version() -> str:
    """The installed distribution's version, or `unknown` outside an installation."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return UNKNOWN


def commit(package_dir: Path | None = None) -> str:
    """The source commit: the baked-in `COMMIT` file, else git, else `unknown`."""
    here = package_dir or Path(__file__).resolve().parent
    baked = here / "COMMIT"
    if baked.is_file():
        return baked.read_text(encoding="utf-8").strip() or UNKNOWN
    checkout = here.parents[2]  # <repository>/<project>/src/<package>
    if not (checkout / "VERSION").is_file():
        return UNKNOWN
    try:
        done = subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:  # no git
        return UNKNOWN
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else UNKNOWN


def describe() -> str:
    """The line `--version` prints: `ray-operator <version> (commit <sha>)`."""
    return f"{DISTRIBUTION} {version()} (commit {commit()})"
