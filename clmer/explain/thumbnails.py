"""Key-frame thumbnails for reports: faces blurred at full resolution first, then shrunk to a PNG."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

THUMB_PX = 160


@dataclass(frozen=True)
class Thumbnail:
    png: bytes
    blur: dict  # clmer.explain.privacy.blur_faces info, or {} where blurring was switched off
    width: int
    height: int


def _as_rgb8(frame: np.ndarray) -> np.ndarray:
    """uint8 RGB from whatever a decoder or test hands over (gray, RGBA, float in 0..1 or 0..255)."""
    arr = np.asarray(frame)
    if arr.dtype != np.uint8:
        scale = 255.0 if arr.size and float(np.nanmax(arr)) <= 1.0 else 1.0
        arr = np.clip(np.nan_to_num(arr.astype(np.float64) * scale), 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ValueError(f"not an image: shape {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr[:, :, :3])


def make_thumbnail(frame: np.ndarray, blur: bool = True, size: int = THUMB_PX) -> Thumbnail:
    """Faces blurred at full resolution (the detector needs the pixels), then shrunk to `size` px."""
    from PIL import Image

    from clmer.explain.privacy import blur_faces

    rgb = _as_rgb8(frame)
    safe, info = blur_faces(rgb, enabled=blur)
    image = Image.fromarray(safe)
    image.thumbnail((size, size), Image.Resampling.LANCZOS)  # never enlarges
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return Thumbnail(buf.getvalue(), info if blur else {}, image.width, image.height)


def make_thumbnails(doc: dict, frames: dict[int, np.ndarray] | None, blur: bool = True) -> dict[int, Thumbnail]:
    """Thumbnails for the doc's key frames that `frames` holds (other frames are ignored)."""
    if not frames:
        return {}
    wanted = {int(kf.get("index", -1)) for kf in doc.get("key_frames") or []}
    return {i: make_thumbnail(frames[i], blur) for i in sorted(wanted) if i in frames and frames[i] is not None}
