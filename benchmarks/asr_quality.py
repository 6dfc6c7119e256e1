"""ASR on demo speech: WER (English), CER (Mandarin, simplified), language-ID accuracy (overall and per
voice), real-time factor, and the encoder passes per speech chunk of CLMER's one-pass path against
faster-whisper's detect-then-transcribe.

    python benchmarks/asr_quality.py --corpus clmer_data/demo/corpus --n 40 [--model whisper-base]

Reference texts are the corpus's sentences (label.csv `text`); the speech is the clips' own audio (clips
without speech are skipped). Numbers are compared as written: English number words and digits, and
Chinese numerals and digits, count as the same word ("nine" = "9", "九" = "9"). The clip's language is
CLMER's decision (restricted to zh/en); "per voice" groups by the speaker's voice mixture (world.csv).
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path


def edit_distance(a: list, b: list) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


_EN_NUMBERS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())} | {"thirty": "30", "forty": "40", "fifty": "50", "hundred": "100"}


def units(text: str, language: str) -> list[str]:
    """Characters (zh, numerals as digits) or words (en, number words as digits) to align."""
    if language == "zh":
        import cn2an

        try:
            text = cn2an.transform(text, "cn2an")
        except (ValueError, KeyError):  # a numeral cn2an cannot read: compare as written
            pass
        return [c for c in text if re.match(r"[\u4e00-\u9fff0-9a-zA-Z]", c)]
    return [_EN_NUMBERS.get(w, w) for w in re.findall(r"[a-z0-9']+", text.lower())]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--model", default="whisper-base")
    ap.add_argument("--show", action="store_true", help="print every transcript beside its reference")
    args = ap.parse_args()

    import pandas as pd

    from clmer.config import load_settings
    from clmer.data import media
    from clmer.features.encoders import get_extractor
    from clmer.features.encoders.asr import choose_language

    settings = load_settings(None, {"models": {"asr": args.model}})
    asr = get_extractor("asr", settings)
    frame = pd.read_csv(Path(args.corpus) / "label.csv", keep_default_na=False, dtype={"clip_id": str})
    world = Path(args.corpus) / "world.csv"
    if world.exists():
        voices = pd.read_csv(world, dtype={"clip_id": str})[["video_id", "clip_id", "voice"]]
        frame = frame.merge(voices, on=["video_id", "clip_id"], how="left")
    else:
        frame["voice"] = "?"
    frame = frame[frame["text"].str.strip() != ""]
    frame = frame.groupby("language").head(args.n // 2)  # the first n/2 clips of each language
    errors = {"zh": [0, 0], "en": [0, 0]}
    per_voice: dict[str, list] = {}
    lid = {"restricted argmax": 0, "en if P(en) >= .5": 0, "unrestricted argmax": 0}
    audio_s = asr_s = 0.0
    passes_one = passes_two = chunks = 0
    for r in frame.itertuples():
        path = Path(args.corpus) / "Raw" / r.video_id / f"{r.clip_id}.mp4"
        audio = media.decode_for(path, settings).audio
        audio_s += len(audio) / settings.media.sample_rate
        start = time.perf_counter()
        before = asr.encoder_passes
        rec = asr.extract(audio)
        asr_s += time.perf_counter() - start
        passes_one += asr.encoder_passes - before
        hyp = rec.meta["text"]
        ref, hyp_u = units(r.text, r.language), units(hyp, r.language)
        errors[r.language][0] += edit_distance(ref, hyp_u)
        errors[r.language][1] += len(ref)
        v = per_voice.setdefault(f"{r.language} {r.voice}", [0, 0, 0, 0])
        v[0] += edit_distance(ref, hyp_u)
        v[1] += len(ref)
        v[2] += rec.meta.get("language") == r.language
        v[3] += 1
        if args.show:
            print(f"  {r.language} {r.voice}: {hyp}  <- {r.text}")
        for s, e in asr.speech_chunks(audio):  # the language rules, and faster-whisper's own path's cost
            chunks += 1
            chunk = audio[s:e]
            enc = asr._encode(asr.model.feature_extractor(chunk))
            probs = {tok[2:-2]: p for tok, p in asr.model.model.detect_language(enc)[0]}
            lid["restricted argmax"] += choose_language(probs, ["zh", "en"])[0] == r.language
            lid["en if P(en) >= .5"] += ("en" if probs.get("en", 0) >= 0.5 else "zh") == r.language
            lid["unrestricted argmax"] += max(probs, key=probs.get) == r.language
            counted = _count_encodes(asr.model)
            asr.model.detect_language(audio=chunk)
            list(asr.model.transcribe(chunk, language="en", beam_size=1, vad_filter=False)[0])
            passes_two += counted()
    print(f"clips: {len(frame)}, speech chunks: {chunks}, audio {audio_s:.1f} s")
    print(f"English WER {errors['en'][0] / max(1, errors['en'][1]):.3f}  Mandarin CER "
          f"{errors['zh'][0] / max(1, errors['zh'][1]):.3f}")
    print("language ID per chunk: " + ", ".join(f"{k} {v / max(1, chunks):.3f}" for k, v in lid.items()))
    clip_lid = sum(v[2] for v in per_voice.values()) / max(1, sum(v[3] for v in per_voice.values()))
    print(f"language ID per clip (CLMER's decision): {clip_lid:.3f}")
    print("per voice (WER for en, CER for zh; language-ID per clip):")
    for name, (err, total, right, count) in sorted(per_voice.items()):
        print(f"  {name:<40} error {err / max(1, total):.3f}  LID {right / count:.3f}  ({count} clips)")
    print(f"real-time factor {asr_s / audio_s:.3f} ({asr_s / audio_s * 60:.1f} s per minute of speech)")
    print(f"encoder passes per chunk: CLMER {passes_one / max(1, chunks):.2f}, "
          f"faster-whisper detect_language + transcribe {passes_two / max(1, chunks):.2f}")


def _count_encodes(model):
    calls = [0]
    original = model.encode

    def counting(features):
        calls[0] += 1
        return original(features)

    model.encode = counting

    def done() -> int:
        model.encode = original
        return calls[0]
    return done


if __name__ == "__main__":
    main()
