"""Text encoder (a BERT-family model via transformers): token and sentence embeddings.

Tokens and their character offsets are kept so explanations can point back at words.
Batched across clips: BERT with an attention mask gives the same vectors padded or not.
"""

from __future__ import annotations

import numpy as np

from clmer.features.encoders import MODEL_CALLS, Extractor, FeatureRecord


class TextExtractor(Extractor):
    role = "text"

    def __init__(self, ref, settings, device):
        super().__init__(ref, settings, device)
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(ref.path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(ref.path), local_files_only=True).eval().to(device)

    @classmethod
    def static_config(cls, settings, device) -> dict:
        return {"max_tokens": settings.models.max_text_tokens, "pooling": "mean-non-special"}

    def extract_batch(self, texts: list[str]) -> list[FeatureRecord]:
        import torch

        out: list[FeatureRecord | None] = [None] * len(texts)
        todo = [i for i, t in enumerate(texts) if t and t.strip()]
        for i in set(range(len(texts))) - set(todo):
            out[i] = _empty(self.model.config.hidden_size)
        bs = self.settings.extract.text_batch_size
        for b in range(0, len(todo), bs):
            idx = todo[b: b + bs]
            enc = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                 max_length=self.settings.models.max_text_tokens, return_offsets_mapping=True,
                                 return_special_tokens_mask=True, return_tensors="pt")
            offsets = enc.pop("offset_mapping").numpy()
            special = enc.pop("special_tokens_mask").numpy()
            with self.lock, torch.inference_mode():
                MODEL_CALLS["text"] += 1
                hidden = self.model(**{k: v.to(self.device) for k, v in enc.items()}).last_hidden_state.float().cpu().numpy()
            mask = enc["attention_mask"].numpy().astype(bool)
            for row, i in enumerate(idx):
                n = int(mask[row].sum())
                emb = hidden[row, :n]
                keep = special[row, :n] == 0
                sentence = emb[keep].mean(0) if keep.any() else emb.mean(0)
                tokens = self.tokenizer.convert_ids_to_tokens(enc["input_ids"][row, :n].tolist())
                out[i] = FeatureRecord("text", {"token_embeddings": emb.astype(np.float32),
                                                "sentence_embedding": sentence.astype(np.float32)[None, :]},
                                       {"tokens": tokens, "offsets": offsets[row, :n].tolist(),
                                        "special": special[row, :n].tolist(), "text": texts[i]})
        return out  # type: ignore[return-value]

    def extract(self, text: str) -> FeatureRecord:
        return self.extract_batch([text])[0]


def _empty(dim: int) -> FeatureRecord:
    return FeatureRecord("text", {"token_embeddings": np.zeros((0, dim), np.float32),
                                  "sentence_embedding": np.zeros((0, dim), np.float32)},
                         {"tokens": [], "offsets": [], "special": [], "text": ""}, status="empty")
