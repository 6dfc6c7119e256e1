"""The fusion model and how it learns: datasets of stored features, fusion, cross-lingual alignment,
GRPO with verifiable rewards, training, metrics and evaluation.

May import `clmer.data` and `clmer.features`.
"""
