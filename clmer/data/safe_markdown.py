"""Text from outside (file names, error messages that quote them) made inert in a markdown document.

A drop's file names reach the Prefect artifacts, which render markdown and the HTML inside it: a name
like `[x](javascript:...).mp4` or `<img src=https://...>.mp4` became a live link or a beacon. Such text
goes into a code span (nothing in one is a link or a tag), with line breaks and control characters
escaped first (`safe_csv.escape_field`), so one name stays on its line and its list item. Escaping
instead of a code span does not read right: the Prefect UI shows a text token's characters as they are,
backslash escapes and character references included (`combined\\_results\\.csv`, `&#95;`).
"""

from __future__ import annotations

import re

from clmer.data.safe_csv import escape_field


def md_code(text: object) -> str:
    """`text` as one inline code span, whatever backticks it holds (the fence is longer than any run
    inside, as CommonMark allows); code spans render no links and no HTML."""
    one_line = escape_field(text)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", one_line)), default=0) + 1)
    pad = " " if one_line.startswith("`") or one_line.endswith("`") or not one_line.strip() else ""
    return f"{fence}{pad}{one_line}{pad}{fence}"
