"""The Prometheus exposition text: families, escaping, sample lines, formats.

A `Family` is a metric family's name, help and type. Its header (`# HELP` and
`# TYPE`) is written once per scrape; its samples are rendered per object by
the resource modules with `sample()`.

Two wire formats are served. Prometheus text format 0.0.4 and OpenMetrics 1.0
write gauge samples identically; they differ in how `# HELP` is escaped
(OpenMetrics also escapes double quotes) and in the `# EOF` terminator, which
the HTTP layer appends after the exporter's own metrics.

Label names are written in lexicographic order, as client_golang (and so
KubeRay) writes them; values are escaped as both formats require (backslash,
double quote, line feed) and encoded as UTF-8. Text that cannot be encoded
(lone surrogates, which JSON can carry) is replaced rather than raised on.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass


class Format(enum.Enum):
    """A wire format the scraper may ask for."""

    TEXT = "text/plain; version=0.0.4; charset=utf-8"
    OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

    @property
    def content_type(self) -> str:
        return self.value


@dataclass(frozen=True)
class Family:
    """One metric family: name, help text, type."""

    name: str
    help: str
    type: str = "gauge"

    def header(self, fmt: Format) -> bytes:
        """The `# HELP` and `# TYPE` lines for this family in `fmt`."""
        escaped = self.help.replace("\\", "\\\\").replace("\n", "\\n")
        if fmt is Format.OPENMETRICS:
            escaped = escaped.replace('"', '\\"')
        return f"# HELP {self.name} {escaped}\n# TYPE {self.name} {self.type}\n".encode()


def escape_label_value(value: str) -> str:
    """Escape a label value for the text formats: backslash, double quote, line feed."""
    if "\\" in value or '"' in value or "\n" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def format_value(value: float) -> str:
    """A sample value the way client_golang writes it: Go's `strconv` 'g' format, shortest.

    The shortest digits that round-trip, in exponent notation when the decimal
    exponent is below -4 or at least 6 (so 123456 but 1.234567e+06, 0.0001 but
    1e-05), as KubeRay's output reads.
    """
    value = float(value)  # an int is written as the float64 Go would hold it
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    point = len(whole) + (int(exp_text) if exp_text else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    exponent = point - 1
    if exponent < -4 or exponent >= 6:
        body = f"{digits[0]}.{digits[1:]}" if len(digits) > 1 else digits
        return f"{sign}{body}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    if len(digits) <= exponent + 1:
        return f"{sign}{digits}{'0' * (exponent + 1 - len(digits))}"
    return f"{sign}{digits[: exponent + 1]}.{digits[exponent + 1 :]}"


def labels_text(labels: dict[str, str]) -> str:
    """`{a="x",b="y"}` with names sorted and values escaped."""
    inner = ",".join(f'{key}="{escape_label_value(labels[key])}"' for key in sorted(labels))
    return "{" + inner + "}"


def sample(name: str, labels: dict[str, str], value: float) -> str:
    """One sample line, newline-terminated."""
    return f"{name}{labels_text(labels)} {format_value(value)}\n"


def encode(text: str) -> tuple[bytes, bool]:
    """UTF-8 bytes of `text`, and whether something had to be replaced to get them."""
    try:
        return text.encode("utf-8"), False
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace"), True
