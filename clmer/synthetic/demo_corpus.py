"""`clmer demo-data`: a bilingual MMSA-layout corpus of real videos, made here.

No labelled emotional video can be downloaded on the build machines, so the project makes its own:
each clip is an H.264 + AAC mp4 in which a neural voice (Kokoro-82M through the model store; eSpeak NG
only as a fallback that says it is one) speaks a Mandarin or English sentence while a drawn face reacts.

The world (details in `world_plan`, `speakers`, `prosody`, `face_render`):
* about six clips per speaker, each speaker a voice mixture with their own pitch, range, loudness,
  rate and face; splits are speaker-, sentence- and translation-disjoint and balanced by class;
* CH-SIMS v2 labels per modality (label_T, label_A, label_V) with continuous magnitudes, single-carrier,
  agreeing and disagreeing clips, the overall label = mean of the three, and 7 % label noise;
* some clips without speech, without a face, with the face leaving the frame, with noise or music;
* the languages differ: zh valence lives mostly in pitch range (plus an eye smile only zh faces make),
  en valence in loudness, energy dynamics and rate (and the mouth more than the brows).

What one clip carries (scoring sees single clips of unknown speakers, so it must): the words; the
voice's pitch range and energy contour against its own first part (the speaker's neutral lead-in:
the valence change fades in after 20-40 % of the utterance), and its rate; the face's change from its
own resting expression in the clip's first frames (the expression sets in with the speech). Absolute
levels (mean pitch, loudness, mouth bend, eye-white area, colours) mostly say who speaks.

What it cannot stand in for: real faces (drawn, frontal, no occlusion but glasses), real actors (the
emotion is a rule applied to neutral TTS speech, not acted), real rooms and microphones, code-switching.
label.csv: video_id, clip_id, text, label, label_T, label_A, label_V, annotation, mode, language,
speaker, variant, emotion_words. world.csv: per clip, what the generator did (noise, face, prosody).
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from clmer import atomic
from clmer.synthetic.face_render import render_empty, render_face
from clmer.synthetic.prosody import apply_prosody, background, clip_prosody, mix
from clmer.synthetic.speakers import LANGUAGE_CUES, Speaker
from clmer.synthetic.world_plan import POLARITY_NAMES, ClipPlan, plan_world

log = logging.getLogger(__name__)
MIN_SECONDS, MAX_SECONDS = 3.0, 8.0
__all__ = ["ClipSpec", "render_clip", "make_demo_corpus", "prosody_for", "POLARITY_NAMES"]


@dataclass
class ClipSpec:
    """Everything that decides how one clip looks and sounds."""

    text: str
    language: str
    text_valence: float  # the sentence's polarity, for the record (the words carry it)
    audio_valence: float  # drives prosody, relative to the speaker's baseline
    face_valence: float  # drives the expression, relative to the speaker's resting face
    style_seed: int  # the speaker, when `speaker` is not given
    voice_variant: str = "m1"  # eSpeak NG variant of the fallback voice
    lead_in: float = 0.5  # seconds of silence before speech
    noise_seed: int = 0
    fps: int = 10
    width: int = 256
    height: int = 256
    extras: dict = field(default_factory=dict)
    speaker: Speaker | None = None
    face: str = "present"  # present | leaves | absent
    background: str = "none"  # none | noise | music
    snr_db: float = 35.0
    duration_s: float | None = None  # None: drawn per clip, independent of the label
    phonemes: str | None = None  # Kokoro's input, when the caller phonemised already


def prosody_for(valence: float):
    """eSpeak NG's own voice controls for a valence (pitch, range, rate, volume): what a caller that
    speaks with eSpeak directly can use; the corpus itself speaks neutrally and moves the waveform."""
    from clmer.synthetic.speech_synth import Prosody

    v = float(np.clip(valence, -1.0, 1.0))
    return Prosody(pitch=int(round(48 + 30 * v)), pitch_range=int(round(50 + 40 * v)), rate=int(round(160 + 45 * v)),
                   volume=int(round(110 + 60 * v)))


def spec_speaker(spec: ClipSpec) -> Speaker:
    if spec.speaker is not None:
        return spec.speaker
    from dataclasses import replace

    s = Speaker.random(np.random.default_rng([spec.style_seed, 5]), f"seed{spec.style_seed}", spec.language)
    return replace(s, espeak_variant=spec.voice_variant)


_voice: dict = {}


def _speak(spec: ClipSpec, speaker: Speaker, speed: float, engine: str, model_dir: str | None) -> tuple[np.ndarray, int]:
    if engine == "espeak":
        from clmer.synthetic.speech_synth import Prosody, synthesize

        return synthesize(spec.text, spec.language, Prosody(rate=int(round(165 * speed))), speaker.espeak_variant)
    from dataclasses import replace

    from clmer.synthetic import kokoro_tts

    if _voice.get("dir") != model_dir:
        from clmer.config import PathsConfig

        home = PathsConfig().home
        _voice.update(dir=model_dir, engine=kokoro_tts.Kokoro(model_dir or kokoro_tts.resolve_model(), threads=1,
                                                              cache_dir=Path(home) / "cache" / "demo-speech"))
    tts = _voice["engine"]
    voice = replace(speaker.voice, speed=round(speed, 2))  # steps of .01: a remade corpus hits the cache
    if spec.phonemes:
        return tts.speak_phonemes(spec.phonemes, voice), kokoro_tts.SAMPLE_RATE
    return tts.speak(spec.text, spec.language, voice), kokoro_tts.SAMPLE_RATE


def render_clip(spec: ClipSpec, path: str | Path, engine: str | None = None, model_dir: str | None = None) -> dict:
    """Write one clip; returns facts about it (duration, speech span, the prosody and face it got)."""
    engine = engine or resolve_engine(None)[0]
    rng = np.random.default_rng([spec.noise_seed, 11])
    speaker = spec_speaker(spec)
    p = clip_prosody(speaker, spec.language, spec.audio_valence, rng)
    sr = 24000 if engine == "kokoro" else 22050
    speech = np.zeros(0, np.float32)
    if spec.text.strip():
        raw, sr = _speak(spec, speaker, p["speed"], engine, model_dir)
        if len(raw) / sr > MAX_SECONDS - 0.8:  # keep every clip inside 3-8 s: say it faster
            p["speed"] *= len(raw) / sr / (MAX_SECONDS - 1.0)
            raw, sr = _speak(spec, speaker, p["speed"], engine, model_dir)
        speech = apply_prosody(raw, sr, p, speaker)
    speech_s = len(speech) / sr
    need = min(speech_s + spec.lead_in + 0.4, MAX_SECONDS)
    total_s = spec.duration_s or float(rng.uniform(max(MIN_SECONDS + 1.0, need), MAX_SECONDS))
    total = int(np.clip(max(total_s, need), MIN_SECONDS, MAX_SECONDS) * sr)
    lead = min(int(spec.lead_in * sr), max(0, total - len(speech)))
    audio = np.zeros(total, np.float32)
    audio[lead: lead + len(speech)] = speech[: total - lead]
    audio += rng.normal(0, 10 ** (rng.uniform(-62, -52) / 20), total).astype(np.float32)  # room tone
    speech_rms = float(np.sqrt(np.mean(speech ** 2))) if len(speech) else 10 ** (-24 / 20)
    if spec.background != "none":
        audio += mix(speech_rms, background(spec.background, total, sr, rng), spec.snr_db)
    frames, face_facts = _frames(spec, speaker, audio, sr, lead / sr, speech_s, p["lead"], rng)
    from clmer.synthetic.video_writer import write_video

    write_video(path, frames, fps=spec.fps, audio=np.clip(audio, -1, 1), sample_rate=sr)
    return {"duration_s": total / sr, "speech_start_s": lead / sr, "speech_end_s": (lead + len(speech)) / sr,
            "engine": engine} | {f"audio_{k}": round(v, 4) for k, v in p.items()} | face_facts


def _frames(spec: ClipSpec, speaker: Speaker, audio: np.ndarray, sr: int, speech_start: float, speech_s: float,
            lead: float, rng: np.random.Generator):
    """The clip's frames (a generator) and what they show: the expression fades in from the resting face
    when the emotional part of the speech starts (or, without speech, a second in)."""
    n_frames = int(round(len(audio) / sr * spec.fps))
    hop = sr / spec.fps
    rms = np.array([np.sqrt(np.mean(audio[int(i * hop): int((i + 1) * hop)] ** 2) + 1e-12) for i in range(n_frames)])
    envelope = np.clip(rms / (np.percentile(rms, 95) + 1e-9) * 0.9, 0, 1) if speech_s else np.zeros(n_frames)
    cue = LANGUAGE_CUES[spec.language]
    onset = speech_start + lead * speech_s if speech_s else 1.0
    onset += float(rng.normal(0, 0.2))
    gains = {k: cue[k] * float(np.clip(rng.normal(1.0, 0.12), 0.6, 1.4)) for k in ("mouth", "brow", "eye_smile")}
    v = float(np.clip(spec.face_valence, -1, 1)) * speaker.expressiveness
    style = speaker.face
    light_gain = float(rng.uniform(0.92, 1.08))
    blinks = rng.random(n_frames) < style.blink_rate / spec.fps
    leave_at, leave_dir = float(rng.uniform(0.2, 0.7)) * n_frames / spec.fps, float(rng.choice([-1, 1]))
    phase = float(rng.uniform(0, 6.3))

    def frame(i: int) -> np.ndarray:
        t = i / spec.fps
        x = float(np.clip((t - onset) / 0.6, 0, 1))
        e = v * x * x * (3 - 2 * x)
        if spec.face == "absent":
            img = render_empty(spec.width, spec.height, style)
        else:
            dx = leave_dir * float(np.clip((t - leave_at) / 1.2, 0, 1)) * 0.8 if spec.face == "leaves" else 0.0
            img = render_face(spec.width, spec.height, gains["mouth"] * e, style, mouth_open=float(envelope[i]),
                              blink=bool(blinks[i]), sway=float(np.sin(t * 1.3 + phase)), brow=gains["brow"] * e,
                              eye_smile=gains["eye_smile"] * max(e, 0.0), shift=(dx, 0.0))
        noise = np.random.default_rng([spec.noise_seed, i]).normal(0, 2.0, img.shape)
        return np.clip(img.astype(np.float32) * light_gain + noise, 0, 255).astype(np.uint8)

    return (frame(i) for i in range(n_frames)), {"face": spec.face, "face_onset_s": round(onset, 3)}


def resolve_engine(speech: str | None, model_store: str | Path | None = None) -> tuple[str, str | None, str]:
    """(engine, Kokoro model dir or None, a line saying which voice and why)."""
    from clmer.config import DemoConfig
    from clmer.features import importers
    from clmer.synthetic import kokoro_tts

    speech = speech or DemoConfig().speech
    if speech == "espeak":
        return "espeak", None, "demo voice: eSpeak NG (set explicitly; Mandarin is hard to understand)"
    try:
        model_dir = kokoro_tts.resolve_model(model_store, import_if_missing=True)
        return "kokoro", str(model_dir), f"demo voice: Kokoro-82M from the model store ({Path(model_dir).name})"  # no machine path in the corpus
    except (kokoro_tts.KokoroMissingError, importers.PackageMissingError) as exc:
        if speech == "kokoro":
            raise
        line = f"demo voice: eSpeak NG FALLBACK (Kokoro unavailable: {exc}); Mandarin will be hard to understand"
        log.warning(line)
        return "espeak", None, line


def make_demo_corpus(out: str | Path, n: int = 24, seed: int = 0, variant_fraction: float = 0.25,
                     width: int = 256, height: int = 256, fps: int = 10, progress=None,
                     workers: int | None = None, speech: str | None = None, disagreement_fraction: float = 0.25,
                     label_noise: float = 0.07, held_out: bool = False, model_store: str | Path | None = None
                     ) -> pd.DataFrame:
    """Write `n` clips + label.csv + world.csv + corpus.json under `out`; the same seed writes the same
    corpus. `speech`: kokoro | espeak | auto (default: `demo.speech`); `held_out`: only sentences and
    speakers no corpus split has (a demo drop).

    Clips render in parallel worker processes started from a clean fork server. Kokoro workers live
    for many clips (one ONNX session each); eSpeak NG keeps state between utterances that no API resets,
    so there each worker says one clip only (a clip is reproducible only as its process's first words).
    """
    import multiprocessing

    out = Path(out)
    engine, model_dir, note = resolve_engine(speech, model_store)
    plans = plan_world(n, seed, variant_fraction, disagreement_fraction, label_noise, held_out)
    jobs = [(_spec(p, seed, i, width, height, fps, engine), out / "Raw" / p.video_id / f"{p.clip_id}.mp4")
            for i, p in enumerate(plans)]
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["clmer.synthetic.demo_worker"])
    n_workers = workers or min(len(jobs), os.cpu_count() or 1)
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx,
                             max_tasks_per_child=1 if engine == "espeak" else None) as pool:
        facts = []
        for i, fact in enumerate(pool.map(_render_job, [(spec, path, engine, model_dir) for spec, path in jobs])):
            facts.append(fact)
            if progress:
                progress(i + 1, len(jobs))
    frame = pd.DataFrame([p.row() for p in plans])
    frame.to_csv(out / "label.csv", index=False, encoding="utf-8")
    world = pd.DataFrame([_world_row(p, f) for p, f in zip(plans, facts)])
    world.to_csv(out / "world.csv", index=False, encoding="utf-8")
    meta = {"name": "clmer-demo", "flavour": "chsims2", "n": n, "seed": seed, "variant_fraction": variant_fraction,
            "disagreement_fraction": disagreement_fraction, "label_noise": label_noise, "held_out": held_out,
            "generator": "clmer demo-data", "speech": engine, "speech_note": note,
            "label_rule": "label = round((label_T + label_A + label_V) / 3, 3), except world.csv's noisy clips",
            "language_cues": LANGUAGE_CUES, "speakers": int(frame["speaker"].nunique()),
            "note": "synthetic voices (Kokoro-82M or the eSpeak NG fallback) and drawn faces; see the module docstring"}
    atomic.write_json(out / "corpus.json", meta)
    return frame


def _spec(p: ClipPlan, seed: int, i: int, width: int, height: int, fps: int, engine: str) -> ClipSpec:
    rng = np.random.default_rng([seed, i, 3])
    phonemes = None
    if engine == "kokoro" and p.speech and p.text:
        from clmer.synthetic.kokoro_tts import phonemes as to_phonemes

        phonemes = to_phonemes(p.text, p.language)  # here, once: espeak's phonemiser is not for forked workers
    return ClipSpec(text=p.text if p.speech else "", language=p.language, text_valence=p.label_T,
                    audio_valence=p.label_A, face_valence=p.label_V, style_seed=seed, speaker=p.speaker,
                    voice_variant=p.speaker.espeak_variant, lead_in=float(rng.uniform(0.3, 1.2)),
                    noise_seed=seed * 100_000 + i, fps=fps, width=width, height=height, face=p.face,
                    background=p.background, snr_db=p.snr_db, phonemes=phonemes)


def _world_row(p: ClipPlan, facts: dict) -> dict:
    return {"video_id": p.video_id, "clip_id": p.clip_id, "speaker": p.speaker.id, "mode": p.mode,
            "drawn_polarity": p.polarity, "noisy": p.noisy, "speech": p.speech, "background": p.background,
            "snr_db": round(p.snr_db, 1), "voice": p.speaker.voice.key(), "speaker_pitch_st": round(p.speaker.pitch_st, 2),
            "speaker_gain_db": round(p.speaker.gain_db, 2)} | facts


def _render_job(job: tuple[ClipSpec, Path, str, str | None]) -> dict:
    spec, path, engine, model_dir = job
    return render_clip(spec, path, engine, model_dir)
