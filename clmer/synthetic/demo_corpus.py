"""`clmer demo-data`: a bilingual MMSA-layout corpus of real videos, made here.

No labelled emotional video can be downloaded on the build machines, so the project makes its own:
each clip is an H.264 + AAC mp4 in which a synthetic voice speaks a sentence from the sentence bank
with prosody that follows the label (pitch, range, rate, loudness) while a drawn face shows a
matching expression. Labels use the CH-SIMS v2 scale ([-1, 1], polarity rule in `clmer.data.labels`).

A share of clips are *single-modality variants*: only one modality carries the (non-neutral) label
and the other two are neutral; `variant` names the carrier and label_T/label_A/label_V say the
same. They let the evaluation check that explanations find the modality that really decided.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from clmer import atomic
from clmer.synthetic.face_render import FaceStyle, render_face
from clmer.synthetic.sentence_bank import SENTENCES
from clmer.synthetic.speech_synth import Prosody, synthesize
from clmer.synthetic.video_writer import write_video

POLARITY_NAMES = {-1: "negative", 0: "neutral", 1: "positive"}
_VOICE_VARIANTS = ["m1", "f1", "m2", "f2"]
_MAGNITUDES = (0.4, 0.6, 0.8, 1.0)
MIN_SECONDS, MAX_SECONDS = 3.0, 8.0


@dataclass
class ClipSpec:
    """Everything that decides how one clip looks and sounds."""

    text: str
    language: str
    text_valence: float  # the sentence's polarity, for the record (the words carry it)
    audio_valence: float  # drives prosody
    face_valence: float  # drives the expression
    style_seed: int  # face look and voice of the speaker
    voice_variant: str = "m1"
    lead_in: float = 0.5  # seconds of silence before speech
    noise_seed: int = 0
    fps: int = 10
    width: int = 256
    height: int = 256
    extras: dict = field(default_factory=dict)


def prosody_for(valence: float) -> Prosody:
    """Happier voices are higher, livelier, faster and louder; unhappy ones low, flat, slow, soft."""
    v = float(np.clip(valence, -1.0, 1.0))
    return Prosody(
        pitch=int(round(48 + 30 * v)),
        pitch_range=int(round(50 + 40 * v)),
        rate=int(round(160 + 45 * v)),
        volume=int(round(110 + 60 * v)),
    )


def render_clip(spec: ClipSpec, path: str | Path) -> dict:
    """Write one clip; returns facts about it (duration, speech span)."""
    speech, sr = synthesize(spec.text, spec.language, prosody_for(spec.audio_valence), spec.voice_variant)
    if len(speech) / sr > MAX_SECONDS - 1.0:  # keep every clip inside 3-8 s
        speech, sr = synthesize(spec.text, spec.language,
                                _faster(prosody_for(spec.audio_valence), len(speech) / sr), spec.voice_variant)
    rng = np.random.default_rng(spec.noise_seed)
    lead = int(spec.lead_in * sr)
    total = int(np.clip(len(speech) / sr + spec.lead_in + 0.6, MIN_SECONDS, MAX_SECONDS) * sr)
    audio = np.zeros(total, dtype=np.float32)
    audio[lead: lead + len(speech)] = speech[: max(0, total - lead)]
    audio += rng.normal(0, 0.002, total).astype(np.float32)  # room tone: real silence is never all zeros

    n_frames = int(round(total / sr * spec.fps))
    envelope = _envelope(audio, sr, spec.fps, n_frames)
    style = FaceStyle.random(np.random.default_rng(spec.style_seed))
    blinks = set(rng.choice(n_frames, size=max(1, n_frames // 25), replace=False).tolist())
    frames = (
        render_face(spec.width, spec.height, spec.face_valence, style,
                    mouth_open=envelope[i], blink=i in blinks, sway=np.sin(i / spec.fps * 1.3))
        for i in range(n_frames)
    )
    write_video(path, frames, fps=spec.fps, audio=audio, sample_rate=sr)
    return {"duration_s": total / sr, "speech_start_s": spec.lead_in, "speech_end_s": (lead + len(speech)) / sr}


def _faster(p: Prosody, seconds: float) -> Prosody:
    rate = int(p.rate * seconds / (MAX_SECONDS - 1.5)) + 1
    return Prosody(pitch=p.pitch, pitch_range=p.pitch_range, rate=min(rate, 320), volume=p.volume)


def _envelope(audio: np.ndarray, sr: int, fps: int, n_frames: int) -> np.ndarray:
    hop = sr / fps
    rms = np.array([np.sqrt(np.mean(audio[int(i * hop): int((i + 1) * hop)] ** 2) + 1e-12) for i in range(n_frames)])
    return np.clip(rms / 0.12, 0.0, 1.0)


@dataclass
class _Row:
    video_id: str
    clip_id: str
    language: str
    polarity: int
    variant: str  # all | text | audio | vision


def plan_corpus(n: int, seed: int, variant_fraction: float) -> list[_Row]:
    """n/3 clips per polarity and half per language; variants carry a non-neutral label in one modality."""
    rng = np.random.default_rng(seed)
    per_class = {p: n // 3 + (1 if i < n % 3 else 0) for i, p in enumerate((0, -1, 1))}
    n_variant = min(int(round(n * variant_fraction)), per_class[-1] + per_class[1])
    rows: list[tuple[int, str]] = []
    carriers = ("text", "audio", "vision")
    for i in range(n_variant):
        pol = -1 if i % 2 == 0 else 1
        if per_class[pol] == 0:
            pol = -pol
        per_class[pol] -= 1
        rows.append((pol, carriers[(i // 2) % 3]))
    for pol, count in per_class.items():
        rows += [(pol, "all")] * count
    # Alternate languages within each polarity, so both languages see every polarity and variant.
    seen = {-1: 0, 0: 0, 1: 0}
    tagged = []
    for pol, variant in rows:
        tagged.append((("zh", "en")[seen[pol] % 2], pol, variant))
        seen[pol] += 1
    tagged = [tagged[i] for i in rng.permutation(len(tagged))]
    # Two clips per speaker video, same language, so splits by video_id keep a speaker whole.
    out: list[_Row] = []
    per_lang: dict[str, int] = {"zh": 0, "en": 0}
    for lang, pol, variant in sorted(tagged, key=lambda r: r[0]):
        k = per_lang[lang]
        per_lang[lang] += 1
        out.append(_Row(f"{lang}_spk{k // 2:03d}", f"{k % 2 + 1:04d}", lang, pol, variant))
    return out


def _assign_modes(video_ids: list[str], rng: np.random.Generator) -> dict[str, str]:
    """About 60/15/25 per language (a larger test split keeps demo numbers steadier), at least one
    video in valid and test when there are three."""
    modes: dict[str, str] = {}
    for lang in ("zh", "en"):
        vids = sorted({v for v in video_ids if v.startswith(lang)})
        vids = [vids[i] for i in rng.permutation(len(vids))]
        n = len(vids)
        n_test = max(1, round(0.25 * n)) if n >= 3 else 0
        n_valid = max(1, round(0.15 * n)) if n >= 3 else 0
        for i, v in enumerate(vids):
            modes[v] = "test" if i < n_test else "valid" if i < n_test + n_valid else "train"
    return modes


def make_demo_corpus(out: str | Path, n: int = 24, seed: int = 0, variant_fraction: float = 0.25,
                     width: int = 256, height: int = 256, fps: int = 10, progress=None,
                     workers: int | None = None) -> pd.DataFrame:
    """Write `n` clips + label.csv + corpus.json under `out`; the same seed writes the same bytes.

    Clips render in fresh worker processes (forked from a clean fork server, one clip each):
    eSpeak NG keeps state between utterances that no API resets, so a clip is only reproducible
    when it is the first thing its process says. It also uses every core.
    """
    import multiprocessing

    out = Path(out)
    rng = np.random.default_rng(seed)
    plan = plan_corpus(n, seed, variant_fraction)
    modes = _assign_modes([r.video_id for r in plan], rng)
    decks = sentence_decks(rng)
    jobs = [_plan_row(out, row, modes[row.video_id], decks, rng, seed, i, width, height, fps) for i, row in enumerate(plan)]
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["clmer.synthetic.demo_worker"])
    with ProcessPoolExecutor(max_workers=workers or min(len(jobs), os.cpu_count() or 1), mp_context=ctx,
                             max_tasks_per_child=1) as pool:
        for i, _ in enumerate(pool.map(_render_job, [(spec, path) for spec, path, _ in jobs])):
            if progress:
                progress(i + 1, len(jobs))
    frame = pd.DataFrame([record for _, _, record in jobs])
    frame.to_csv(out / "label.csv", index=False, encoding="utf-8")
    meta = {"name": "clmer-demo", "flavour": "chsims2", "n": n, "seed": seed, "variant_fraction": variant_fraction,
            "generator": "clmer demo-data", "note": "synthetic voices (eSpeak NG) and drawn faces"}
    atomic.write_json(out / "corpus.json", meta)
    return frame


SPLIT_SHARES = {"train": 0.6, "valid": 0.15, "test": 0.25}


def sentence_decks(rng: np.random.Generator) -> dict[tuple[str, str, str], list[int]]:
    """Each (language, polarity) sentence list cut into disjoint train / valid / test parts: a test clip
    never says a sentence a training clip said, so the text modality is tested on unseen words."""
    decks = {}
    for lang in SENTENCES:
        for name, sentences in SENTENCES[lang].items():
            order = list(rng.permutation(len(sentences)))
            n_test = max(1, round(SPLIT_SHARES["test"] * len(order)))
            n_valid = max(1, round(SPLIT_SHARES["valid"] * len(order)))
            decks[(lang, name, "test")] = order[:n_test]
            decks[(lang, name, "valid")] = order[n_test: n_test + n_valid]
            decks[(lang, name, "train")] = order[n_test + n_valid:]
    return decks


def _draw(decks: dict, lang: str, name: str, mode: str) -> str:
    deck = decks[(lang, name, mode)]
    idx = deck.pop(0)
    deck.append(idx)  # cycle once every sentence has been used
    return SENTENCES[lang][name][idx]


def _render_job(job: tuple[ClipSpec, Path]) -> dict:
    spec, path = job
    return render_clip(spec, path)


def _plan_row(out: Path, row: _Row, mode: str, decks: dict, rng: np.random.Generator, seed: int, i: int,
              width: int, height: int, fps: int) -> tuple[ClipSpec, Path, dict]:
    magnitude = float(rng.choice(_MAGNITUDES)) if row.polarity else 0.0
    label = row.polarity * magnitude
    carries = {m: (row.variant in ("all", m)) for m in ("text", "audio", "vision")}
    vals = {m: (label if carries[m] else 0.0) for m in carries}
    text = _draw(decks, row.language, POLARITY_NAMES[int(np.sign(vals["text"]))], mode)
    speaker = int(row.video_id.split("spk")[1])
    spec = ClipSpec(
        text=text, language=row.language, text_valence=vals["text"], audio_valence=vals["audio"],
        face_valence=vals["vision"], style_seed=seed * 1000 + speaker * 2 + (row.language == "zh"),
        voice_variant=_VOICE_VARIANTS[(speaker + (row.language == "zh")) % len(_VOICE_VARIANTS)],
        lead_in=float(rng.uniform(0.3, 0.8)), noise_seed=seed * 100_000 + i, fps=fps, width=width, height=height,
    )
    return spec, out / "Raw" / row.video_id / f"{row.clip_id}.mp4", {
        "video_id": row.video_id, "clip_id": row.clip_id, "text": text,
        "label": round(label, 3), "label_T": round(vals["text"], 3), "label_A": round(vals["audio"], 3),
        "label_V": round(vals["vision"], 3), "annotation": POLARITY_NAMES[row.polarity].capitalize(),
        "mode": mode, "language": row.language, "variant": row.variant,
    }
