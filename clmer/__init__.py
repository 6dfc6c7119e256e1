"""CLMER: cross-lingual (Chinese/English) multimodal explainable emotion recognition on video.

The library computes; `flows/` orchestrates it with Prefect. Heavy dependencies (torch, funasr,
great_expectations, mlflow, transformers) are imported inside the functions that need them so that
`import clmer` and the CLI start fast.
"""

__version__ = "0.1.0"
