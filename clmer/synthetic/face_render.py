"""A drawn face whose expression follows a valence in [-1, 1], for the demo corpus.

Valence bends the mouth (smile / flat / frown), tilts the brows (relaxed and raised vs. pulled
down), and opens or narrows the eyes. While the voice speaks, the mouth opens with the audio
envelope; the eyes blink now and then. Skin, hair and background vary per speaker so the label
cannot be read from colours. The face is centred and upright, as the aligned face crop of a face
tracker would be: a random (tiny-profile) vision model only sees an expression if the mouth falls
on the same patches every time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

_SKIN = [(241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36), (255, 219, 172), (234, 192, 134)]
_HAIR = [(40, 30, 20), (90, 60, 30), (20, 20, 20), (150, 110, 60), (200, 170, 120)]
_BACKGROUND = [(200, 215, 230), (225, 225, 210), (210, 230, 210), (230, 210, 220), (190, 190, 200)]


@dataclass(frozen=True)
class FaceStyle:
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    background: tuple[int, int, int]
    dx: float  # face centre offset, fraction of width
    dy: float
    scale: float

    @classmethod
    def random(cls, rng: np.random.Generator) -> "FaceStyle":
        return cls(
            skin=_SKIN[rng.integers(len(_SKIN))],
            hair=_HAIR[rng.integers(len(_HAIR))],
            background=_BACKGROUND[rng.integers(len(_BACKGROUND))],
            dx=float(rng.uniform(-0.005, 0.005)),
            dy=float(rng.uniform(-0.005, 0.005)),
            scale=float(rng.uniform(0.98, 1.02)),
        )


def render_face(width: int, height: int, valence: float, style: FaceStyle,
                mouth_open: float = 0.0, blink: bool = False, sway: float = 0.0) -> np.ndarray:
    """One RGB frame (height x width x 3, uint8)."""
    v = float(np.clip(valence, -1.0, 1.0))
    img = Image.new("RGB", (width, height), style.background)
    d = ImageDraw.Draw(img)
    s = min(width, height) * style.scale
    cx = width * (0.5 + style.dx) + sway * s * 0.005
    cy = height * (0.52 + style.dy)
    fw, fh = 0.34 * s, 0.44 * s  # face half-width / half-height

    d.ellipse([cx - fw * 1.05, cy - fh * 1.08, cx + fw * 1.05, cy + fh * 0.2], fill=style.hair)
    d.rectangle([cx - 0.12 * s, cy + fh * 0.8, cx + 0.12 * s, height], fill=style.skin)
    d.ellipse([cx - fw, cy - fh, cx + fw, cy + fh], fill=style.skin, outline=(90, 60, 40), width=max(1, int(s / 120)))

    eye_y = cy - 0.12 * s
    eye_dx = 0.14 * s
    eye_w = 0.065 * s
    eye_h = 0.0 if blink else 0.035 * s * (1.0 + 0.35 * v)  # wide when happy, narrowed when upset
    for side in (-1, 1):
        ex = cx + side * eye_dx
        d.ellipse([ex - eye_w, eye_y - max(eye_h, 1), ex + eye_w, eye_y + max(eye_h, 1)], fill=(250, 250, 250),
                  outline=(40, 30, 30), width=max(1, int(s / 150)))
        if not blink:
            r = 0.025 * s
            d.ellipse([ex - r, eye_y - r, ex + r, eye_y + r], fill=(40, 30, 30))
        # Brows: negative valence pulls the inner ends down (frown), positive lifts the whole brow.
        inner = eye_y - 0.085 * s + (0.06 * s * -min(v, 0.0)) - 0.03 * s * max(v, 0.0)
        outer = eye_y - 0.095 * s - 0.035 * s * max(v, 0.0) - 0.03 * s * -min(v, 0.0)
        d.line([ex - side * 0.02 * s, inner, ex + side * 0.11 * s, outer], fill=style.hair, width=max(3, int(s / 30)))

    d.polygon([(cx, cy - 0.05 * s), (cx - 0.035 * s, cy + 0.07 * s), (cx + 0.035 * s, cy + 0.07 * s)],
              fill=tuple(int(c * 0.85) for c in style.skin))

    _mouth(d, cx, cy + 0.2 * s, 0.13 * s * (1.0 + 0.25 * v), v, mouth_open, s)
    return np.asarray(img)


def _mouth(d: ImageDraw.ImageDraw, cx: float, my: float, half: float, v: float, opening: float, s: float) -> None:
    """A quadratic curve: corners up for positive valence (smile), down for negative."""
    xs = np.linspace(-1.0, 1.0, 25)
    bend = 0.12 * s * v  # image y grows downward: a smile puts the middle below the corners
    upper = [(cx + x * half, my + bend * (1.0 - x * x) - bend * 0.5) for x in xs]
    gap = max(0.0, min(1.0, opening)) * 0.07 * s
    lower = [(x, y + gap * (1.0 - ((x - cx) / half) ** 2)) for x, y in upper]
    if gap > 1.0:
        d.polygon(upper + lower[::-1], fill=(120, 30, 40), outline=(90, 20, 30))
    else:
        d.line(upper, fill=(120, 30, 40), width=max(3, int(s / 28)), joint="curve")
