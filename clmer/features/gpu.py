"""Device choices that differ between libraries on a GPU machine.

* CTranslate2's PyPI wheel is built against CUDA 12's cuBLAS. On a machine whose CUDA libraries
  differ, `WhisperModel(device="cuda")` loads fine and every clip then fails at its first encode.
  We check before loading and run CTranslate2 on the CPU (the rest keeps the GPU) with a warning
  that names the missing library.
* Transformer encoders run in half precision on CUDA (bf16 where the GPU has it, else fp16): the
  features are pooled and standardised downstream, and half precision doubles throughput.
"""

from __future__ import annotations

import ctypes
import logging
from functools import lru_cache

log = logging.getLogger(__name__)
CUBLAS = ("libcublas.so.12", "libcublasLt.so.12")


@lru_cache(maxsize=None)
def ct2_cuda_problem() -> str | None:
    """Why CTranslate2 cannot use CUDA here (None: it can)."""
    try:
        import ctranslate2
    except ImportError as exc:  # pragma: no cover - a dependency
        return f"ctranslate2 is not importable: {exc}"
    if ctranslate2.get_cuda_device_count() == 0:
        return "CTranslate2 sees no CUDA device"
    for lib in CUBLAS:
        try:
            ctypes.CDLL(lib)
        except OSError:
            return (f"CTranslate2's CUDA build needs {lib} (CUDA 12 cuBLAS), which this machine lacks; "
                    "install nvidia-cublas-cu12 or CUDA 12")
    return None


def ct2_device(device: str) -> str:
    """The device CTranslate2 should use when the rest of the pipeline uses `device`."""
    if device != "cuda":
        return device
    problem = ct2_cuda_problem()
    if problem:
        log.warning("ASR runs on the CPU: %s", problem)
        return "cpu"
    return "cuda"


def half_dtype(device: str):
    """torch dtype for inference-only transformer encoders on `device` (float32 on CPU)."""
    import torch

    if device != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
