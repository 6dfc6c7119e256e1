import pytest

from clmer.data.corpus import CorpusError, read_corpus
from tests.helpers import mosei_rows, sims_rows, write_mmsa


def test_reads_chsims2(tmp_path):
    root = write_mmsa(tmp_path / "sims", sims_rows())
    c = read_corpus(root, flavour="chsims2")
    m = c.manifest
    assert c.flavour == "chsims2"
    assert list(m["language"].unique()) == ["zh"]
    assert m["polarity"].tolist() == [1, 0, -1, 1]
    assert m["class_index"].tolist() == [2, 1, 0, 2]
    assert m["label"].tolist() == [0.8, 0.0, -0.6, 0.2]  # regression label kept
    assert m["label_T"].tolist()[0] == 1.0
    assert m["mode"].tolist() == ["train", "train", "valid", "test"]
    assert m["clip_id"].tolist()[0] == "0001"  # ids stay strings with their zeros
    assert all((root / p).exists() for p in m["media_path"])


def test_reads_mosei_and_detects_flavour_by_range(tmp_path):
    root = write_mmsa(tmp_path / "mosei", mosei_rows())
    c = read_corpus(root)
    assert c.flavour == "mosei"
    assert set(c.manifest["language"]) == {"en"}
    assert c.manifest["polarity"].tolist() == [1, 0, -1, 0]
    assert c.manifest["label_norm"].round(3).tolist() == [0.8, 0.111, -0.556, -0.167]
    assert c.manifest["label_T"].isna().all()  # MOSEI has no per-modality labels


def test_language_column_wins(tmp_path):
    rows = sims_rows()
    rows[0]["language"] = "en"
    c = read_corpus(write_mmsa(tmp_path / "c", rows), flavour="chsims2")
    assert c.manifest["language"].tolist() == ["en", "zh", "zh", "zh"]


def test_refuses_with_every_reason_named(tmp_path):
    rows = sims_rows() + [
        {"video_id": "v1", "clip_id": "0009", "text": "leak", "label": 0.0, "mode": "test"},  # v1 is in train
        {"video_id": "v5", "clip_id": "0001", "text": "range", "label": 1.4, "mode": "train"},
        {"video_id": "v6", "clip_id": "0001", "text": "missing", "label": 0.2, "mode": "train"},
        {"video_id": "v7", "clip_id": "0001", "text": "dup", "label": 0.2, "mode": "train"},
        {"video_id": "v7", "clip_id": "0001", "text": "dup", "label": 0.2, "mode": "train"},
        {"video_id": "v8", "clip_id": "0001", "text": "mode", "label": 0.2, "mode": "dev"},
    ]
    media = {(r["video_id"], r["clip_id"]) for r in rows} - {("v6", "0001")}
    root = write_mmsa(tmp_path / "bad", rows, media_for=media)
    with pytest.raises(CorpusError) as err:
        read_corpus(root, flavour="chsims2")
    text = str(err.value)
    assert "split leakage: video_id 'v1' appears in test and train" in text
    assert "label 1.4 outside [-1, 1] for chsims2" in text
    assert "missing media file Raw/v6/0001" in text
    assert "duplicate (video_id, clip_id) = (v7, 0001)" in text
    assert "unknown mode 'dev'" in text
    rows_named = {i.row for i in err.value.issues}
    # line numbers: header is line 1; leaked rows are lines 2, 3 (v1 train) and 6 (v1 test)
    assert {2, 3, 6, 7, 8, 9, 10, 11} <= rows_named


def test_non_strict_returns_good_rows_and_rejects(tmp_path):
    rows = sims_rows() + [{"video_id": "v9", "clip_id": "1", "text": "x", "label": "abc", "mode": "train"}]
    c = read_corpus(write_mmsa(tmp_path / "c", rows), flavour="chsims2", strict=False)
    assert len(c.manifest) == 4
    assert c.rejected["reason"].tolist() == ["label 'abc' is not a number"]
    assert len(c.all_rows) == 5


def test_missing_label_csv_and_columns(tmp_path):
    with pytest.raises(CorpusError, match="no label.csv"):
        read_corpus(tmp_path)
    (tmp_path / "label.csv").write_text("video_id,text\nx,y\n")
    with pytest.raises(CorpusError, match=r"missing column\(s\) \['clip_id', 'label', 'mode'\]"):
        read_corpus(tmp_path)
