"""Text encoder (a BERT-family model via transformers): token and sentence embeddings.

* Reads Chinese and English: multilingual BERT (full profile) or multilingual-e5-small (small
  profile, which wants a "query: " prefix: the model's metadata says so and the prefix's tokens are
  marked special, so explanations never point at them).
* Long transcripts are encoded in overlapping windows of the model's length and stitched back, so
  every token of a long drop is a feature and can be a key word (nothing is cut at 128 or 512).
* Tokens and their character offsets in the transcript are kept so explanations can point at words.
* Batched across clips and windows: with an attention mask a padded window gives the same vectors.
"""

from __future__ import annotations

import numpy as np

from clmer.features.encoders import MODEL_CALLS, Extractor, FeatureRecord


class TextExtractor(Extractor):
    role = "text"

    def __init__(self, ref, settings, device):
        super().__init__(ref, settings, device)
        from transformers import AutoModel, AutoTokenizer

        from clmer.features.gpu import half_dtype

        self.tokenizer = AutoTokenizer.from_pretrained(str(ref.path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(ref.path), local_files_only=True,
                                               dtype=half_dtype(device)).eval().to(device)
        self.prefix = str(ref.meta.get("text_prefix", ""))
        limits = [settings.models.max_text_tokens, ref.meta.get("max_tokens"),
                  getattr(self.model.config, "max_position_embeddings", None)]
        self.window = min(int(x) for x in limits if x)
        self.stride = min(settings.models.text_window_stride, self.window // 4)

    @classmethod
    def static_config(cls, settings, device) -> dict:
        return {"window": settings.models.max_text_tokens, "stride": settings.models.text_window_stride,
                "pooling": "mean-attention-mask", "format": 2}

    def extract_batch(self, texts: list[str]) -> list[FeatureRecord]:
        out: list[FeatureRecord | None] = [None] * len(texts)
        todo = [i for i, t in enumerate(texts) if t and t.strip()]
        for i in set(range(len(texts))) - set(todo):
            out[i] = _empty(self.model.config.hidden_size)
        bs = self.settings.extract.text_batch_size
        for b in range(0, len(todo), bs):
            idx = todo[b: b + bs]
            for i, record in zip(idx, self._encode([texts[i] for i in idx])):
                out[i] = record
        return out  # type: ignore[return-value]

    def _encode(self, texts: list[str]) -> list[FeatureRecord]:
        import torch

        enc = self.tokenizer([self.prefix + t for t in texts], padding=True, truncation=True, max_length=self.window,
                             stride=self.stride, return_overflowing_tokens=True, return_offsets_mapping=True,
                             return_special_tokens_mask=True, return_tensors="pt")
        owner = enc.pop("overflow_to_sample_mapping").tolist()
        offsets, special = enc.pop("offset_mapping").numpy(), enc.pop("special_tokens_mask").numpy()
        hidden = []
        with self.lock, torch.inference_mode():
            for start in range(0, len(owner), self.settings.extract.text_batch_size):
                part = {k: v[start: start + self.settings.extract.text_batch_size].to(self.device) for k, v in enc.items()}
                MODEL_CALLS["text"] += 1
                hidden.append(self.model(**part).last_hidden_state.float().cpu().numpy())
        states = np.concatenate(hidden)
        mask = enc["attention_mask"].numpy().astype(bool)
        records = []
        for i, text in enumerate(texts):
            rows = [w for w, o in enumerate(owner) if o == i]
            records.append(self._stitch(text, rows, states, mask, offsets, special, enc["input_ids"].numpy()))
        return records

    def _stitch(self, text, rows, states, mask, offsets, special, ids) -> FeatureRecord:
        """One token sequence for the whole transcript from its windows (overlaps counted once)."""
        emb, offs, spec, tok_ids = [], [], [], []
        for k, w in enumerate(rows):
            n = int(mask[w].sum())
            skip = 0 if k == 0 else self.stride  # a later window repeats the previous one's last `stride` tokens
            for j in range(n):
                is_special = bool(special[w, j])
                if is_special and (0 < k or j > 0) and not (k == len(rows) - 1 and j == n - 1):
                    continue  # keep the first window's opening and the last window's closing special token
                if not is_special and skip:
                    skip -= 1
                    continue
                start, end = (int(x) - len(self.prefix) for x in offsets[w, j])
                prefix_token = not is_special and end <= 0
                emb.append(states[w, j])
                offs.append([max(start, 0), max(end, 0)])
                spec.append(int(is_special or prefix_token))
                tok_ids.append(int(ids[w, j]))
        tokens = np.stack(emb).astype(np.float32)
        return FeatureRecord("text", {"token_embeddings": tokens, "sentence_embedding": tokens.mean(0)[None, :]},
                             {"tokens": self.tokenizer.convert_ids_to_tokens(tok_ids), "offsets": offs, "special": spec,
                              "text": text, "windows": len(rows), "prefix": self.prefix})

    def extract(self, text: str) -> FeatureRecord:
        return self.extract_batch([text])[0]


def _empty(dim: int) -> FeatureRecord:
    return FeatureRecord("text", {"token_embeddings": np.zeros((0, dim), np.float32),
                                  "sentence_embedding": np.zeros((0, dim), np.float32)},
                         {"tokens": [], "offsets": [], "special": [], "text": ""}, status="empty")
