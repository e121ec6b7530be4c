"""What the `jobqueue` command prints: aligned tables for people, JSON for scripts, progress on stderr."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = ["Column", "Progress", "as_json", "fields", "millis", "table", "text"]

Column = tuple[str, Callable[[Mapping[str, Any]], Any]]
"""A header and how to read the cell from a row."""

_WIDEST_CELL = 60


def text(value: Any) -> str:
    """A cell: empty for None, compact JSON for structures, one line, cut at a readable width."""
    if value is None:
        shown = ""
    elif isinstance(value, str):
        shown = value
    elif isinstance(value, bool):
        shown = "yes" if value else "no"
    elif isinstance(value, int | float):
        shown = str(value)
    else:
        shown = json.dumps(value, separators=(",", ":"), default=str)
    shown = " ".join(shown.split())
    return shown if len(shown) <= _WIDEST_CELL else shown[:_WIDEST_CELL - 1] + "…"


def millis(value: Any) -> str:
    """A BullMQ timestamp (ms since the epoch) as UTC ISO 8601 to the second."""
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        return ""
    return datetime.fromtimestamp(value / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], out: TextIO) -> None:
    """Rows under upper-case headers, columns padded to their widest cell, numbers aligned right."""
    cells = [[text(read(row)) for _, read in columns] for row in rows]
    numeric = [all(_is_number(read(row)) for row in rows) and bool(rows) for _, read in columns]
    widths = [max([len(header), *(len(r[i]) for r in cells)]) for i, (header, _) in enumerate(columns)]
    for line in [[header.upper() for header, _ in columns], *cells]:
        padded = [cell.rjust(w) if right else cell.ljust(w) for cell, w, right in zip(line, widths, numeric,
                                                                                        strict=True)]
        out.write("  ".join(padded).rstrip() + "\n")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def fields(pairs: Sequence[tuple[str, Any]], out: TextIO) -> None:
    """One record as `label: value` lines, labels aligned."""
    width = max(len(label) for label, _ in pairs)
    for label, value in pairs:
        out.write(f"{label + ':':<{width + 1}} {text(value)}".rstrip() + "\n")


def as_json(value: Any, out: TextIO) -> None:
    out.write(json.dumps(value, indent=2, default=str) + "\n")


class Progress:
    """`done/total` for a long operation on stderr: one rewritten line on a terminal, milestones elsewhere.

    Only operations of at least `minimum` items report, so a short one prints nothing.
    """

    def __init__(self, label: str, out: TextIO | None = None, minimum: int = 20) -> None:
        self.label = label
        self.out = out or sys.stderr
        self.minimum = minimum
        self.live = self.out.isatty()
        self._last = 0.0
        self._milestone = 0

    def __call__(self, done: int, total: int) -> None:
        if total < self.minimum:
            return
        line = f"{self.label}: {done}/{total} ({done * 100 // total}%)"
        if self.live:
            now = time.monotonic()
            if done == total or now - self._last >= 0.1:
                self._last = now
                self.out.write("\r" + line + ("\n" if done == total else ""))
                self.out.flush()
            return
        quarter = done * 4 // total
        if quarter > self._milestone:
            self._milestone = quarter
            self.out.write(line + "\n")
