"""`clmer benchmark` on MMSA-layout corpora made here: one CH-SIMS v2-flavour (zh) and one
CMU-MOSEI-flavour (en) corpus, alone and together for the cross-lingual table."""

import shutil

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from clmer.cli import app

pytestmark = pytest.mark.slow


def _split_demo(demo: "pd.DataFrame", src, dest, language, flavour):
    rows = demo[demo["language"] == language].copy()
    dest.mkdir(parents=True)
    for r in rows.itertuples():
        (dest / "Raw" / r.video_id).mkdir(parents=True, exist_ok=True)
        shutil.copy(src / "Raw" / r.video_id / f"{r.clip_id}.mp4", dest / "Raw" / r.video_id / f"{r.clip_id}.mp4")
    if flavour == "mosei":  # MOSEI: labels in [-3, 3], no per-modality labels, no language column
        rows["label"] = rows["label"] * 3
        rows = rows.drop(columns=["label_T", "label_A", "label_V", "language", "variant"])
    else:  # CH-SIMS v2 as distributed: no language column (zh is the flavour's language)
        rows = rows.drop(columns=["language", "variant"])
    rows.to_csv(dest / "label.csv", index=False)
    return dest


@pytest.fixture(scope="module")
def two_corpora(trained_demo, tmp_path_factory):
    base = tmp_path_factory.mktemp("bench")
    demo = pd.read_csv(trained_demo["corpus"] / "label.csv", dtype={"clip_id": str})
    zh = _split_demo(demo, trained_demo["corpus"], base / "sims", "zh", "chsims2")
    en = _split_demo(demo, trained_demo["corpus"], base / "mosei", "en", "mosei")
    return zh, en


def _config(trained_demo, tmp_path):
    s = trained_demo["settings"].model_dump(mode="json")
    s["train"].update(warmup_epochs=6, rl_epochs=1, patience=6)
    s["paths"]["runs"] = str(tmp_path / "runs")
    s["mlflow"]["tracking_uri"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    s["mlflow"]["artifact_location"] = str(tmp_path / "artifacts")
    path = tmp_path / "fast.yaml"
    path.write_text(yaml.safe_dump(s))
    return path


def test_benchmark_single_corpus_each_flavour(two_corpora, trained_demo, tmp_path):
    zh, en = two_corpora
    cfg = _config(trained_demo, tmp_path)
    for dataset, root in (("chsims2", zh), ("mosei", en)):
        out = tmp_path / dataset
        result = CliRunner().invoke(app, ["--config", str(cfg), "benchmark", "--dataset", dataset, "--root", str(root),
                                          "--out", str(out), "--seeds", "2"])
        assert result.exit_code == 0, result.output
        assert "in-language" in result.output and "only one language available" in result.output
        table = pd.read_csv(out / "in_language.csv")
        assert {"model", "majority", "chance", "only text", "only audio", "only vision"} <= set(table["system"])
        assert sorted(table["seed"].unique()) == [0, 1] and "±" in result.output  # mean ± std over the seeds
        if dataset == "mosei":  # regression metrics on MOSEI's own scale
            assert table.loc[table["system"] == "model", "MAE"].notna().all()


def test_benchmark_cross_lingual_table(two_corpora, trained_demo, tmp_path):
    zh, en = two_corpora
    cfg = _config(trained_demo, tmp_path)
    result = CliRunner().invoke(app, ["--config", str(cfg), "benchmark", "--dataset", "chsims2", "--root", str(zh),
                                      "--other-root", str(en), "--out", str(tmp_path / "x"), "--seeds", "1"])
    import traceback

    assert result.exit_code == 0, result.output + "".join(traceback.format_exception(*result.exc_info))
    assert "cross-lingual" in result.output and "chance_corrected_retention" in result.output
    table = pd.read_csv(tmp_path / "x" / "cross_lingual.csv")
    assert table[["train", "test", "protocol"]].values.tolist() == [
        [s, t, p] for s, t in (("zh", "en"), ("en", "zh")) for p in ("zero-shot", "adaptation", "joint")]
    for r in table.itertuples():
        assert r.retention == pytest.approx(r.cross_WAR / r.in_language_WAR)
        assert r.retention_lo <= r.retention_hi
    # One labelled language and nothing else: no cross-lingual pairs, so SupCon is exactly 0 (the adaptation
    # protocol's non-zero SupCon is shown in tests/model/test_policy_stage.py).
    assert (table[table["protocol"] == "zero-shot"]["train_supcon"] == 0).all()
