"""Emotion on the waveform: a speaker's baseline plus a valence change that sets in mid-utterance.

Neither TTS engine has emotion controls beyond speed, so the voice is changed after synthesis:

* pitch: Praat's PSOLA resynthesis (parselmouth) with a new pitch tier: every F0 point moved to
  `mean * 2^(shift/12) * (f0/mean)^range`, so the speaker's offset moves the mean and valence widens or
  flattens the excursions (how lively the intonation is) on top of the speaker's own range;
* energy: the amplitude envelope raised to a power (peaks louder than troughs, or flattened), and a level;
* tempo is the synthesis speed (the caller's), so it needs no resampling here.

Each change follows a ramp: the first part of the utterance (`LEAD_FRACTION`) is the speaker at their
baseline, then the valence change fades in, so a single clip holds the contrast. Each clip draws its
own noise around every gain, so the voice is a cue to learn, not a constant per label. Backgrounds
(room tone, noise, music) are mixed at a chosen signal-to-noise ratio.
"""

from __future__ import annotations

import numpy as np

from clmer.synthetic.speakers import LANGUAGE_CUES, LEAD_FRACTION, Speaker

REFERENCE_DBFS = -21.0  # speech is levelled here before the speaker's and the clip's gains


def clip_prosody(speaker: Speaker, language: str, valence: float, rng: np.random.Generator) -> dict[str, float]:
    """The numbers one clip is spoken with: speaker baseline + language gain x valence + noise."""
    cue = LANGUAGE_CUES[language]
    v = float(np.clip(valence, -1.0, 1.0)) * speaker.expressiveness
    return {
        "pitch_st": speaker.pitch_st + cue["pitch_st"] * v + float(rng.normal(0, 0.4)),
        "range": max(0.3, speaker.range_scale * (1.0 + cue["range"] * v + float(rng.normal(0, 0.07)))),
        "dynamics": speaker.dynamics + cue["dynamics"] * v + float(rng.normal(0, 0.04)),
        "gain_db": speaker.gain_db + cue["loud_db"] * v + float(rng.normal(0, 1.0)),
        "speed": speaker.voice.speed * (1.0 + cue["tempo"] * v + float(rng.normal(0, 0.025))),
        "lead": float(rng.uniform(*LEAD_FRACTION)),
    }


def ramp(n: int, lead: float) -> np.ndarray:
    """0 over the first `lead` of n points, then a smooth rise to 1 over the next quarter."""
    t = np.linspace(0.0, 1.0, n)
    x = np.clip((t - lead) / 0.25, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def apply_prosody(wav: np.ndarray, sr: int, p: dict[str, float], speaker: Speaker) -> np.ndarray:
    """`wav` re-spoken with the clip's pitch and energy (same length and rate)."""
    wav = _pitch(wav.astype(np.float64), sr, p, speaker)
    wav = _energy(wav, sr, p, speaker)
    rms = float(np.sqrt(np.mean(wav ** 2)) + 1e-9)
    wav = wav * (10 ** ((REFERENCE_DBFS + p["gain_db"]) / 20) / rms)
    peak = float(np.max(np.abs(wav)) + 1e-9)
    return (wav / peak * 0.97 if peak > 0.97 else wav).astype(np.float32)


def _pitch(wav: np.ndarray, sr: int, p: dict[str, float], speaker: Speaker) -> np.ndarray:
    import parselmouth
    from parselmouth.praat import call

    sound = parselmouth.Sound(wav, sampling_frequency=sr)
    manipulation = call(sound, "To Manipulation", 0.01, 60, 500)
    tier = call(manipulation, "Extract pitch tier")
    n = int(call(tier, "Get number of points"))
    if n < 3:  # nothing voiced: nothing to move
        return wav
    times = np.array([call(tier, "Get time from index", i + 1) for i in range(n)])
    f0 = np.array([call(tier, "Get value at index", i + 1) for i in range(n)])
    mean = float(np.exp(np.mean(np.log(f0))))
    r = ramp(n, p["lead"])
    # Before the ramp: the speaker's own offset and range; after it, the clip's.
    shift = speaker.pitch_st + r * (p["pitch_st"] - speaker.pitch_st)
    expo = speaker.range_scale + r * (p["range"] - speaker.range_scale)
    new = mean * 2 ** (shift / 12) * (f0 / mean) ** expo
    out_tier = call("Create PitchTier", "clip", 0.0, sound.duration)
    for t, f in zip(times, np.clip(new, 55, 480)):
        call(out_tier, "Add point", float(t), float(f))
    call([manipulation, out_tier], "Replace pitch tier")
    return call(manipulation, "Get resynthesis (overlap-add)").values[0].astype(np.float64)


def _energy(wav: np.ndarray, sr: int, p: dict[str, float], speaker: Speaker) -> np.ndarray:
    hop = max(1, sr // 100)
    frames = len(wav) // hop
    if frames < 4:
        return wav
    power = (wav[: frames * hop].reshape(frames, hop) ** 2).mean(1)
    env = np.sqrt(np.convolve(power, np.ones(5) / 5, "same"))
    voiced = env > 0.05 * env.max()
    if not voiced.any():
        return wav
    ref = float(np.median(env[voiced]))
    r = ramp(frames, p["lead"])
    gamma = speaker.dynamics + r * (p["dynamics"] - speaker.dynamics)
    gain = np.where(voiced, np.clip((np.maximum(env, 1e-6) / ref) ** gamma, 0.3, 3.0), 1.0)
    level = 10 ** (r * (p["gain_db"] - speaker.gain_db) / 20)  # the level change fades in too
    curve = np.interp(np.arange(len(wav)), (np.arange(frames) + 0.5) * hop, gain * level)
    return wav * curve


def background(kind: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS background of n samples: 'noise' (pink: fans, traffic) or 'music' (a chord sequence)."""
    if kind == "noise":
        spectrum = np.fft.rfft(rng.normal(0, 1, n))
        freqs = np.fft.rfftfreq(n, 1 / sr)
        sig = np.fft.irfft(spectrum / np.sqrt(np.maximum(freqs, 20.0)), n)
    elif kind == "music":
        t = np.arange(n) / sr
        sig = np.zeros(n)
        root = float(rng.uniform(110, 220))
        chord_s = float(rng.uniform(1.2, 2.2))
        for k in range(int(np.ceil(n / sr / chord_s))):
            step = [0, 5, 7, 9, 3][int(rng.integers(5))]
            seg = (t >= k * chord_s) & (t < (k + 1) * chord_s)
            local = t[seg] - k * chord_s
            env = np.exp(-local * float(rng.uniform(0.6, 1.6)))
            for interval in (0, 4, 7):
                f = root * 2 ** ((step + interval) / 12)
                sig[seg] += env * (np.sin(2 * np.pi * f * t[seg]) + 0.35 * np.sin(4 * np.pi * f * t[seg]))
    else:
        raise ValueError(f"unknown background {kind!r}: 'noise' or 'music'")
    return (sig / (np.sqrt(np.mean(sig ** 2)) + 1e-12)).astype(np.float32)


def mix(speech_rms: float, bed: np.ndarray, snr_db: float) -> np.ndarray:
    """The background scaled so the speech stands `snr_db` above it."""
    return (bed * (speech_rms / 10 ** (snr_db / 20))).astype(np.float32)
