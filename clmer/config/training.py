"""The fusion model's shape, its training (warm-up and the policy stage), evaluation and the reasoning LM."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from clmer.config.base import _Section


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
    fusion_combine: Literal["hidden", "logits"] = Field(
        "hidden", description="What the weights combine (fusion_mode='policy'): 'hidden' = the classifier reads "
        "sum_m w_m h_m; 'logits' = the fused class logits are sum_m w_m l_m over each modality's own logits l_m "
        "(the shared classifier on h_m alone), so w_m l_m is an exact additive attribution of the decision.")


class TrainConfig(_Section):
    seed: int = Field(0, description="Seed for torch, numpy and python: same data + seed = same model.")
    text_source: Literal["asr", "manifest"] = Field("asr", description="Transcript training reads: 'asr' (what "
        "scoring sees, with ASR confidence) or 'manifest' (the corpus's text). Recorded with the model.")
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
    corrupt_fraction: float = Field(0.5, ge=0, le=1, description="Share of policy-stage clips with one modality "
                                    "corrupted on purpose (swap with any other clip, noise, flat, garbled, frozen); "
                                    "the rest stay clean, so the policy also learns what to trust when nothing is wrong.")
    rl_epochs: int = Field(40, ge=0, description="Policy-stage epochs over the calibration clips.")
    rl_lr: float = Field(3e-3, gt=0, description="Learning rate of the policy during RL.")
    gate_lr: float = Field(1e-3, gt=0, description="Learning rate of the policy in the supervised-gate baseline.")
    group_size: int = Field(16, ge=2, description="G: weightings sampled per clip; advantages are taken within it.")
    advantage_scale: Literal["none", "std"] = Field(
        "none", description="Group advantages: 'none' = r - mean(r) over the clip's G samples (Dr-GRPO: a group "
        "whose rewards differ by noise keeps a noise-sized advantage); 'std' = also divided by the group's std "
        "(GRPO: turns 1e-3 differences into +-1).")
    clip_eps: float = Field(0.2, gt=0, description="PPO-style clipping of the policy ratio.")
    kl_beta: float = Field(0.02, ge=0, description="Weight of the KL to the warm-up policy (exact, between the two Gaussian policies).")
    entropy_bonus: float = Field(0.0, ge=0, description="Bonus on the entropy of the deterministic weights (RLVR and "
                                 "the gate). Off by default: it pulls every clip's weights towards uniform, so they "
                                 "cannot name the one modality that decided.")
    rl_inner_steps: int = Field(2, ge=1, description="Policy updates per sampled group (ratio != 1 after the first).")
    reward_accuracy: float = Field(1.0, ge=0, description="Weight of the accuracy reward (gold class predicted).")
    reward_likelihood: float = Field(1.0, ge=0, description="Weight of the gold-class log-odds reward.")
    reward_log_odds_clip: float = Field(
        5.0, gt=0, description="Log-odds rewards (log p - log(1 - p)) are clipped to +-this, so one saturated clip "
        "(p = 1e-9 or 1 - 1e-9) cannot outweigh a batch.")
    reward_reliability: float = Field(
        1.0, ge=0, description="Weight of the reliability reward: a corrupted modality gets no more than its fair weight.")
    reward_faithfulness: float = Field(
        0.0, ge=0, description="Weight of the faithful-weight reward: 1 when the top sampled weight is on the "
        "modality whose removal lowers the predicted class's log-odds most, measured on the calibration clips "
        "(which the heads never fitted); 0 turns it off (and skips the removal passes). Off by default: on the "
        "demo's validation split (3 seeds) it did not raise carrier-by-weight (.333 vs .389 without it).")
    checkpoint_every: int = Field(5, ge=1, description="Save a resumable checkpoint every n epochs.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Device for the fusion model.")


class EvalConfig(_Section):
    shapley: bool = Field(True, description="Exact 3-modality Shapley values per clip (8 subsets).")


class ReasoningConfig(_Section):
    enabled: Literal["auto", "on", "off"] = Field(
        "auto", description="The reasoning-text LM: 'auto' = on whenever a real (not tiny) explainer model is in the "
        "model store; 'on' also uses the tiny random one (plumbing tests); 'off' = the grounded template only.")
    train: Literal["auto", "on", "off"] = Field(
        "auto", description="In the nightly flow: 'auto' = reuse the champion's adapter if trained on the same base "
        "LM, else train (SFT then GRPO, within budgets); 'on' = always train; 'off' = the zero-shot LM.")
    runtime: Literal["auto", "transformers", "transformers-int8", "ctranslate2"] = Field(
        "auto", description="Where the LM runs when scoring: 'auto' = ctranslate2 on a CPU, transformers on a GPU.")
    ct2_compute_type: Literal["int8", "int8_float32", "float32"] = Field(
        "int8", description="CTranslate2 weights: int8 (fastest on a CPU) or float32 (= transformers' greedy output).")
    generate_max_new_tokens: int = Field(56, ge=8, description="Tokens the LM may write (scoring and training alike).")
    max_quotes: int = Field(2, ge=0, description="Quotes the LM may open; each is filled with the next top word.")
    repetition_penalty: float = Field(1.1, ge=1.0, description="Penalty on tokens the LM already wrote (no loops).")
    batch_size: int = Field(8, ge=1, description="Reports of a drop written by the LM in one batch.")
    min_words: int = Field(12, ge=1, description="Length reward: fewest words in <think> (Chinese: characters / 2).")
    max_words: int = Field(70, ge=2, description="Length reward: most words in <think> (Chinese: characters / 2).")
    sft_steps: int = Field(60, ge=0, description="SFT cold-start steps (LoRA, one example each), at most; 0 skips it.")
    sft_time_budget_s: float = Field(1800.0, gt=0, description="Wall-clock budget for SFT; no step starts that "
                                     "would end past it (2 CPU cores: ~10-25 s a step for a 0.5B LM).")
    sft_learning_rate: float = Field(2e-4, gt=0, description="AdamW learning rate of the LoRA adapter in SFT.")
    sft_phrasings: int = Field(2, ge=1, description="SFT targets per training clip (phrasings of its facts).")
    max_steps: int = Field(20, ge=0, description="GRPO steps, at most (time_budget_s may stop sooner); 0 skips GRPO.")
    time_budget_s: float = Field(1800.0, gt=0, description="Wall-clock budget for GRPO; no step starts that would "
                                 "end past it (by the mean step time so far).")
    num_generations: int = Field(4, ge=2, description="Completions sampled per prompt (the GRPO group).")
    prompts_per_step: int = Field(1, ge=1, description="Prompts per optimisation step (x num_generations completions).")
    learning_rate: float = Field(5e-5, gt=0, description="AdamW learning rate of the LoRA adapter in GRPO.")
    lora_rank: int = Field(8, ge=1, description="LoRA rank (attention and MLP projections); a full fine-tune would "
                           "copy the whole LM into every registered version.")
    beta: float = Field(0.0, ge=0, description="KL weight to the reference model in GRPO (0: no reference forward).")
    temperature: float = Field(0.9, gt=0, description="Sampling temperature of GRPO's rollouts (inference is greedy).")
    reward_weights: list[float] = Field(
        default_factory=lambda: [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5],
        description="Weights of the rewards in clmer.explain.reasoning_rewards.REWARDS (format ... length).")
    checkpoint_every: int = Field(5, ge=1, description="SFT and GRPO save a resumable checkpoint every n steps.")
    max_examples: int = Field(256, ge=1, description="Training clips taken from the training split.")
    eval_examples: int = Field(16, ge=0, description="Validation clips the LM is measured on before and after.")
    threads: int = Field(0, ge=0, description="CPU threads for the LM (0 = torch's default).")
