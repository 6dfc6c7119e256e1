"""ASR on demo speech: WER (English), CER (Mandarin), language-ID accuracy, real-time factor, and the
encoder passes per speech chunk of CLMER's one-pass path against faster-whisper's detect-then-transcribe.

    python benchmarks/asr_quality.py --corpus clmer_data/demo/corpus --n 40 [--model whisper-base]

Reference texts are the corpus's sentences (label.csv `text`); the speech is the clips' own audio.
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


def units(text: str, language: str) -> list[str]:
    if language == "zh":
        return [c for c in text if re.match(r"[\u4e00-\u9fff0-9a-zA-Z]", c)]
    return re.findall(r"[a-z0-9']+", text.lower())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--model", default="whisper-base")
    args = ap.parse_args()

    import pandas as pd

    from clmer.config import load_settings
    from clmer.data import media
    from clmer.features.encoders import get_extractor
    from clmer.features.encoders.asr import choose_language

    settings = load_settings(None, {"models": {"asr": args.model}})
    asr = get_extractor("asr", settings)
    frame = pd.read_csv(Path(args.corpus) / "label.csv")
    frame = frame.groupby("language").head(args.n // 2)  # the first n/2 clips of each language
    errors = {"zh": [0, 0], "en": [0, 0]}
    lid = {"restricted argmax": 0, "en if P(en) >= .5": 0, "unrestricted argmax": 0}
    audio_s = asr_s = 0.0
    passes_one = passes_two = chunks = 0
    for r in frame.itertuples():
        path = Path(args.corpus) / "Raw" / r.video_id / f"{int(r.clip_id):04d}.mp4"
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
