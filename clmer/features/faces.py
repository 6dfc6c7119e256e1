"""Face boxes in video frames: OpenCV's Haar cascade (the largest frontal face), a centred square
when none is found, and the crop + normalisation the FER-2013 expression model expects.

Used by the small profile's facial-expression encoder and by report privacy (blurring).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

#: A face box in pixel coordinates of the frame: (x, y, width, height), like OpenCV returns.
Box = tuple[int, int, int, int]
INPUT_SIZE = 64  # the FER-2013 models' square grey input


@lru_cache(maxsize=1)
def _cascade():
    import cv2

    path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
    clf = cv2.CascadeClassifier(str(path))
    if clf.empty():
        raise RuntimeError(f"could not load Haar cascade from {path}")
    return clf


def _to_grey(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3), RGBA or grey (H, W) -> uint8 grey (H, W)."""
    import cv2

    img = np.asarray(rgb)
    if img.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got {img.dtype}")
    if img.ndim == 2:
        return img
    if img.ndim == 3 and img.shape[2] == 3:
        return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_RGBA2GRAY)
    raise ValueError(f"expected (H, W), (H, W, 3) or (H, W, 4), got {img.shape}")


def centre_box(rgb: np.ndarray, fraction: float = 1.0) -> Box:
    """A centred square, ``fraction`` of the frame's shorter side: the no-face fallback.

    ``fraction=1`` is the largest centred square. On CLMER's 256x256 drawn faces the Haar box
    plus fer's 10 px offset covers ~0.9 of the frame, so ``fraction=0.9`` mimics it; tighter
    crops (0.75) lose the context the FER-2013 model expects and read everything as neutral.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    h, w = np.asarray(rgb).shape[:2]
    side = max(1, round(min(h, w) * fraction))
    return ((w - side) // 2, (h - side) // 2, side, side)


def detect_face(
    rgb: np.ndarray,
    *,
    scale_factor: float = 1.1,
    min_neighbors: int = 5,
    min_size: int = 50,
    fallback_centre: bool = False,
    centre_fraction: float = 1.0,
) -> Box | None:
    """Largest frontal face found by OpenCV's Haar cascade, as (x, y, w, h).

    Defaults match ``fer.FER`` (scaleFactor 1.1, minNeighbors 5, minSize 50 px; lower
    ``min_size`` for small frames). Returns ``None`` when nothing is found, or
    ``centre_box(rgb, centre_fraction)`` when ``fallback_centre`` is true. The cascade object
    is loaded once per process and shared; give each thread its own process (or a lock) if
    frames are detected concurrently.
    """
    import cv2

    grey = _to_grey(rgb)
    faces = _cascade().detectMultiScale(
        grey,
        scaleFactor=scale_factor,
        minNeighbors=min_neighbors,
        flags=cv2.CASCADE_SCALE_IMAGE,
        minSize=(min_size, min_size),
    )
    if len(faces) == 0:
        return centre_box(rgb, centre_fraction) if fallback_centre else None
    x, y, w, h = max((tuple(int(v) for v in f) for f in faces), key=lambda b: b[2] * b[3])
    return (x, y, w, h)


def _square_with_offset(box: Box, offset: int) -> tuple[int, int, int, int]:
    """fer's crop geometry: grow the shorter side to a square, then add ``offset`` px each side.

    Returns (x1, y1, x2, y2), possibly outside the frame.
    """
    x, y, w, h = box
    if h > w:
        x -= (h - w) // 2
        w = h
    elif w > h:
        y -= (w - h) // 2
        h = w
    return x - offset, y - offset, x + w + offset, y + h + offset


def preprocess(rgb: np.ndarray, box: Box | None = None, *, offset: int = 10,
               centre_fraction: float = 1.0) -> np.ndarray:
    """Crop one face and turn it into the model input, a float32 array (1, 64, 64) in [-1, 1].

    Mirrors ``fer.FER.detect_emotions``: grey conversion of the whole frame, square box grown
    by ``offset`` px on every side, parts outside the frame filled with the mean grey of the
    frame's bottom two rows, bilinear resize to 64x64, then ``(x / 255 - 0.5) * 2``.
    ``box=None`` uses ``centre_box(rgb, centre_fraction)`` (with no extra offset).
    """
    import cv2

    grey = _to_grey(rgb)
    if box is None:
        box, offset = centre_box(grey, centre_fraction), 0
    x1, y1, x2, y2 = _square_with_offset(box, offset)
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"empty face box {box}")
    h, w = grey.shape
    fill = float(grey[max(h - 2, 0):, :].mean())
    crop = np.full((y2 - y1, x2 - x1), fill, dtype=np.float32)
    sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if sx2 > sx1 and sy2 > sy1:
        crop[sy1 - y1:sy2 - y1, sx1 - x1:sx2 - x1] = grey[sy1:sy2, sx1:sx2]
    # fer pads the uint8 frame (cv2.copyMakeBorder), which rounds the fill to uint8; do the same.
    crop = np.rint(crop).astype(np.uint8)
    face = cv2.resize(crop, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
    face = (face.astype(np.float32) / 255.0 - 0.5) * 2.0
    return face[None]
