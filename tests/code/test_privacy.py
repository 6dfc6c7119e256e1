"""Face blurring on a real photo (scikit-image's astronaut, shipped with the package, no download)."""

from __future__ import annotations

import numpy as np
import pytest

from clmer.explain.privacy import blur_faces, detect_faces


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def detail(rgb: np.ndarray) -> float:
    """Variance of the Laplacian: high for sharp edges (eyes, mouth), near zero once blurred."""
    import cv2

    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def test_detector_finds_the_astronauts_face(astronaut):
    faces = detect_faces(astronaut)
    assert len(faces) == 1
    x, y, w, h = faces[0]
    # The face is in the upper middle of the photo, about 90 px wide.
    assert 150 < x + w / 2 < 300 and 60 < y + h / 2 < 180 and 50 < w < 150


def test_face_is_blurred_beyond_detection_and_the_rest_is_kept(astronaut):
    (x, y, w, h), = detect_faces(astronaut)
    out, info = blur_faces(astronaut)
    assert info == {"faces": 1, "whole_image_blurred": False}
    assert out.shape == astronaut.shape and out.dtype == np.uint8
    assert out is not astronaut and detail(astronaut) == detail(astronaut.copy())  # input untouched
    before, after = detail(astronaut[y:y + h, x:x + w]), detail(out[y:y + h, x:x + w])
    assert after < before / 50, (before, after)
    assert detect_faces(out) == []
    # Far from the face (the helmet at the lower right, the flag at the lower left): byte-identical.
    assert np.array_equal(out[380:, 300:], astronaut[380:, 300:])
    assert np.array_equal(out[300:, :100], astronaut[300:, :100])


def test_grown_box_covers_hairline_and_chin(astronaut):
    (x, y, w, h), = detect_faces(astronaut)
    out, _ = blur_faces(astronaut)
    changed = np.any(out != astronaut, axis=2)
    rows, cols = np.nonzero(changed)
    assert rows.min() < y - 0.1 * h and rows.max() > y + 1.1 * h
    assert cols.min() < x - 0.1 * w and cols.max() > x + 1.1 * w


def test_small_frame_face_is_still_found_and_blurred(astronaut):
    import cv2

    small = cv2.resize(astronaut, (160, 160), interpolation=cv2.INTER_AREA)
    out, info = blur_faces(small)
    assert info["faces"] == 1 and detect_faces(out) == []


@pytest.mark.parametrize("kind", ["noise", "gradient"])
def test_no_face_blurs_the_whole_image(kind):
    rng = np.random.default_rng(0)
    if kind == "noise":
        img = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    else:
        ramp = np.linspace(0, 255, 160, dtype=np.float32)
        img = np.stack([np.tile(ramp, (120, 1))] * 3, axis=-1).astype(np.uint8)
        img[40:80, 60:100] = (255, 0, 0)  # a sharp square: something to lose
    out, info = blur_faces(img)
    assert info == {"faces": 0, "whole_image_blurred": True}
    assert out.shape == img.shape
    changed = np.any(out != img, axis=2)
    assert detail(out) < detail(img) / 10
    # Blurred everywhere there was anything to blur: every corner and the centre changed.
    if kind == "noise":
        assert changed.mean() > 0.9
    else:
        assert changed[35:85, 55:105].mean() > 0.3


def test_disabled_returns_the_image_unchanged(astronaut):
    out, info = blur_faces(astronaut, enabled=False)
    assert out is astronaut and np.array_equal(out, astronaut)
    assert info == {"faces": 0, "whole_image_blurred": False}


def test_tiny_and_grayscale_images():
    tiny = np.full((8, 8, 3), 128, np.uint8)
    out, info = blur_faces(tiny)
    assert info["whole_image_blurred"] and out.shape == tiny.shape
    gray = np.random.default_rng(1).integers(0, 256, (64, 64), dtype=np.uint8)
    out, info = blur_faces(gray)
    assert info["whole_image_blurred"] and out.shape == gray.shape


def test_rejects_non_images():
    with pytest.raises(ValueError):
        blur_faces(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError):
        detect_faces(np.zeros((4, 4, 5), np.uint8))


# --- When the detector misses a face, the whole-image blur alone must defeat other detectors ---------

def _second_detectors():
    """Detectors other than the one privacy uses: OpenCV's alt2 frontal and profile cascades (tuned
    to find more, smaller faces than privacy's), and the small profile's face finder."""
    import cv2

    from clmer.features.faces import detect_face

    cascades = {n: cv2.CascadeClassifier(cv2.data.haarcascades + f"haarcascade_{n}.xml")
                for n in ("frontalface_default", "frontalface_alt2", "profileface")}

    def run(rgb: np.ndarray) -> dict[str, int]:
        gray = cv2.equalizeHist(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY))
        found = {n: len(c.detectMultiScale(gray, 1.1, 3, minSize=(16, 16))) for n, c in cascades.items()}
        found["small-profile"] = int(detect_face(rgb, min_size=16) is not None)
        return found

    return run


def _face_images(astronaut: np.ndarray) -> dict[str, np.ndarray]:
    """Real faces (the astronaut, whole and as close-ups) and the demo's drawn faces, at several sizes."""
    import cv2

    from clmer.synthetic.face_render import FaceStyle, render_face

    (x, y, w, h), = detect_faces(astronaut)
    sources = {"astronaut": astronaut, "close-up": astronaut[y - h // 3: y + h + h // 3, x - w // 3: x + w + w // 3],
               "face-only": astronaut[y: y + h, x: x + w]}
    out = {}
    for name, img in sources.items():
        for side in (64, 160, 400) + ((720,) if name == "close-up" else ()):
            out[f"{name}@{side}"] = cv2.resize(img, (side, round(side * img.shape[0] / img.shape[1])),
                                               interpolation=cv2.INTER_AREA if side < img.shape[1] else cv2.INTER_CUBIC)
    style = FaceStyle.random(np.random.default_rng(0))
    for side in (96, 256):
        out[f"drawn@{side}"] = render_face(side, side, 0.8, style)
    return out


def test_whole_image_blur_leaves_no_face_any_detector_finds(astronaut, monkeypatch):
    import io

    from PIL import Image

    from clmer.explain import privacy
    from clmer.explain.thumbnails import make_thumbnail

    detect = _second_detectors()
    images = _face_images(astronaut)
    found_before = {name: sum(detect(img).values()) for name, img in images.items()}
    assert sum(v > 0 for v in found_before.values()) >= 7, found_before  # the test faces are findable
    monkeypatch.setattr(privacy, "detect_faces", lambda rgb: [])  # privacy's own detector misses them all
    for name, img in images.items():
        out, info = privacy.blur_faces(img)
        assert info["whole_image_blurred"]
        assert sum(detect(out).values()) == 0, (name, detect(out))
        thumb = np.asarray(Image.open(io.BytesIO(make_thumbnail(img).png)).convert("RGB"))
        assert sum(detect(thumb).values()) == 0, (name, "thumbnail")


def test_whole_image_blur_strength_is_fixed_by_image_size():
    from clmer.explain.privacy import WHOLE_IMAGE_CELLS, whole_image_cell

    for h, w in [(64, 64), (360, 640), (1080, 1920), (2160, 3840), (500, 90)]:
        cell = whole_image_cell(h, w)
        assert min(h, w) / cell <= WHOLE_IMAGE_CELLS  # a face as tall as the shorter side: a few cells
        assert cell >= 2
