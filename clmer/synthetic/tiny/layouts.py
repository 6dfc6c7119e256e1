"""Layout constants of the real models the tiny ones stand in for (vocabularies, label orders, names)."""

# --------------------------------------------------------------------------------------------------
# Layout constants of the real models
# --------------------------------------------------------------------------------------------------

#: The 99 language tokens of multilingual Whisper (base … large-v2), in Whisper's own id order.
#: large-v3 appends "yue" (100 languages, vocabulary 51,866); the tiny model follows the 99 layout.
WHISPER_LANGUAGES: tuple[str, ...] = (
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it",
    "id", "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur",
    "hr", "bg", "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn",
    "et", "mk", "br", "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si",
    "km", "sn", "yo", "so", "af", "oc", "ka", "be", "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo",
    "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl", "mg", "as", "tt", "haw", "ln", "ha",
    "ba", "jw", "su",
)  # fmt: skip
WHISPER_TEXT_TOKENS = 50_257
WHISPER_TIMESTAMPS = 1_501  # <|0.00|> … <|30.00|> in 0.02 s steps
WHISPER_VOCAB_SIZE = 51_865
WHISPER_EOT_CHANNEL = 63  # the tiny decoder's residual feature that carries "stop now"
WHISPER_STOP_FRACTION = 0.15  # share of learned text tokens after which the tiny model stops

#: emotion2vec_plus's 9 labels, in its tokens.txt order (the score order of ``generate``).
EMOTION2VEC_LABELS: tuple[str, ...] = (
    "生气/angry", "厌恶/disgusted", "恐惧/fearful", "开心/happy", "中立/neutral",
    "其他/other", "难过/sad", "吃惊/surprised", "<unk>",
)  # fmt: skip

TINY_DIRS: dict[str, str] = {
    "asr": "tiny-whisper",
    "text": "tiny-text-bert",
    "audio": "tiny-emotion2vec",
    "vision": "tiny-siglip",
    "explainer": "tiny-explainer",
}

