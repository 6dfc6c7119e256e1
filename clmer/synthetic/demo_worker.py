"""Preloaded by the demo corpus's fork server, so each worker starts warm.

Imports PyAV, Praat (parselmouth), onnxruntime and loads pypinyin's dictionaries once, but never calls
eSpeak NG: every forked eSpeak worker must be the first to speak in its process (see
`clmer.synthetic.demo_corpus.make_demo_corpus`).
"""

import av  # noqa: F401  (imported for its side effect: loaded once in the fork server)
import onnxruntime  # noqa: F401
import parselmouth  # noqa: F401

from clmer.synthetic import demo_corpus  # noqa: F401
from clmer.synthetic.speech_synth import to_pinyin

to_pinyin("预热")  # pypinyin loads its phrase dictionaries lazily, on the first call
