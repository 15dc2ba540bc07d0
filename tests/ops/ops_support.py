"""Helpers of the ops tests: where the files are, a unit-file reader, PromQL selectors.

Imported by the test modules (``conftest.py`` puts this folder on ``sys.path``).
"""

from __future__ import annotations

import re
from pathlib import Path

#: The ops files under test.
DEPLOY = Path(__file__).parents[2] / "deploy"


def read_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A systemd unit file as ``{section: [(key, value), ...]}`` (keys may repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    text = re.sub(r"\\\n", " ", path.read_text())  # continuation lines
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a key=value line: {line!r}"
        current.append((key.strip(), value.strip()))
    return sections


def unit_values(unit: dict[str, list[tuple[str, str]]], section: str, key: str) -> list[str]:
    """Every value given to ``key`` in ``section``."""
    return [v for k, v in unit.get(section, []) if k == key]


# -- PromQL ------------------------------------------------------------------
_STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`'
_TOKEN = re.compile(
    rf"(?P<string>{_STRING})|(?P<labels>\{{(?:{_STRING}|[^}}\"'`])*\}})|(?P<range>\[[^\]]*\])"
    r"|(?P<number>(?<![\w:])\d[\w.]*)|(?P<name>[A-Za-z_:][\w:]*)|(?P<other>\S)"
)
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_KEYWORDS = frozenset(
    "and or unless bool offset by without on ignoring group_left group_right inf nan".split()
)
_MATCHER = re.compile(rf"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)\s*(?:{_STRING})")


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """The series selectors of a PromQL expression: ``(metric name, label names matched)``.

    Function and aggregation names (followed by ``(``), keywords, numbers,
    durations and the label lists of ``by (...)``/``on (...)`` are not metric
    names; Grafana's ``$__rate_interval`` sits inside a range and is skipped too.
    """
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(_GROUPING.sub(" ", expr))]
    found = []
    for i, (kind, text) in enumerate(tokens):
        if kind != "name" or text.lower() in _KEYWORDS:
            continue
        following = tokens[i + 1] if i + 1 < len(tokens) else (None, "")
        if following == ("other", "("):
            continue  # a function or an aggregation
        labels = set(_MATCHER.findall(following[1])) if following[0] == "labels" else set()
        found.append((text, labels))
    return found
