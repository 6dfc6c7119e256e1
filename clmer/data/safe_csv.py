"""The one CSV writer (and reader) for every table CLMER writes, and escaping for its text logs.

File names and transcripts come from whoever filled a drop or a corpus. A spreadsheet runs a cell
that starts with `=`, `+`, `-` or `@` as a formula, and it trims leading spaces and folds the
full-width forms (`＝`, `＋`, `－`, `＠`) into those first. So a text cell whose first character,
after that trimming and NFKC folding, could start a formula, or which starts with a control
character, is written with a leading `'`. A cell that already starts with `'` gets one more, so
`read_csv` can strip exactly one quote from every quoted cell: the escaping is exact and
reversible, and a name read back is the name that was written (the drop tables key on it).

Text logs (one record per line) escape line breaks, tabs and other control characters with
`escape_field`, so a name with a newline cannot split or forge a line.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pandas as pd

from clmer import atomic

_FORMULA = ("=", "+", "-", "@")
_QUOTE = "'"


def needs_quote(value: str) -> bool:
    """Whether a spreadsheet could read `value` as a formula, or it starts with our escape quote."""
    if not value:
        return False
    first = value[0]
    if first == _QUOTE or unicodedata.category(first) in ("Cc", "Cf", "Zl", "Zp"):
        return True
    # the whole leading run of blanks: 70 spaces (or 66 ideographic ones) then `=` is still a formula
    folded = unicodedata.normalize("NFKC", value.lstrip()[:8]).lstrip()
    return folded.startswith(_FORMULA)


def neutralise_cell(value):
    return _QUOTE + value if isinstance(value, str) and needs_quote(value) else value


def restore_cell(value):
    """The inverse of `neutralise_cell` for a cell read back as text."""
    return value[1:] if isinstance(value, str) and value.startswith(_QUOTE) else value


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every text cell that could run as a formula quoted (numbers are left alone)."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise_cell)
    return out


def to_csv_text(frame: pd.DataFrame) -> str:
    # CRLF rows (RFC 4180): then a cell holding a lone CR is quoted too, and reads back whole.
    return neutralise(frame).to_csv(index=False, lineterminator="\r\n")


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write `frame` neutralised, atomically (readers see the old table or the new one)."""
    return atomic.write_text(path, to_csv_text(frame))


def read_csv(path: str | Path) -> pd.DataFrame:
    """A table written by `write_csv`, as text, with the escaping undone exactly."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    return frame.apply(lambda col: col.map(restore_cell))


_NAMED = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_field(text: object) -> str:
    """One log field on one line: backslash, line breaks, tabs and every other control or
    line-separator character become backslash escapes (reversible with `unescape_field`)."""
    out = []
    for ch in str(text):
        if ch in _NAMED:
            out.append(_NAMED[ch])
        elif unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def unescape_field(text: str) -> str:
    out, i = [], 0
    back = {v[1]: k for k, v in _NAMED.items()}
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "u":
                out.append(chr(int(text[i + 2: i + 6], 16)))
                i += 6
                continue
            out.append(back.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)
