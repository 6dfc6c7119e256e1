"""Shared by the tiny builders: local tokenizer text, atomic builds into the store, quiet transformers."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    pass

# Extra training text so the tokenizers see words the sentence bank lacks (prompts, punctuation).
EXTRA_TEXT = (
    "a photo of a happy face",
    "a photo of a sad face",
    "a photo of an angry face",
    "a photo of a surprised face",
    "a photo of a fearful face",
    "a photo of a disgusted face",
    "a photo of a neutral face",
    "a close-up photo of a person who looks calm, tired, excited or worried.",
    "The quick brown fox jumps over the lazy dog: 0123456789! (yes) [no] {maybe} #1 @home 50% & more.",
    "I am really happy today.",
    "我今天非常开心。",
    "你好，世界！这是一个测试吗？是的。",
)


def training_text() -> list[str]:
    """Local text for the tokenizers: the demo sentence bank (zh + en) plus a few fixed lines."""
    from clmer.synthetic.sentence_bank import SENTENCES

    lines = [s for by_polarity in SENTENCES.values() for group in by_polarity.values() for s in group]
    return lines + list(EXTRA_TEXT)


# --------------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------------


def atomic_build(target: Path, build: Callable[[Path], None]) -> Path:
    """Build into a temp dir beside ``target`` and rename it into place.

    A crash leaves at most a hidden ``.tiny-*.tmp*`` dir, never a half-built ``target``; an older
    ``target`` is moved aside first and removed only after the new one is in place.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp", dir=target.parent))
    try:
        with quiet_transformers():
            build(tmp)
        share_read_only(tmp)
        swap_into_place(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already unless the build failed
    return target


def swap_into_place(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target``; an existing ``target`` is moved aside first, then deleted."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old", dir=target.parent))
        try:
            os.replace(target, old / target.name)
        except FileNotFoundError:  # a concurrent builder moved it first
            pass
    try:
        os.replace(tmp, target)
    except OSError:
        # Another process renamed its build in between: keep that one (same layout; builds are
        # deterministic, so with the same seed it is the same model).
        if not target.is_dir():
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def share_read_only(root: Path) -> None:
    """mkdtemp makes 0700 dirs and safetensors writes 0600 files: give the store normal modes."""
    root.chmod(0o755)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' progress bars and warnings while building, then restore its settings.

    Building a SiglipConfig logs bogus "bos_token_id must be within the vocabulary" warnings from
    transformers' own default-config diff (not from our values), and every save/load draws a bar.
    """
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - transformers is a dependency
        yield
        return
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def seed_torch(seed: int) -> None:
    """Seed torch's global RNG: transformers' ``_init_weights`` draws from it."""
    import torch

    torch.manual_seed(seed)


def save_hf_model(model: Any, out_dir: Path) -> None:
    """``save_pretrained`` as safetensors, one shard, so the weight file is easy to compare."""
    model.save_pretrained(out_dir, safe_serialization=True, max_shard_size="1GB")

