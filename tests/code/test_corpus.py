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


def _linked_corpus(tmp_path):
    """A corpus whose first clip is a link to a file outside it, and whose second is a link inside it."""
    import os

    from tests.helpers import sims_rows, write_mmsa

    root = write_mmsa(tmp_path / "c", sims_rows())
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    clip = root / "Raw" / "v1" / "0001.mp4"
    os.replace(clip, outside / "0001.mp4")
    os.symlink(outside / "0001.mp4", clip)
    inner = root / "Raw" / "v1" / "0002.mp4"
    os.replace(inner, root / "kept.mp4")
    os.symlink(root / "kept.mp4", inner)
    return root, outside


def test_media_linked_out_of_the_corpus_is_refused(tmp_path):
    """Issue 15 row 16: a clip (or Raw/ itself) that links out of the corpus is a rejected row, with why."""
    import os

    root, outside = _linked_corpus(tmp_path)
    corpus = read_corpus(root, strict=False, external_media=[])
    reasons = {(i.video_id, i.clip_id): i.reason for i in corpus.issues}
    assert "links out of the corpus" in reasons[("v1", "0001")]
    assert ("v1", "0002") not in reasons  # a link that stays inside is read where it really is
    assert dict(zip(corpus.manifest["clip_id"], corpus.manifest["media_path"]))["0002"] == "kept.mp4"
    # Raw/ itself a link out of the corpus: every clip refused.
    other = tmp_path / "raw_elsewhere"
    os.replace(root / "Raw", other)
    os.symlink(other, root / "Raw")
    corpus = read_corpus(root, strict=False, external_media=[])
    assert corpus.manifest["media_path"].tolist() == ["kept.mp4"]  # its link leads back inside
    assert len(corpus.issues) == 3 and all("links out of the corpus" in i.reason for i in corpus.issues)


def test_media_outside_is_read_where_the_user_allows_it(tmp_path):
    from clmer.features.extract import jobs_from_manifest

    root, outside = _linked_corpus(tmp_path)
    corpus = read_corpus(root, strict=False, external_media=[str(outside)])
    assert not corpus.issues
    jobs = {j.clip: j for j in jobs_from_manifest(root, corpus.manifest)}
    assert jobs["v1/0001"].root is None and jobs["v1/0001"].path == str((outside / "0001.mp4").resolve())
    assert jobs["v1/0002"].root == str(root)


def test_validation_refuses_linked_media_with_the_reason(tmp_path):
    from clmer.data.validate import validate_corpus

    root, _ = _linked_corpus(tmp_path)
    report = validate_corpus(root, tmp_path / "run", max_reject_fraction=1.0, run_contracts=False, external_media=[])
    assert report.n_rejected == 1 and "links out of the corpus" in report.quarantine["reason"][0]
