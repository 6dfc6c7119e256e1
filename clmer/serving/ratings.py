"""People's 1-5 ratings of explanations: where they are kept, how they add up per model version, and the gate.

A rating is MLflow feedback named `explanation_rating` (an integer 1-5, the comment as its rationale, the reviewer
as a HUMAN source) on the clip's trace (`clmer.serving.clip_traces`), whether it was given in the MLflow UI or with
`clmer review`; `clmer review` also keeps every rating it records in the results folder
(Test_Results/explanation_ratings.jsonl), so a rating survives without a tracking server.

A version's ratings are those on the traces of clips it scored: for each trace and reviewer the newest one counts
(rating again replaces, it does not add). Their mean and count go on the registered version as tags
(`ratings.mean`, `ratings.count`), and the champion gate can ask for a minimum mean over a minimum count
(mlflow.gate_min_rating, mlflow.gate_min_ratings).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from clmer import atomic
from clmer.config import MlflowConfig, Settings
from clmer.names import RESULTS_DIR

RATING = "explanation_rating"  # the feedback's name, in the UI too
LOCAL_FILE = f"{RESULTS_DIR}/explanation_ratings.jsonl"
MEAN_TAG, COUNT_TAG = "ratings.mean", "ratings.count"


@dataclass
class Rating:
    drop: str | None
    file: str
    video_id: str
    rating: int
    comment: str | None
    reviewer: str
    rated_at: str
    model_version: str
    trace_id: str | None = None  # None: no trace (tracing off or unreachable): kept locally only


def check_rating(value) -> int:
    """A rating is a whole number 1 to 5; anything else is refused with the reason."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"a rating is a whole number from 1 to 5, not {value!r}") from None
    if number != int(number) or not 1 <= number <= 5:
        raise ValueError(f"a rating is a whole number from 1 to 5, not {value!r}")
    return int(number)


def save_local(results: str | Path, rating: Rating) -> Path:
    """Append the rating to the results folder's ratings file (rewritten atomically: never half a line)."""
    path = Path(results) / LOCAL_FILE
    before = path.read_text(encoding="utf-8") if path.exists() else ""
    return atomic.write_text(path, before + json.dumps(asdict(rating), ensure_ascii=False) + "\n")


def load_local(results: str | Path) -> list[dict]:
    path = Path(results) / LOCAL_FILE
    if not path.exists():
        return []
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: line {n} is not a rating record ({exc.msg})") from None
    return out


def post(rating: Rating) -> None:
    """The rating as feedback on its clip's trace, by its reviewer."""
    import mlflow
    from mlflow.entities import AssessmentSource

    mlflow.log_feedback(trace_id=rating.trace_id, name=RATING, value=rating.rating, rationale=rating.comment or None,
                        source=AssessmentSource(source_type="HUMAN", source_id=rating.reviewer),
                        metadata={"clmer.file": rating.file, "clmer.model_version": rating.model_version})


def current_ratings(assessments: list) -> list[float]:
    """The ratings that count among one trace's assessments: `explanation_rating` feedback with a value 1-5,
    valid (not overridden), the newest per reviewer."""
    newest: dict[str, tuple[int, float]] = {}
    for a in assessments:
        value = getattr(a, "value", None)
        if getattr(a, "name", None) != RATING or getattr(a, "valid", True) is False:
            continue
        try:
            value = check_rating(value)
        except ValueError:
            continue  # a UI entry that is not a 1-5 number does not count
        who = getattr(getattr(a, "source", None), "source_id", None) or "?"
        when = getattr(a, "create_time_ms", 0) or 0
        if who not in newest or when >= newest[who][0]:
            newest[who] = (when, float(value))
    return [v for _, v in newest.values()]


def summary(values: list[float]) -> dict:
    """{mean, count} of ratings; mean None when there are none."""
    return {"mean": round(sum(values) / len(values), 4) if values else None, "count": len(values)}


def version_ratings(settings: Settings, name: str, version: str) -> dict:
    """{mean, count} of the ratings on the traces of clips registered version `version` scored."""
    from mlflow import MlflowClient

    from clmer.serving import drift_tracking
    from clmer.serving.clip_traces import TAG_NAME, TAG_VERSION

    exp = drift_tracking.experiment_id(settings)
    client, values, token = MlflowClient(), [], None
    query = f"tags.`{TAG_VERSION}` = '{version}' and tags.`{TAG_NAME}` = '{name}'"
    while True:
        page = client.search_traces(locations=[exp], filter_string=query, include_spans=False,
                                    max_results=500, page_token=token)
        for trace in page:
            values += current_ratings(trace.info.assessments or [])
        token = page.token
        if not token:
            return summary(values)


def tag_version(settings: Settings, name: str, version: str) -> dict:
    """Put the version's rating summary on it (what the Models tab shows); returns the summary."""
    from mlflow import MlflowClient

    agg = version_ratings(settings, name, version)
    client = MlflowClient()
    client.set_model_version_tag(name, version, COUNT_TAG, str(agg["count"]))
    client.set_model_version_tag(name, version, MEAN_TAG, "none" if agg["mean"] is None else f"{agg['mean']:.2f}")
    return agg


def gate_refusal(agg: dict, cfg: MlflowConfig) -> str | None:
    """Why the gate must keep the champion on the challenger's ratings, or None (no rating gate, or it passes)."""
    if cfg.gate_min_rating is None:
        return None
    if agg["count"] < cfg.gate_min_ratings:
        return (f"its explanations have {agg['count']} rating(s), fewer than the {cfg.gate_min_ratings} the gate "
                "requires (mlflow.gate_min_ratings); score a drop with it and rate them (`clmer review`)")
    if agg["mean"] < cfg.gate_min_rating:
        return (f"its explanations are rated {agg['mean']:.2f} on average over {agg['count']}, below the "
                f"{cfg.gate_min_rating:g} the gate requires (mlflow.gate_min_rating)")
    return None
