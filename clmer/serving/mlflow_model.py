"""The registered MLflow model, as "models from code": MLflow stores this file, not a pickle.

Artifacts: `fusion` (fusion.safetensors + model.json: weights, encoder names/revisions, label map),
`examples` (a demo clip the input example points at) and, when trained, `explainer` (the
reasoning-text LM). Input: a DataFrame with `video_path`
(and optionally `transcript`, `language`); output: one prediction row per input row, failed
files included, rendered from each file's record as the CSV rows are
(see clmer.serving.clip_result.PREDICTION_COLUMNS).

Load with `mlflow.pyfunc.load_model("models:/clmer@champion")`; `unwrap_python_model().scorer`
gives the underlying `clmer.serving.scoring.Scorer` for explanations.
"""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class ClmerModel(PythonModel):
    def load_context(self, context) -> None:
        from clmer.features.model_store import offline_env
        from clmer.serving.scoring import Scorer

        offline_env()  # scoring never touches a hub
        version = (context.model_config or {}).get("model_version", "unregistered")
        self.scorer = Scorer(context.artifacts["fusion"], model_version=str(version),
                             examples_dir=context.artifacts.get("examples"),
                             explainer_dir=context.artifacts.get("explainer"))

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        return self.scorer.predict_frame(model_input)


mlflow.models.set_model(ClmerModel())
