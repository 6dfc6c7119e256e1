import numpy as np
import pytest

from clmer.data import labels


@pytest.mark.parametrize("y, expected", [
    (-1.0, -1), (-0.1, -1), (-0.1000001, -1), (-0.0999, 0), (0.0, 0), (0.1, 0), (0.1000001, 1), (1.0, 1),
])
def test_sims_boundaries(y, expected):
    assert labels.polarity(y, "chsims2") == expected


@pytest.mark.parametrize("y, expected", [
    (-3.0, -1), (-0.51, -1), (-0.5, 0), (-0.49, 0), (0.0, 0), (0.49, 0), (0.5, 0), (0.51, 1), (3.0, 1), (1.5, 1),
])
def test_mosei_round_clip_boundaries(y, expected):
    # MMSA: round(clip(y, -1, 1)) with NumPy's half-to-even rounding, so exactly +-0.5 is neutral.
    assert labels.polarity(y, "mosei") == expected


def test_vectorised_and_class_index():
    y = np.array([-2.0, 0.2, 2.0])
    assert labels.class_index(y, "mosei").tolist() == [0, 0 + 1, 2]
    assert labels.normalised(3.0, "mosei") == 1.0
    assert labels.denormalised(0.5, "mosei") == 1.5


def test_unknown_flavour():
    with pytest.raises(ValueError, match="unknown corpus flavour"):
        labels.polarity(0.3, "mosi")
