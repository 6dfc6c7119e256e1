"""The demo world's people: who speaks, how they look, and how each language shows valence.

A speaker is drawn once per corpus and keeps, across all their clips, a voice (a mixture of two Kokoro
style tables at a speed, or an eSpeak NG variant in the fallback), a pitch offset, a pitch range, a
loudness and an energy-dynamics baseline, an expressiveness, and a face (`FaceStyle`: identity, skin,
eye size, resting mouth and brows, face scale and position, lighting, head roll, blink rate). These
baselines are wide on purpose: a clip's mean pitch, loudness, eye-white area or mouth bend says more
about who is speaking than about how they feel. Only the change from the speaker's own baseline
carries valence, and every clip starts at that baseline (`LEAD_FRACTION` of the utterance, the first
frames of the face) so one clip shows both the resting state and the change.

`LANGUAGE_CUES` is where the two languages differ, as real corpora do: Mandarin speakers show valence
mostly in pitch range (and a Duchenne eye narrowing that only they show), English speakers in loudness,
energy dynamics and speech rate (and in the mouth more than the brows). A model trained on one language
and applied zero-shot to the other meets cue weights it never saw; adaptation can learn them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clmer.synthetic.face_render import FaceStyle
from clmer.synthetic.kokoro_tts import VoiceMix

# Voices whisper-base understands best lead a mixture; the weaker ones only blend in. jm_kumo leads only in
# English: Mandarin led by it was heard with CER .20 against .11-.17 for the others (288-clip corpus, seed 0).
# Mandarin speakers talk a little slower: CER fell from .13 to .10 at speed .88 (15 sentences, measured).
_LEAD_VOICES = {"zh": (("jf_nezumi", "jf_gongitsune"), (0.5, 0.5)),
                "en": (("jf_nezumi", "jf_gongitsune", "jm_kumo"), (0.35, 0.3, 0.35))}
_SPEED = {"zh": (0.84, 0.98), "en": (0.9, 1.1)}
_ALL_VOICES = ("jf_nezumi", "jf_gongitsune", "jm_kumo", "jf_tebukuro", "jf_alpha")
_ESPEAK_VARIANTS = ("m1", "f1", "m2", "f2")

# Per language: how strongly valence (in [-1, 1]) moves each cue, from the speaker's own baseline.
#   pitch_st   mean F0 shift (semitones)       range      pitch-range factor change (x (1 + g v))
#   tempo      speed factor change             dynamics   energy-contour exponent change (louder peaks)
#   loud_db    level change (dB)               mouth, brow, eye_smile: face gains (eye_smile: zh only)
LANGUAGE_CUES: dict[str, dict[str, float]] = {
    "zh": {"pitch_st": 1.2, "range": 0.55, "tempo": 0.05, "dynamics": 0.10, "loud_db": 0.8,
           "mouth": 0.55, "brow": 1.0, "eye_smile": 0.8},
    "en": {"pitch_st": 0.5, "range": 0.15, "tempo": 0.12, "dynamics": 0.45, "loud_db": 3.0,
           "mouth": 1.0, "brow": 0.45, "eye_smile": 0.0},
}
LEAD_FRACTION = (0.2, 0.4)  # share of the utterance spoken at the speaker's baseline before the emotion sets in


@dataclass(frozen=True)
class Speaker:
    id: str
    language: str
    voice: VoiceMix
    espeak_variant: str
    pitch_st: float  # F0 offset from the voice's own (semitones)
    range_scale: float  # the speaker's own pitch range (x F0 excursions around their mean)
    gain_db: float  # the speaker's own loudness
    dynamics: float  # the speaker's own energy-contour exponent (0 = as synthesised)
    expressiveness: float  # multiplies every expression and prosody change
    face: FaceStyle

    @classmethod
    def random(cls, rng: np.random.Generator, speaker_id: str, language: str) -> "Speaker":
        names, p = _LEAD_VOICES[language]
        lead = str(rng.choice(names, p=p))
        blend = str(rng.choice(_ALL_VOICES))
        low = lead == "jm_kumo"  # kumo shifted down far becomes hard to understand
        return cls(
            id=speaker_id, language=language,
            voice=VoiceMix(lead, blend, weight=float(rng.uniform(0.55, 1.0)), speed=float(rng.uniform(*_SPEED[language]))),
            espeak_variant=str(rng.choice(_ESPEAK_VARIANTS)),
            pitch_st=float(rng.uniform(-1.5, 2.5) if low else rng.uniform(-3.0, 3.0)),
            range_scale=float(rng.uniform(0.8, 1.25)),
            gain_db=float(rng.uniform(-6.0, 6.0)),
            dynamics=float(rng.uniform(-0.15, 0.15)),
            expressiveness=float(rng.uniform(0.7, 1.3)),
            face=FaceStyle.random(rng),
        )


def speaker_pool(seed: int, language: str, count: int, prefix: str = "spk") -> list[Speaker]:
    """`count` speakers of one language, the same for the same seed; ids `<lang>_<prefix>NN`."""
    lang_index = {"zh": 0, "en": 1}[language]
    return [Speaker.random(np.random.default_rng([seed, lang_index, k, 7]), f"{language}_{prefix}{k:02d}", language)
            for k in range(count)]
