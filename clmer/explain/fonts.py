"""Chinese (CJK) glyphs for the self-contained report, embedded so the page needs no system font.

A report is opened on whatever machine the analyst has; without a CJK font there, Chinese
transcripts render as boxes. So each page carries a subset of Noto Sans CJK SC holding exactly the
CJK characters the page uses (a few KB), as a ``data:`` font that the page's CSP allows.

The full font comes from the `noto-cjk-sans-otc` PyPI package (a dependency; SIL OFL 1.1), else
``$CLMER_CJK_FONT``, else Debian's `fonts-noto-cjk`. Without any, the page falls back to the
viewer's fonts and says so.
"""

from __future__ import annotations

import base64
import functools
import io
import os
from pathlib import Path

FAMILY = "CLMER CJK"
DEBIAN_FONTS = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
                "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf")
# CJK symbols and punctuation, kana, CJK unified ideographs (+ extension A, compatibility), fullwidth forms.
CJK_RANGES = ((0x3000, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0xFF00, 0xFFEF))


def is_cjk(ch: str) -> bool:
    return any(lo <= ord(ch) <= hi for lo, hi in CJK_RANGES)


def cjk_chars(text: str) -> str:
    """The distinct CJK characters of `text`, sorted (so the same text gives the same font)."""
    return "".join(sorted({c for c in text if is_cjk(c)}))


def _package_font() -> Path | None:
    try:
        import noto_cjk_sans_otc
    except ImportError:
        return None
    path = Path(str(noto_cjk_sans_otc.FONT_PATH))
    return path if path.is_file() else None


def find_cjk_font() -> Path | None:
    """The first CJK font file present: $CLMER_CJK_FONT, the PyPI package, Debian's package."""
    override = os.environ.get("CLMER_CJK_FONT")
    if override:
        return Path(override) if Path(override).is_file() else None
    found = _package_font()
    if found:
        return found
    return next((Path(p) for p in DEBIAN_FONTS if Path(p).is_file()), None)


def _face_index(path: Path) -> int:
    """In a collection (.ttc), the Simplified Chinese face; 0 for a single font."""
    if path.suffix.lower() != ".ttc":
        return 0
    from fontTools.ttLib import TTCollection

    names = [f["name"].getDebugName(4) or "" for f in TTCollection(str(path), lazy=True).fonts]
    return next((i for i, n in enumerate(names) if n.endswith(" SC")), 0)


@functools.lru_cache(maxsize=64)
def _subset(path: str, chars: str) -> bytes:
    """An OpenType font with only `chars` (no hinting, no layout features: the page needs neither)."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(path, fontNumber=_face_index(Path(path)))
    options = subset.Options()
    options.layout_features, options.hinting, options.desubroutinize = [], False, True
    options.name_IDs, options.notdef_outline = [1, 2], True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=chars)
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def _unicode_range(chars: str) -> str:
    return ",".join(f"U+{ord(c):X}" for c in chars)


def font_face_css(text: str) -> tuple[str, bool]:
    """(@font-face rule for the CJK characters of `text`, whether the glyphs are embedded).

    ('', True) when the text has no CJK character; ('', False) when it has some but no font is here."""
    chars = cjk_chars(text)
    if not chars:
        return "", True
    path = find_cjk_font()
    if path is None:
        return "", False
    b64 = base64.b64encode(_subset(str(path), chars)).decode("ascii")
    return (f'@font-face{{font-family:"{FAMILY}";src:url(data:font/otf;base64,{b64}) format("opentype");'
            f"unicode-range:{_unicode_range(chars)};font-display:block}}"), True
