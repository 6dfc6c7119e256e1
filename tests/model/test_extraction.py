"""Extraction end to end on the tiny profile: fills the store, re-runs do no model work,
new clips are the only work, failures are rows, the flow runs on a 2-worker Dask cluster."""

import shutil

import pandas as pd
import pytest

from clmer import pipeline
from clmer.features.encoders import MODEL_CALLS
from clmer.features.extract import extract_chunk, plan_jobs
from clmer.features.feature_store import FeatureStore

pytestmark = pytest.mark.slow


def test_extract_fills_store_and_rerun_does_no_model_work(demo_corpus, tiny_settings, no_network, tmp_path):
    path = pipeline.extract(demo_corpus, tiny_settings, tmp_path / "run1")
    first = pd.read_parquet(path)
    assert len(first) == 12 and (first["status"] == "ok").all()
    assert (first["transcript_source"] == "asr").all()  # training reads the text scoring will see (train.text_source)
    assert set(first["language"]) == {"zh", "en"}  # the manifest's language is kept
    index = FeatureStore(tiny_settings.paths.feature_store).index()
    assert set(index["extractor"]) == {"asr", "text", "audio", "vision"} and len(index) == 48

    before = dict(MODEL_CALLS)
    second = pd.read_parquet(pipeline.extract(demo_corpus, tiny_settings, tmp_path / "run2"))
    assert dict(MODEL_CALLS) == before  # no forward pass at all
    assert second["cached"].all()
    assert second[["text_key", "audio_key", "vision_key"]].equals(first[["text_key", "audio_key", "vision_key"]])


def test_adding_clips_extracts_only_the_new_ones(demo_corpus, tiny_settings, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(demo_corpus, corpus)
    pipeline.extract(corpus, tiny_settings, tmp_path / "r1")
    extra = tmp_path / "extra"
    from clmer.synthetic.demo_corpus import make_demo_corpus

    new = make_demo_corpus(extra, n=3, seed=99)
    new["video_id"] = "new_" + new["video_id"]
    for r, old in zip(new.itertuples(), make_demo_corpus(extra, n=3, seed=99).itertuples()):
        dest = corpus / "Raw" / r.video_id / f"{r.clip_id}.mp4"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(extra / "Raw" / old.video_id / f"{old.clip_id}.mp4", dest)
    label = pd.concat([pd.read_csv(corpus / "label.csv", dtype=str), new.astype(str)], ignore_index=True)
    label.to_csv(corpus / "label.csv", index=False)
    frame = pd.read_parquet(pipeline.extract(corpus, tiny_settings, tmp_path / "r2"))
    assert len(frame) == 15
    assert (~frame["cached"]).sum() == 3
    assert set(frame.loc[~frame["cached"], "clip"]) == {f"{r.video_id}/{r.clip_id}" for r in new.itertuples()}


def test_drop_without_transcript_runs_asr_and_a_corrupt_file_is_a_failed_row(demo_corpus, tiny_settings, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    src = next((demo_corpus / "Raw").rglob("*.mp4"))
    shutil.copy(src, drop / "good clip 1.mp4")
    (drop / "broken.mp4").write_bytes(b"\x00" * 1000)
    jobs, kind = plan_jobs(drop, tiny_settings)
    assert kind == "folder" and len(jobs) == 2
    frame = extract_chunk(jobs, tiny_settings)
    good = frame[frame["clip"] == "good clip 1.mp4"].iloc[0]
    bad = frame[frame["clip"] == "broken.mp4"].iloc[0]
    assert good["transcript_source"] == "asr" and good["asr_key"]
    assert good["status"] in ("ok", "partial")
    assert bad["status"] == "failed" and "broken.mp4" in bad["error"] and "not a media file" in bad["error"]


def test_extract_flow_on_a_local_dask_cluster_with_two_workers(demo_corpus, tiny_settings, tmp_path, monkeypatch):
    import yaml

    from flows import extract as extract_flow_module

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    cfg = tmp_path / "clmer.yaml"
    cfg.write_text(yaml.safe_dump(tiny_settings.model_dump(mode="json") | {
        "extract": tiny_settings.extract.model_dump(mode="json") | {"task_runner": "dask", "max_workers": 2, "chunk_size": 4}}))
    path = extract_flow_module.extract_on_runner(str(demo_corpus), str(tmp_path / "run"), str(cfg), {})
    frame = pd.read_parquet(path)
    assert len(frame) == 12 and (frame["status"] == "ok").all()
    assert len(list((tmp_path / "run" / "chunks").glob("chunk-*.parquet"))) == 3  # one task per chunk of 4
