"""Data contracts: the suites load whole, pass good tables and fail bad ones with row numbers."""

import json

import pandas as pd
import pytest

from clmer.data import contracts
from clmer.data.corpus import read_corpus
from tests.helpers import sims_rows, write_mmsa


@pytest.mark.parametrize("name", contracts.CONTRACTS)
def test_every_suite_loads_with_its_declared_count(name):
    suite = contracts.load_suite(name)
    assert len(suite.expectations) == contracts.suite_spec(name)["meta"]["expectation_count"] > 3


def test_an_invalid_expectation_is_caught_not_dropped(tmp_path, monkeypatch):
    spec = contracts.suite_spec("manifest")
    spec["expectations"].append({"type": "expect_column_values_to_be_purple", "kwargs": {"column": "x"}})
    spec["meta"]["expectation_count"] += 1
    (tmp_path / "manifest.json").write_text(json.dumps(spec))
    monkeypatch.setenv("CLMER_CONTRACTS_DIR", str(tmp_path))
    with pytest.raises(Exception):
        contracts.load_suite("manifest")


def test_manifest_contract_passes_a_good_corpus_and_writes_docs(tmp_path):
    c = read_corpus(write_mmsa(tmp_path / "c", sims_rows()), flavour="chsims2")
    result = contracts.validate_frame("manifest", c.all_rows, tmp_path / "out")
    assert result.success, result.summary()
    assert result.result_json.exists() and json.loads(result.result_json.read_text())["success"] is True
    assert result.docs_index is not None and result.docs_index.exists()


def test_manifest_contract_names_bad_rows(tmp_path):
    rows = sims_rows()
    rows.append(dict(rows[0]))  # duplicate key
    rows[1]["mode"] = "dev"
    c = read_corpus(write_mmsa(tmp_path / "c", rows), flavour="chsims2", strict=False)
    result = contracts.validate_frame("manifest", c.all_rows)
    assert not result.success
    text = "\n".join(result.failures)
    assert "expect_compound_columns_to_be_unique" in text and "rows [0, 4]" in text
    assert "expect_column_values_to_be_in_set(column=mode" in text and "values ['dev']" in text


def test_predictions_contract(tmp_path):
    cols = contracts.column_names("predictions")
    good = pd.DataFrame([{c: None for c in cols} | {
        "file": "a.mp4", "video_id": "a", "language": "en", "transcript": "hi", "polarity": "positive",
        "confidence": 0.9, "p_negative": 0.05, "p_neutral": 0.05, "p_positive": 0.9, "share_text": 0.5,
        "share_audio": 0.3, "share_vision": 0.2, "model_version": "1", "status": "ok", "error": None,
    }, {c: None for c in cols} | {"file": "b.mp4", "video_id": "b", "model_version": "1", "status": "failed",
                                   "error": "b.mp4: zero-byte file"}])
    assert contracts.validate_frame("predictions", good).success
    bad = good.copy()
    bad.loc[0, "confidence"] = 1.5
    bad.loc[1, "status"] = "exploded"
    failures = contracts.validate_frame("predictions", bad).failures
    assert len(failures) == 2
