"""Throughput per stage on this machine's accelerator (CUDA when torch sees one, else the CPU): clips/s,
real-time factor (seconds of compute per second of video), peak GPU memory, for whatever model profile the
store holds; then batched extraction end to end, fusion training and reasoning-text generation.

    python benchmarks/gpu_throughput.py [--n 32] [--profile auto|full|small|tiny] [--corpus DIR]

Run it the day a GPU appears; the README's GPU estimate says which of its numbers are measured and which
are estimated. Without --corpus it makes a demo corpus of n clips in a temp folder.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from clmer.config import PROFILE_CHOICES


def _gpu_peak_mb() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() / 2**20
    torch.cuda.reset_peak_memory_stats()
    return peak


def _mem(peak: float | None) -> str:
    return f"{peak:8.0f} MB" if peak is not None else "     n/a"


def _line(name: str, seconds: float, clips: int, media_s: float, peak: float | None) -> str:
    return (f"  {name:<22} {seconds:8.2f} s  {clips / seconds:8.2f} clips/s  RTF {seconds / media_s:7.4f}"
            f"  peak GPU {_mem(peak)}")


def stages(jobs, settings) -> tuple[list, float]:
    """Each backbone alone over the clips, models warm: the per-stage table."""
    from clmer.data import media
    from clmer.features.encoders import get_extractor

    extractors = {r: get_extractor(r, settings) for r in ("asr", "text", "audio", "vision")}
    _gpu_peak_mb()
    decoded, t = [], time.perf_counter()
    for job in jobs:
        decoded.append(media.decode_for(job.path, settings))
    rows = [("decode (PyAV, CPU)", time.perf_counter() - t, None)]
    media_s = sum(d.duration_s for d in decoded)
    calls = {"asr": lambda j, d: extractors["asr"].extract(d.audio),
             "text": lambda j, d: extractors["text"].extract(j.transcript or ""),
             "audio": lambda j, d: extractors["audio"].extract(d.audio),
             "vision": lambda j, d: extractors["vision"].extract(d.frames, d.frame_times)}
    for role, call in calls.items():
        call(jobs[0], decoded[0])  # warm-up: CUDA kernels and lazy initialisation are not throughput
        _gpu_peak_mb()
        t = time.perf_counter()
        for job, d in zip(jobs, decoded):
            call(job, d)
        rows.append((role, time.perf_counter() - t, _gpu_peak_mb()))
    return rows, media_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=32,
                    help="Demo clips to make without --corpus (24 or more: training needs validation clips).")
    ap.add_argument("--corpus", type=Path, default=None, help="An MMSA-layout corpus to measure on instead.")
    ap.add_argument("--profile", default="auto", choices=PROFILE_CHOICES)
    args = ap.parse_args()

    import torch

    from clmer.config import load_settings
    from clmer.features.encoders import resolve_device
    from clmer.features.extract import extract_chunk, plan_jobs
    from clmer.features.feature_store import FeatureStore
    from clmer.pipeline import prepare_profile, train
    from clmer.synthetic.demo_corpus import make_demo_corpus

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        settings, message = prepare_profile(load_settings(overrides={
            "models": {"profile": args.profile},
            "paths": {"feature_store": str(tmp / "fs"), "runs": str(tmp / "runs")}}))
        device = resolve_device(settings.models.device)
        gpu = torch.cuda.get_device_name(0) if device == "cuda" else "none"
        print(f"{message}\ndevice: {device} (GPU: {gpu}), torch threads {torch.get_num_threads()}")
        corpus = args.corpus
        if corpus is None:
            corpus = tmp / "corpus"
            make_demo_corpus(corpus, n=args.n, seed=0)
        jobs, _ = plan_jobs(corpus, settings)
        rows, media_s = stages(jobs, settings)
        print(f"{len(jobs)} clips, {media_s / 60:.2f} min of video; per stage, models warm:")
        for name, seconds, peak in rows:
            print(_line(name, seconds, len(jobs), media_s, peak))

        out = tmp / "extract"
        t = time.perf_counter()
        extract_chunk(jobs, settings, FeatureStore(settings.paths.feature_store))
        cold = time.perf_counter() - t
        print(_line("extract (batched)", cold, len(jobs), media_s, _gpu_peak_mb()) + "  (manifest transcripts)")

        from clmer.pipeline import extract

        features = extract(corpus, settings, out)  # cached now: writes the feature table train reads
        t = time.perf_counter()
        train(corpus, features, settings, tmp / "train")
        fit = time.perf_counter() - t
        print(f"  {'train (warm-up + RLVR)':<22} {fit:8.2f} s  (default schedule: up to {settings.train.warmup_epochs} warm-up epochs, early stopping)"
              f"  peak GPU {_mem(_gpu_peak_mb())}")
        _generation(settings)


def _generation(settings) -> None:
    """Reasoning-text decoding speed of the store's explainer LM (tokens/s, seconds per 80-token report)."""
    from clmer.explain import reasoning
    from clmer.features.encoders import model_ref, resolve_device
    from clmer.features.model_store import ModelMissingError

    try:
        ref = model_ref("explainer", settings)
    except ModelMissingError:
        print("  reasoning LM: none in the store")
        return
    explainer = reasoning.Explainer(ref.path, resolve_device(settings.models.device), 80, name=ref.name,
                                    settings=settings)
    doc = {"language": "en", "transcript": "I really did not expect the ending, it was wonderful.",
           "prediction": {"polarity": "positive", "confidence": 0.8},
           "modality_shares": {"text": 0.6, "audio": 0.25, "vision": 0.15},
           "top_words": [{"word": "wonderful", "score": 0.4}, {"word": "expect", "score": -0.1}]}
    explainer.generate(doc)
    t = time.perf_counter()
    tokens = sum(explainer.generate(doc)[1] for _ in range(3))
    seconds = time.perf_counter() - t
    print(f"  {'reasoning LM':<22} {tokens / seconds:8.1f} tokens/s  {80 * seconds / max(tokens, 1):6.2f} s per "
          f"80-token report  ({ref.name})  peak GPU {_mem(_gpu_peak_mb())}")


if __name__ == "__main__":
    main()
