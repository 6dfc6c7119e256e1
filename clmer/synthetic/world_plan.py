"""Who says what in the demo world, in which split, with which labels: the plan before any rendering.

Splits. Each language has its own speakers (about six clips each); whole speakers go to train, valid
or test (about 60/15/25), so no test speaker is heard or seen in training. Sentences are split by
translation pair: an index into the bank's (zh, en) lists goes to one split for both languages, so no
test sentence, nor its translation, is said in training. Classes are dealt round-robin inside every
split, so every split is balanced by class (the label noise below keeps the counts).

Labels (CH-SIMS v2 scale, [-1, 1]; polarity: negative <= -0.1 < neutral <= 0.1 < positive):
* each clip gets label_T, label_A and label_V, drawn per modality with continuous magnitudes
  (`0.1 + 0.9 Beta(1.1, 2.0)`: many just past the +-0.1 thresholds);
* `variant` says how they relate: `all` (the three agree in polarity), `text` | `audio` | `vision`
  (only that modality carries a non-neutral label, the other two are 0), or `mixed` (one modality
  disagrees: cheerful words said flatly, a smile over bad news, or two modalities that cancel out);
* the overall rule: `label = round((label_T + label_A + label_V) / 3, 3)`; true for every clip except
  the label-noise ones;
* label noise: a share of clips per split (`label_noise`, default 7 %) have their overall label
  rotated to another class (negative -> neutral -> positive -> negative, a fresh magnitude), as
  annotators disagree; world.csv names them.
Some clips also carry no speech (label_T = label_A = 0, empty text) or no face (label_V = 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from clmer.synthetic.sentence_bank import HELD_OUT, SENTENCES, emotion_words
from clmer.synthetic.speakers import Speaker, speaker_pool

POLARITY_NAMES = {-1: "negative", 0: "neutral", 1: "positive"}
SPLIT_SHARES = {"train": 0.6, "valid": 0.15, "test": 0.25}
CLIPS_PER_SPEAKER = 6
CARRIERS = ("text", "audio", "vision")
NO_SPEECH_SHARE, NO_FACE_SHARE, FACE_LEAVES_SHARE = 0.03, 0.03, 0.06
NOISE_SHARE, MUSIC_SHARE = 0.12, 0.08


@dataclass
class ClipPlan:
    video_id: str
    clip_id: str
    language: str
    mode: str
    speaker: Speaker
    polarity: int  # the class the modality labels were drawn for (before label noise)
    variant: str
    label_T: float
    label_A: float
    label_V: float
    label: float
    noisy: bool = False
    text: str = ""
    emotion_words: list[str] = field(default_factory=list)
    speech: bool = True
    face: str = "present"  # present | leaves | absent
    background: str = "none"  # none | noise | music
    snr_db: float = 30.0

    def row(self) -> dict:
        return {"video_id": self.video_id, "clip_id": self.clip_id, "text": self.text, "label": self.label,
                "label_T": self.label_T, "label_A": self.label_A, "label_V": self.label_V,
                "annotation": POLARITY_NAMES[polarity(self.label)].capitalize(), "mode": self.mode,
                "language": self.language, "speaker": self.speaker.id, "variant": self.variant,
                "emotion_words": "|".join(self.emotion_words)}


def polarity(value: float) -> int:
    """CH-SIMS v2's rule (as `clmer.data.labels`): <= -0.1 negative, > 0.1 positive, else neutral."""
    return -1 if value <= -0.1 else 1 if value > 0.1 else 0


def overall(label_t: float, label_a: float, label_v: float) -> float:
    """The documented overall-label rule: the mean of the three modality labels."""
    return round((label_t + label_a + label_v) / 3.0, 3)


def _magnitude(rng: np.random.Generator, low: float = 0.1) -> float:
    return float(low + (1.0 - low) * rng.beta(1.1, 2.0)) + 0.005


def _neutral(rng: np.random.Generator) -> float:
    return float(rng.uniform(-0.09, 0.09))


def modality_labels(pol: int, variant: str, rng: np.random.Generator) -> tuple[float, float, float]:
    """(label_T, label_A, label_V) whose overall label has polarity `pol` under `variant`."""
    for _ in range(200):
        if variant == "all":
            vals = [pol * _magnitude(rng) if pol else _neutral(rng) for _ in CARRIERS]
        elif variant in CARRIERS:
            vals = [0.0, 0.0, 0.0]
            vals[CARRIERS.index(variant)] = pol * _magnitude(rng, 0.31)
        else:  # mixed: one modality goes against (or flat against) the other two
            odd = int(rng.integers(3))
            if pol:
                vals = [pol * _magnitude(rng) for _ in CARRIERS]
                vals[odd] = -pol * _magnitude(rng) * 0.8 if rng.random() < 0.6 else _neutral(rng)
            else:
                a = _magnitude(rng, 0.15) * rng.choice([-1, 1])
                vals = [_neutral(rng) for _ in CARRIERS]
                vals[odd], vals[(odd + 1) % 3] = a, -a + float(rng.uniform(-0.1, 0.1))
        vals = [round(float(np.clip(v, -1, 1)), 3) for v in vals]
        if polarity(overall(*vals)) == pol and (variant != "mixed" or len({polarity(v) for v in vals}) > 1):
            return vals[0], vals[1], vals[2]
    raise RuntimeError(f"could not draw labels for polarity {pol}, variant {variant}")  # pragma: no cover


def split_speakers(speakers: list[Speaker], rng: np.random.Generator) -> dict[str, str]:
    order = [speakers[i].id for i in rng.permutation(len(speakers))]
    n = len(order)
    n_test = max(1, round(SPLIT_SHARES["test"] * n))
    n_valid = max(1, round(SPLIT_SHARES["valid"] * n))
    return {s: "test" if i < n_test else "valid" if i < n_test + n_valid else "train" for i, s in enumerate(order)}


def sentence_decks(rng: np.random.Generator, held_out: bool) -> dict[tuple[str, str, str], list[int]]:
    """(language, polarity name, split) -> sentence indices, the same index split for both languages."""
    decks: dict[tuple[str, str, str], list[int]] = {}
    for name in ("negative", "neutral", "positive"):
        if held_out:
            n = len(HELD_OUT["en"][name])
            parts = {m: list(rng.permutation(n)) for m in SPLIT_SHARES}
        else:
            n = min(len(SENTENCES["en"][name]), len(SENTENCES["zh"][name]))
            order = list(rng.permutation(n))
            n_test, n_valid = round(SPLIT_SHARES["test"] * n), round(SPLIT_SHARES["valid"] * n)
            parts = {"test": order[:n_test], "valid": order[n_test: n_test + n_valid], "train": order[n_test + n_valid:]}
        for mode, idx in parts.items():
            for lang in ("zh", "en"):
                decks[(lang, name, mode)] = list(idx)
    return decks


def plan_world(n: int, seed: int, variant_fraction: float = 0.25, disagreement_fraction: float = 0.25,
               label_noise: float = 0.07, held_out: bool = False) -> list[ClipPlan]:
    """The whole corpus, deterministic in its arguments. `held_out` speaks only `HELD_OUT` sentences
    with speakers of their own (for a demo drop that no split has seen or heard)."""
    rng = np.random.default_rng([seed, 24])
    decks = sentence_decks(rng, held_out)
    bank = HELD_OUT if held_out else SENTENCES
    sizes = {"zh": n - n // 2, "en": n // 2}
    class_order = [int(c) for c in rng.permutation([-1, 0, 1])]
    dealt = 0
    plans: list[ClipPlan] = []
    for lang in ("zh", "en"):
        count = sizes[lang]
        if count == 0:
            continue
        speakers = speaker_pool(seed, lang, max(3, round(count / CLIPS_PER_SPEAKER)), "new" if held_out else "spk")
        modes = split_speakers(speakers, rng) if count >= 3 else {s.id: "train" for s in speakers}
        per_speaker = [count // len(speakers) + (1 if i < count % len(speakers) else 0) for i in range(len(speakers))]
        for mode in ("train", "valid", "test"):
            members = [(s, k) for s, k in zip(speakers, per_speaker) if modes[s.id] == mode]
            total = sum(k for _, k in members)
            classes = [class_order[(dealt + i) % 3] for i in range(total)]
            dealt += total
            shuffled = [classes[i] for i in rng.permutation(total)]
            plans_mode = []
            for s, k in members:
                for j in range(k):
                    plans_mode.append(_plan_clip(s, j, lang, mode, shuffled.pop(), rng))
            _assign_variants(plans_mode, variant_fraction, disagreement_fraction, rng)
            _add_label_noise(plans_mode, label_noise, rng)
            plans += plans_mode
    for p in plans:
        _finish(p, decks, bank, rng)
    return plans


def _plan_clip(s: Speaker, j: int, lang: str, mode: str, pol: int, rng: np.random.Generator) -> ClipPlan:
    return ClipPlan(video_id=s.id, clip_id=f"{j + 1:04d}", language=lang, mode=mode, speaker=s, polarity=pol,
                    variant="all", label_T=0.0, label_A=0.0, label_V=0.0, label=0.0)


def _assign_variants(plans: list[ClipPlan], variant_fraction: float, disagreement_fraction: float,
                     rng: np.random.Generator) -> None:
    """Single-carrier clips (non-neutral only, carriers in turn), then disagreement clips, rest agree."""
    order = [plans[i] for i in rng.permutation(len(plans))]
    polar = [p for p in order if p.polarity != 0]
    n_carrier = min(len(polar), int(variant_fraction * len(plans) + rng.random()))  # unbiased in small splits
    for i, p in enumerate(polar[:n_carrier]):
        p.variant = CARRIERS[i % 3]
    rest = [p for p in order if p.variant == "all"]
    for p in rest[: int(disagreement_fraction * len(plans) + rng.random())]:
        p.variant = "mixed"
    for p in plans:
        p.label_T, p.label_A, p.label_V = modality_labels(p.polarity, p.variant, rng)
        p.label = overall(p.label_T, p.label_A, p.label_V)


def _add_label_noise(plans: list[ClipPlan], share: float, rng: np.random.Generator) -> None:
    """Rotate the overall label of `share` of the clips to the next class, as many from each class, so
    the split stays balanced; the modality labels keep what the clip shows."""
    k = int(round(share * len(plans) / 3))
    for pol in (-1, 0, 1):
        members = [p for p in plans if p.polarity == pol]
        for i in rng.permutation(len(members))[: min(k, len(members))]:
            target = {-1: 0, 0: 1, 1: -1}[pol]
            p = members[i]
            p.label = round(target * _magnitude(rng) if target else _neutral(rng), 3)
            p.noisy = True


def _finish(p: ClipPlan, decks: dict, bank: dict, rng: np.random.Generator) -> None:
    """Sentence, emotion words, speech/face presence and background of one clip."""
    can_drop_speech = p.variant in ("all", "vision") and abs(p.label_T) < 0.1 and abs(p.label_A) < 0.1
    p.speech = not (can_drop_speech and rng.random() < NO_SPEECH_SHARE * 3)
    if p.speech:
        name = POLARITY_NAMES[polarity(p.label_T)]
        deck = decks[(p.language, name, p.mode)]
        idx = deck.pop(0)
        deck.append(idx)  # cycle once every sentence of the deck has been said
        p.text = bank[p.language][name][idx]
        p.emotion_words = emotion_words(p.text, p.language)
    u = rng.random()
    if abs(p.label_V) < 0.1 and u < NO_FACE_SHARE * 2:
        p.face = "absent"
    elif u > 1 - FACE_LEAVES_SHARE:
        p.face = "leaves"
    b = rng.random()
    p.background = "noise" if b < NOISE_SHARE else "music" if b < NOISE_SHARE + MUSIC_SHARE else "none"
    p.snr_db = float(rng.uniform(10, 20)) if p.background != "none" else 35.0
