"""Ratings of explanations: what counts as a rating, how they add up, the gate's rule, the local file, and
`clmer review` on a results folder scored by a local model (no MLflow touched)."""

import json

import pytest
from mlflow.entities import AssessmentSource, Feedback
from typer.testing import CliRunner

from clmer.cli import app
from clmer.config import MlflowConfig
from clmer.names import COMBINED_CSV, REPORTS_DIR
from clmer.serving import ratings, review
from clmer.serving.clip_result import COMBINED_COLUMNS

runner = CliRunner()


def _feedback(value, who="ann", at=1, name=ratings.RATING, valid=True):
    return Feedback(name=name, value=value, source=AssessmentSource(source_type="HUMAN", source_id=who),
                    create_time_ms=at, valid=valid)


@pytest.mark.parametrize("value", [1, 5, "3", 4.0])
def test_a_rating_is_a_whole_number_from_1_to_5(value):
    assert ratings.check_rating(value) == int(float(value))


@pytest.mark.parametrize("value", [0, 6, 3.5, "good", None])
def test_anything_else_is_refused_with_the_reason(value):
    with pytest.raises(ValueError, match="whole number from 1 to 5"):
        ratings.check_rating(value)


def test_the_newest_rating_of_each_reviewer_counts_and_nothing_else_does():
    got = ratings.current_ratings([
        _feedback(2, "ann", at=1), _feedback(4, "ann", at=5),  # ann rated again: 4 replaces 2
        _feedback(3, "bob", at=2),
        _feedback(5, "eve", at=3, valid=False),  # overridden in the UI
        _feedback(1, "max", at=4, name="relevance"),  # another assessment
        _feedback("great", "kim", at=6),  # a UI entry that is not a 1-5 number
    ])
    assert sorted(got) == [3.0, 4.0]


def test_summary_is_mean_and_count():
    assert ratings.summary([2.0, 3.0, 5.0]) == {"mean": 3.3333, "count": 3}
    assert ratings.summary([]) == {"mean": None, "count": 0}


def test_the_rating_gate_is_off_by_default():
    assert MlflowConfig().gate_min_rating is None
    assert ratings.gate_refusal({"mean": 1.0, "count": 0}, MlflowConfig()) is None


def test_the_gate_refuses_too_few_ratings_and_a_low_mean_and_passes_enough_good_ones():
    cfg = MlflowConfig(gate_min_rating=3.5, gate_min_ratings=2)
    few = ratings.gate_refusal({"mean": 5.0, "count": 1}, cfg)
    assert few and "1 rating(s), fewer than the 2" in few
    low = ratings.gate_refusal({"mean": 3.0, "count": 4}, cfg)
    assert low and "3.00 on average over 4, below the 3.5" in low
    assert ratings.gate_refusal({"mean": 3.5, "count": 2}, cfg) is None


def test_the_champion_gate_asks_no_ratings_when_the_setting_is_off(tiny_settings):
    from clmer.serving.registry import rating_refusal

    # off: never a refusal, and MLflow is not asked (this store does not exist)
    tiny_settings.mlflow.tracking_uri = "http://127.0.0.1:9"
    assert rating_refusal("clmer", "2", tiny_settings) is None


def _results(tmp_path, version="local"):
    rows, docs = [], {"a": ("positive", 0.91, [{"word": "thrilled", "score": 0.31}]),
                      "b": ("negative", 0.70, [{"word": "miserable", "score": 0.22}])}
    reports = tmp_path / REPORTS_DIR
    reports.mkdir(parents=True)
    for stem, (polarity, confidence, words) in docs.items():
        doc = {"prediction": {"polarity": polarity, "confidence": confidence},
               "modality_shares": {"text": 0.6, "audio": 0.3, "vision": 0.1}, "top_words": words,
               "reasoning": {"source": "template", "answer": f"the words sound {polarity}"}, "model": {"uri": "x"}}
        (reports / f"{stem}.json").write_text(json.dumps(doc))
        (reports / f"{stem}.html").write_text("<html></html>")
        rows.append({"drop": "Test_Data", "file": f"{stem}.mp4", "video_id": stem, "status": "ok",
                     "polarity": polarity, "model_version": version})
    rows.append({"drop": "Test_Data", "file": "broken.mp4", "video_id": "broken", "status": "failed",
                 "model_version": version})
    import pandas as pd

    from clmer.data import safe_csv

    (tmp_path / COMBINED_CSV).parent.mkdir(parents=True)
    safe_csv.write_csv(pd.DataFrame(rows, columns=COMBINED_COLUMNS), tmp_path / COMBINED_CSV)
    return tmp_path


def test_review_finds_the_explained_clips_and_shows_what_a_reviewer_reads(tmp_path):
    found = review.clips(_results(tmp_path))
    assert [c.file for c in found] == ["a.mp4", "b.mp4"]  # the failed file has nothing to rate
    lines = "\n".join(review.summary_lines(found[0]))
    assert "prediction: positive (0.91)" in lines and "text 60%" in lines and "thrilled" in lines
    assert "the words sound positive" in lines and str(tmp_path / REPORTS_DIR / "a.html") in lines
    assert review.pick(found, "b").file == "b.mp4"
    with pytest.raises(LookupError, match="no explained clip 'c.mp4'"):
        review.pick(found, "c.mp4")


def test_clmer_review_records_a_rating_locally_for_a_local_model_and_touches_no_mlflow(tmp_path, monkeypatch):
    results = _results(tmp_path / "out")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'never.db'}")
    result = runner.invoke(app, ["review", str(results), "--clip", "a.mp4", "--rating", "4", "--comment", "fair",
                                 "--reviewer", "ann"])
    assert result.exit_code == 0, result.output
    assert "rated a.mp4 4/5 by ann" in result.output and "on trace" not in result.output
    saved = ratings.load_local(results)
    assert [(r["file"], r["rating"], r["comment"], r["reviewer"], r["trace_id"]) for r in saved] == \
        [("a.mp4", 4, "fair", "ann", None)]
    assert not (tmp_path / "never.db").exists() and not (tmp_path / "mlflow").exists()
    bad = runner.invoke(app, ["review", str(results), "--clip", "a.mp4", "--rating", "7"])
    assert bad.exit_code != 0 and len(ratings.load_local(results)) == 1
    listed = runner.invoke(app, ["review", str(results)])  # not a terminal: lists the clips
    assert listed.exit_code == 0 and "b.mp4" in listed.output and "2 clip(s)" in listed.output


def test_a_damaged_ratings_file_is_named_with_its_line(tmp_path):
    (tmp_path / ratings.LOCAL_FILE).parent.mkdir(parents=True)
    (tmp_path / ratings.LOCAL_FILE).write_text('{"file": "a"}\nnot json\n')
    with pytest.raises(ValueError, match="explanation_ratings.jsonl: line 2"):
        ratings.load_local(tmp_path)


def test_clmer_gate_wants_a_version_number(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "label.csv").write_text("video_id,clip_id,text,label,mode\n")
    result = runner.invoke(app, ["gate", "champion", "--corpus", str(corpus)])
    assert result.exit_code != 0 and "give a version number" in str(result.exception or result.output)
