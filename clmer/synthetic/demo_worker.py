"""Preloaded by the demo corpus's fork server, so each worker starts warm.

Imports PyAV, Praat (parselmouth), onnxruntime and loads pypinyin's dictionaries once, but never calls
eSpeak NG: every forked eSpeak worker must be the first to speak in its process (see
`clmer.synthetic.demo_corpus.make_demo_corpus`).
"""

import os
from pathlib import Path

import av  # noqa: F401  (imported for its side effect: loaded once in the fork server)
import parselmouth  # noqa: F401

from clmer.config.base import _default_home
from clmer.scratch import import_onnxruntime

# onnxruntime writes a device id and a database under ~/.cache/Microsoft when imported: keep them in CLMER's home
import_onnxruntime(Path(os.environ.get("CLMER_HOME") or _default_home()) / "cache")

from clmer.synthetic import demo_corpus  # noqa: F401
from clmer.synthetic.speech_synth import to_pinyin

to_pinyin("预热")  # pypinyin loads its phrase dictionaries lazily, on the first call
