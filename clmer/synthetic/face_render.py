"""Drawn faces for the demo corpus: an identity per speaker, an expression per frame.

Identity (`FaceStyle`, one per speaker): skin tone (six tones, jittered), hair colour and cut,
background, face scale and position, eye size and spacing, mouth width, a *resting* mouth bend and
brow height (some people look cheerful or stern at rest), glasses, lighting (brightness, colour cast,
a side light), head roll and blink rate. These differ far more between speakers than any expression
moves them, so no colour or pixel count reads the label.

Expression (per frame): the mouth bends from its resting shape (corners up or down), the brows lift or
pull together, and `eye_smile` narrows the eyes as a cheek raise does (a Duchenne smile). While the
voice speaks, the mouth opens with the audio envelope; the eyes blink now and then. `shift` moves the
whole face (it may leave the frame), and `render_empty` draws the room with nobody in it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

_SKIN = [(241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36), (255, 219, 172), (234, 192, 134)]
_HAIR = [(40, 30, 20), (90, 60, 30), (20, 20, 20), (150, 110, 60), (200, 170, 120), (120, 120, 125)]
_BACKGROUND = [(200, 215, 230), (225, 225, 210), (210, 230, 210), (230, 210, 220), (190, 190, 200), (160, 170, 150),
               (120, 130, 150), (235, 235, 235)]


def _jitter(rng: np.random.Generator, colour: tuple[int, int, int], amount: float) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.normal(0, amount), 0, 255)) for c in colour)  # type: ignore[return-value]


@dataclass(frozen=True)
class FaceStyle:
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    background: tuple[int, int, int]
    dx: float  # face centre offset, fraction of width
    dy: float
    scale: float
    eye_size: float = 1.0  # eye height and width factor
    eye_gap: float = 1.0  # distance between the eyes, factor
    mouth_width: float = 1.0
    mouth_rest: float = 0.0  # resting mouth bend, in valence units
    brow_rest: float = 0.0  # resting brow lift, in valence units
    hair_cut: int = 0  # 0 short, 1 long, 2 bald
    glasses: bool = False
    light_gain: float = 1.0
    light_cast: tuple[float, float, float] = (1.0, 1.0, 1.0)
    light_side: float = 0.0  # brightness slope across the frame (-: lit from the left)
    roll_deg: float = 0.0
    blink_rate: float = 0.25  # blinks per second

    @classmethod
    def random(cls, rng: np.random.Generator) -> "FaceStyle":
        warm = float(rng.uniform(-0.08, 0.08))
        return cls(
            skin=_jitter(rng, _SKIN[rng.integers(len(_SKIN))], 10), hair=_jitter(rng, _HAIR[rng.integers(len(_HAIR))], 8),
            background=_jitter(rng, _BACKGROUND[rng.integers(len(_BACKGROUND))], 12),
            dx=float(rng.uniform(-0.06, 0.06)), dy=float(rng.uniform(-0.05, 0.05)), scale=float(rng.uniform(0.78, 1.08)),
            eye_size=float(rng.uniform(0.7, 1.35)), eye_gap=float(rng.uniform(0.88, 1.12)),
            mouth_width=float(rng.uniform(0.8, 1.2)), mouth_rest=float(rng.uniform(-0.35, 0.35)),
            brow_rest=float(rng.uniform(-0.35, 0.35)), hair_cut=int(rng.integers(3)), glasses=bool(rng.random() < 0.25),
            light_gain=float(rng.uniform(0.72, 1.12)), light_cast=(1.0 + warm, 1.0, 1.0 - warm),
            light_side=float(rng.uniform(-0.25, 0.25)), roll_deg=float(rng.uniform(-7, 7)),
            blink_rate=float(rng.uniform(0.12, 0.45)),
        )


def render_face(width: int, height: int, valence: float, style: FaceStyle, mouth_open: float = 0.0,
                blink: bool = False, sway: float = 0.0, brow: float | None = None, eye_smile: float = 0.0,
                shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """One RGB frame (height x width x 3, uint8). `valence` bends the mouth from its resting shape,
    `brow` (default: `valence`) lifts the brows, `eye_smile` in [0, 1] narrows the eyes; `shift` moves
    the face by that fraction of the frame (beyond +-0.5 it is gone)."""
    v = float(np.clip(valence + style.mouth_rest, -1.3, 1.3))
    b = float(np.clip((valence if brow is None else brow) + style.brow_rest, -1.3, 1.3))
    img = Image.new("RGB", (width, height), style.background)
    d = ImageDraw.Draw(img)
    s = min(width, height) * style.scale
    cx = width * (0.5 + style.dx + shift[0]) + sway * s * 0.01
    cy = height * (0.52 + style.dy + shift[1])
    fw, fh = 0.34 * s, 0.44 * s  # face half-width / half-height
    if style.hair_cut == 1:  # long hair falls behind the shoulders
        d.rectangle([cx - fw * 1.1, cy - fh * 0.3, cx + fw * 1.1, cy + fh * 1.05], fill=style.hair)
    if style.hair_cut != 2:
        d.ellipse([cx - fw * 1.05, cy - fh * 1.08, cx + fw * 1.05, cy + fh * 0.2], fill=style.hair)
    d.rectangle([cx - 0.12 * s, cy + fh * 0.8, cx + 0.12 * s, height], fill=style.skin)
    d.ellipse([cx - fw, cy - fh, cx + fw, cy + fh], fill=style.skin, outline=(90, 60, 40), width=max(1, int(s / 120)))
    _eyes(d, cx, cy, s, style, b, blink, eye_smile)
    d.polygon([(cx, cy - 0.05 * s), (cx - 0.035 * s, cy + 0.07 * s), (cx + 0.035 * s, cy + 0.07 * s)],
              fill=tuple(int(c * 0.85) for c in style.skin))
    _mouth(d, cx, cy + 0.2 * s, 0.13 * s * style.mouth_width * (1.0 + 0.15 * v), v, mouth_open, s)
    if style.roll_deg:
        img = img.rotate(style.roll_deg, center=(cx, cy), resample=Image.BILINEAR, fillcolor=style.background)
    return light(np.asarray(img), style)


def render_empty(width: int, height: int, style: FaceStyle) -> np.ndarray:
    """The room without the speaker (a door frame and a shelf), lit as the speaker's clips are."""
    img = Image.new("RGB", (width, height), style.background)
    d = ImageDraw.Draw(img)
    shade = tuple(int(c * 0.8) for c in style.background)
    d.rectangle([width * 0.62, height * 0.18, width * 0.86, height], outline=shade, width=max(2, width // 60))
    d.rectangle([width * 0.08, height * 0.45, width * 0.4, height * 0.5], fill=shade)
    return light(np.asarray(img), style)


def light(frame: np.ndarray, style: FaceStyle, gain: float = 1.0) -> np.ndarray:
    """The speaker's lighting: brightness, colour cast and a side light falling off across the frame."""
    w = frame.shape[1]
    ramp = 1.0 + style.light_side * np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, :, None]
    lit = frame.astype(np.float32) * (style.light_gain * gain) * np.asarray(style.light_cast, np.float32) * ramp
    return np.clip(lit, 0, 255).astype(np.uint8)


def _eyes(d: ImageDraw.ImageDraw, cx: float, cy: float, s: float, style: FaceStyle, b: float, blink: bool,
          eye_smile: float) -> None:
    eye_y = cy - 0.12 * s
    eye_dx = 0.14 * s * style.eye_gap
    eye_w = 0.065 * s * style.eye_size
    open_h = 0.0 if blink else 0.035 * s * style.eye_size * (1.0 - 0.45 * float(np.clip(eye_smile, 0.0, 1.0)))
    for side in (-1, 1):
        ex = cx + side * eye_dx
        d.ellipse([ex - eye_w, eye_y - max(open_h, 1), ex + eye_w, eye_y + max(open_h, 1)], fill=(246, 244, 240),
                  outline=(40, 30, 30), width=max(1, int(s / 150)))
        if not blink:
            r = min(0.025 * s, open_h + 1)
            d.ellipse([ex - r, eye_y - r, ex + r, eye_y + r], fill=(40, 30, 30))
        if eye_smile > 0.05 and not blink:  # the cheek pushes up a crease under the eye
            d.arc([ex - eye_w, eye_y - 0.01 * s, ex + eye_w, eye_y + 0.05 * s + 0.02 * s * eye_smile], 20, 160,
                  fill=tuple(int(c * 0.7) for c in style.skin), width=max(1, int(s / 120)))
        # Brows: pulled down at the inner end when b < 0 (frown), lifted as a whole when b > 0.
        inner = eye_y - 0.085 * s + (0.06 * s * -min(b, 0.0)) - 0.03 * s * max(b, 0.0)
        outer = eye_y - 0.095 * s - 0.035 * s * max(b, 0.0) - 0.03 * s * -min(b, 0.0)
        d.line([ex - side * 0.02 * s, inner, ex + side * 0.11 * s, outer], fill=style.hair if style.hair_cut != 2
               else (60, 45, 35), width=max(3, int(s / 30)))
        if style.glasses:
            g = 0.09 * s * style.eye_size
            d.ellipse([ex - g, eye_y - g * 0.75, ex + g, eye_y + g * 0.75], outline=(30, 30, 30), width=max(2, int(s / 90)))


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
