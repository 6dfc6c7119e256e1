"""Text from outside (file names, error messages that quote them) made inert in a markdown document.

A drop's file names reach the Prefect artifacts, which render markdown and the HTML inside it: a name
like `[x](javascript:...).mp4` or `<img src=https://...>.mp4` became a live link or a beacon. Names go
into code spans (nothing in one is a link or a tag) and other text has every character that can start
markup written as a numeric character reference (`_` as `&#95;`): CommonMark never reads a reference as
markup, and unlike backslash escapes every renderer shows it as the character (the Prefect UI showed
`combined\_results\.csv` with its backslashes); line breaks and control characters are
escaped first (`safe_csv.escape_field`), so one name stays on its line and its list item.
"""

from __future__ import annotations

import re

from clmer.data.safe_csv import escape_field

# the characters that can start markup (emphasis, links, headings, lists, tables, autolinks, tags, entities)
_MARKUP = set("\\`*_{}[]()#+-.!|~:\"'=&<>")


def md_text(text: object) -> str:
    """`text` as plain words in markdown: no link, emphasis, tag or line break survives."""
    return "".join(f"&#{ord(ch)};" if ch in _MARKUP else ch for ch in escape_field(text))


def md_code(text: object) -> str:
    """`text` as one inline code span, whatever backticks it holds (the fence is longer than any run
    inside, as CommonMark allows); code spans render no links and no HTML."""
    one_line = escape_field(text)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", one_line)), default=0) + 1)
    pad = " " if one_line.startswith("`") or one_line.endswith("`") or not one_line.strip() else ""
    return f"{fence}{pad}{one_line}{pad}{fence}"
