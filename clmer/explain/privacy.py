"""Face blurring for every picture CLMER writes out (saved frames, HTML thumbnails).

Privacy first: faces are found with OpenCV's frontal-face Haar cascade (the weights ship inside
``opencv-python-headless<5``; OpenCV 5 no longer carries them) and each face box, grown so hair,
chin and ears are covered, is blurred beyond recognition. A detector can miss a face (profile,
small, dark), so an image in which it finds none is blurred as a whole instead of being trusted.
That whole-image blur has to defeat the largest face the image could hold, one as tall as its
shorter side (a close-up the detector missed): its cell size is fixed by the image size, the
shorter side over `WHOLE_IMAGE_CELLS`, so such a face is left a few cells across at any resolution.

The switch is ``scoring.blur_faces`` in :mod:`clmer.config` (on by default); callers pass it as
``enabled``.
"""

from __future__ import annotations

import functools
import math
import threading

import numpy as np

CASCADE_FILE = "haarcascade_frontalface_default.xml"
# Grow each detected box by this fraction of its size on every side: Haar boxes stop at the
# brows and the lips, and a forehead, hairline or chin can still identify someone.
GROW = 0.2
# Blurring = pixelating to about this many cells across the region, then smoothing the blocks.
# Few cells leave no eyes, nose or mouth to recognise (or for the detector to find again).
FACE_CELLS = 6
WHOLE_IMAGE_CELLS = 5  # cells across the image's shorter side when no face was found

Box = tuple[int, int, int, int]

_detect_lock = threading.Lock()  # one shared cascade; do not let threads run it concurrently


@functools.lru_cache(maxsize=1)
def _cascade():
    """The frontal-face cascade, loaded once per process."""
    import cv2

    path = cv2.data.haarcascades + CASCADE_FILE
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"OpenCV face cascade missing or unreadable: {path} (opencv-python-headless<5 ships it)")
    return cascade


def _check_image(rgb: np.ndarray) -> np.ndarray:
    img = np.asarray(rgb)
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 3, 4)):
        raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {img.shape}")
    if img.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {img.dtype}")
    return img


def _gray(img: np.ndarray) -> np.ndarray:
    import cv2

    if img.ndim == 2:
        return img
    if img.shape[2] == 1:
        return img[:, :, 0]
    return cv2.cvtColor(np.ascontiguousarray(img[:, :, :3]), cv2.COLOR_RGB2GRAY)


def detect_faces(rgb: np.ndarray) -> list[Box]:
    """Frontal faces in an RGB uint8 image, as (x, y, w, h) boxes in pixels."""
    import cv2

    img = _check_image(rgb)
    h, w = img.shape[:2]
    if min(h, w) < 20:  # smaller than the cascade's 24x24 window after any scaling
        return []
    gray = cv2.equalizeHist(_gray(img))  # evens out dim or backlit faces
    side = max(20, min(h, w) // 20)
    with _detect_lock:
        found = _cascade().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(side, side))
    return [tuple(int(v) for v in box) for box in found]


def _grow(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """The box grown by GROW on every side, clipped to the image: (x0, y0, x1, y1)."""
    x, y, w, h = box
    dx, dy = int(round(w * GROW)), int(round(h * GROW))
    return max(0, x - dx), max(0, y - dy), min(width, x + w + dx), min(height, y + h + dy)


def _obliterate(region: np.ndarray, cells: int) -> np.ndarray:
    """Pixelate to `cells` across the longer side, scale back, smooth the block edges."""
    import cv2

    h, w = region.shape[:2]
    cells = max(1, min(cells, max(h, w) // 4))  # never "pixelate" a tiny region upwards
    scale = cells / max(h, w)
    small = cv2.resize(region, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    k = max(3, (max(h, w) // cells) | 1)  # odd kernel about one cell wide
    return cv2.GaussianBlur(big, (k, k), 0).reshape(region.shape)


def whole_image_cell(height: int, width: int) -> int:
    """Pixel size of one blur cell when no face was found: fixed by the image's shorter side."""
    return max(2, math.ceil(min(height, width) / WHOLE_IMAGE_CELLS))


def _obliterate_whole(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    if min(h, w) < 2:
        return img
    cells_long = max(1, math.ceil(max(h, w) / whole_image_cell(h, w)))
    return _obliterate(img, cells_long)


def blur_faces(rgb: np.ndarray, enabled: bool = True) -> tuple[np.ndarray, dict]:
    """A copy of `rgb` with every detected face blurred, or the whole image where none is found.

    Returns (image, {"faces": n, "whole_image_blurred": bool}). With enabled=False the image is
    returned unchanged (the caller's array, not a copy) and nothing is detected.
    """
    if not enabled:
        return rgb, {"faces": 0, "whole_image_blurred": False}
    img = _check_image(rgb)
    out = np.ascontiguousarray(img).copy()
    if out.size == 0:
        return out, {"faces": 0, "whole_image_blurred": False}
    boxes = detect_faces(img)
    if not boxes:
        return _obliterate_whole(out), {"faces": 0, "whole_image_blurred": True}
    height, width = img.shape[:2]
    for box in boxes:
        x0, y0, x1, y1 = _grow(box, width, height)
        out[y0:y1, x0:x1] = _obliterate(out[y0:y1, x0:x1], FACE_CELLS)
    return out, {"faces": len(boxes), "whole_image_blurred": False}
