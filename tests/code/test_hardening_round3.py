"""Round 3's red-team rows (issue 30), one test per row, named for it: each failed before its fix."""

from __future__ import annotations

import pytest

from tests.code.test_cli import _clmer


@pytest.mark.parametrize("name", [".", "", "..", "../x", ".hidden", "a\\b"])
def test_row4_models_add_refuses_names_that_are_not_one_plain_folder(tmp_path, name):
    home, source = tmp_path / "home", tmp_path / "src"
    store = home / "models"
    (store / "kept").mkdir(parents=True)
    (store / "kept" / "weights.bin").write_bytes(b"w")
    (home / "keep.txt").write_text("parent's data")
    source.mkdir()
    (source / "config.json").write_text("{}")
    out = _clmer(["models", "add", name, str(source), "--role", "text"], tmp_path,
                 CLMER_HOME=str(home), CLMER_MODEL_STORE=str(store))
    assert out.returncode != 0 and "model name" in out.stderr + out.stdout, out.stdout + out.stderr
    assert (store / "kept" / "weights.bin").read_bytes() == b"w" and (home / "keep.txt").exists()


def test_row4_a_plain_org_name_still_goes_in(tmp_path):
    from clmer.features.model_store import ModelStore

    source = tmp_path / "src"
    source.mkdir()
    (source / "config.json").write_text("{}")
    path = ModelStore(tmp_path / "models").add("org/model", source, "text")
    assert path == tmp_path / "models" / "org--model" and (path / "config.json").exists()


# Rows 3, 9: names from the drop that could not be written out whole. The drop helpers need no model.
from tests.code.test_hostile_drops import by_rel, clip, run, settings, table  # noqa: E402,F401

GBK_VIDEO = "视频".encode("gbk") + b".mp4"  # how unzip writes a name from an archive made on Chinese Windows


def test_row3_a_name_that_is_not_utf8_is_a_readable_failed_row_and_the_drop_goes_on(tmp_path, clip, settings):
    import os
    import shutil

    from clmer.serving.drops import LocalDrop, listing_digest

    drop, out = tmp_path / "drop", tmp_path / "out"
    drop.mkdir()
    shutil.copy(clip, drop / "good.mp4")
    with open(os.path.join(os.fsencode(drop), GBK_VIDEO), "wb") as fh:
        fh.write(clip.read_bytes())
    listed = LocalDrop(drop).list()
    assert len(listing_digest(listed)) == 16 and len(listed) == 2  # the watcher's listing no longer raises
    result = run(drop, out, settings)
    items = by_rel(result["plan"])
    bad = next(rel for rel in items if rel != "good.mp4")
    assert bad == GBK_VIDEO.decode("utf-8", "backslashreplace") and bad.startswith("\\xca\\xd3") and "视频.mp4" in items[bad].error and "UTF-8" in items[bad].error
    assert items["good.mp4"].error is None  # planned for scoring (the stand-in scorer then fails it alone)
    rows = table(out).set_index("file")
    assert set(rows.index) == {"good.mp4", bad} and "视频.mp4" in rows.loc[bad, "error"]


def test_row9_a_long_chinese_name_gets_its_outputs(tmp_path, clip, settings):
    import shutil

    from clmer.serving.drop_scoring import output_stem

    name = ("这是一个很长的中文文件名" * 7)[:83] + ".mp4"  # 83 Chinese characters, 253 bytes: a legal name
    assert len(name.encode()) == 253
    stem = output_stem("drop", name, {})
    assert len((stem + ".reasoning.txt").encode()) <= 255
    drop, out = tmp_path / "drop", tmp_path / "out"
    drop.mkdir()
    shutil.copy(clip, drop / name)
    run(drop, out, settings)
    assert list(table(out)["file"]) == [name]


def test_row10_formula_quoting_sees_past_any_run_of_blanks():
    from clmer.data.safe_csv import needs_quote

    assert needs_quote(" " * 70 + "=HYPERLINK(1)") and needs_quote("\u3000" * 66 + "=1+1")
    assert needs_quote("\t" * 100 + "@x") and not needs_quote(" " * 70 + "plain")


def test_names_print_as_inert_text():
    """Row 12: a clip named like rich markup or carrying a terminal escape prints as itself."""
    from rich.console import Console

    from clmer.cli.common import plain

    out = Console(record=True, width=200, force_terminal=True)
    out.print(f"failed {plain('[/]x[bold]y.mp4')}: {plain('bad' + chr(27) + '[2J')}")
    text = out.export_text()
    assert "[/]x[bold]y.mp4" in text and "bad\\u001b[2J" in text


@pytest.mark.parametrize("where", ["local", "s3"])
def test_row7_a_truncated_record_json_is_quarantined_and_the_index_still_builds(tmp_path, where, request):
    from tests.code.test_feature_store import IDENT, _record

    from clmer.features.feature_store import QUARANTINE, FeatureStore, record_key

    if where == "s3":
        request.getfixturevalue("moto_s3")
    store = FeatureStore(tmp_path / "fs" if where == "local" else "s3://clmer-test/row7")
    keys = [record_key(f"{i:02x}" * 32, IDENT) for i in (1, 2)]
    for i, key in enumerate(keys, 1):
        store.put(key, f"{i:02x}" * 32, IDENT, _record(i))
    bad = FeatureStore._paths(keys[0])[1]
    store.backend.write(bad, store.backend.read(bad)[:40])  # a copy cut short
    with pytest.warns(RuntimeWarning, match=f"record {bad} is unreadable.*moved to {QUARANTINE}/{bad}"):
        index = store.rebuild_index()
    assert index["key"].tolist() == [keys[1]] and store.index()["key"].tolist() == [keys[1]]
    assert not store.has(keys[0]) and store.backend.exists(f"{QUARANTINE}/{bad}")  # extraction writes it anew
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert store.rebuild_index()["key"].tolist() == [keys[1]]  # the next run is quiet


def test_row11_a_truncated_processed_log_is_rebuilt_from_the_outputs(tmp_path, clip, settings):
    import shutil

    drop, out = tmp_path / "drop", tmp_path / "out"
    drop.mkdir()
    for name in ("clip.mp4", "clip.mkv", "b.mp4"):  # clip.mkv's output name is the hashed one
        shutil.copy(clip, drop / name)
    run(drop, out, settings)
    stems = table(out).set_index("file")["video_id"].to_dict()
    marker = out / "Test_Results" / ".clmer_processed.json"
    whole = marker.read_bytes()
    marker.write_bytes(whole[: len(whole) // 2])  # a copy cut short
    with pytest.warns(RuntimeWarning, match=r"\.clmer_processed\.json is unreadable .*rebuilt from .*combined_results"):
        again = run(drop, out, settings)
    assert sorted(i.rel for i in again["plan"].todo) == sorted(stems)  # hashes lost: scored again, not skipped
    assert table(out).set_index("file")["video_id"].to_dict() == stems and len(table(out)) == 3
    assert (out / "Test_Results" / ".clmer_processed.json.broken").read_bytes() == whole[: len(whole) // 2]
    assert sorted(run(drop, out, settings)["plan"].skipped) == sorted(stems)  # the marker is whole again


HOSTILE_MD_NAMES = ["[win](javascript:alert(1)).mp4", "<img src=https://evil.example/b.gif>.mp4", "a`b``c.mp4",
                    "![x](https://evil.example/p.png).mp4", "# head\n* [l](https://evil.example).mp4",
                    "<https://evil.example>.mp4", "a|b|c.mp4"]


def test_row6_names_and_errors_are_inert_in_the_drop_summary_markdown(tmp_path):
    import re

    from markdown_it import MarkdownIt

    from clmer.serving.drop_summary import drop_summary_markdown

    failed = [{"file": n, "status": "failed", "error": f"{n}: not decodable <script>x</script>"} for n in HOSTILE_MD_NAMES]
    summary = {"drop": "/in/[d](javascript:x)", "scored": len(failed) + 1, "skipped": 0,
               "status_counts": {"ok": 1, "failed": len(failed)},
               "combined_results": str(tmp_path / "Test_Results" / "combined_results.csv")}
    text = drop_summary_markdown(summary, [{"predictions": failed + [{"file": "ok.mp4", "status": "ok"}]}], tmp_path)
    md = MarkdownIt("commonmark", {"html": True}).enable("table")  # raw HTML on, and every URL scheme: the worst UI
    md.validateLink = lambda url: True
    html = md.render(text)
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert len(hrefs) == 2 and all(h.startswith("file://") for h in hrefs), hrefs  # only our own two links
    assert "<img" not in html and "<script" not in html and html.count("<h1>") == 1 and "<h2>" in html
    items = html.split("<h2>Failed files</h2>")[1].count("<li>")
    assert items == len(HOSTILE_MD_NAMES)  # a line break in a name does not start another item
    for name in HOSTILE_MD_NAMES:  # each name is still there to read, as typed (its line break escaped)
        shown = name.replace("\n", "\\n").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert f"<code>{shown}</code>" in html, name
        assert f"<code>{shown}: not decodable &lt;script&gt;x&lt;/script&gt;</code>" in html, name  # its error too
    # our own paths read as they are: the Prefect UI shows escapes literally (combined\\_results\\.csv)
    assert f"<code>{tmp_path / 'Test_Results' / 'combined_results.csv'}</code>" in html


def test_friction_score_progress_off_a_terminal_says_elapsed_time_and_what_remains(capsys):
    from clmer.cli.commands import _score_progress

    with _score_progress() as progress:  # pytest's captured stdout is not a terminal
        for done, rel in enumerate(["a.mp4", "day1/b.mp4", "c.mp4"], 1):
            progress(done - 1, 3, rel, "extracted")  # only finished files make a line
            progress(done, 3, rel, "done")
    lines = capsys.readouterr().out.splitlines()
    import re

    assert [re.sub(r"\d+\.\d s", "T s", line) for line in lines] == [
        "[1/3] a.mp4 (T s elapsed, 2 left)", "[2/3] day1/b.mp4 (T s elapsed, 1 left)", "[3/3] c.mp4 (T s elapsed, 0 left)"]


def test_friction_models_list_off_a_terminal_prints_full_values_and_has_tsv_and_json(tmp_path):
    import json

    from clmer.features.model_store import ModelStore

    source = tmp_path / "src"
    source.mkdir()
    (source / "config.json").write_text("{}")
    name, revision = "an-organisation/a-rather-long-model-name-v2", "0123456789abcdef0123456789abcdef01234567"
    ModelStore(tmp_path / "models").add(name, source, "text", revision=revision)
    env = {"CLMER_HOME": str(tmp_path / "home"), "CLMER_MODEL_STORE": str(tmp_path / "models")}
    piped = _clmer(["models", "list"], tmp_path, **env)  # stdout is a pipe here
    assert piped.returncode == 0, piped.stderr
    header, row = piped.stdout.splitlines()
    assert header.split("\t") == ["name", "role", "kind", "revision", "size_mb", "source", "licence"]
    assert row.split("\t")[:4] == [name, "text", row.split("\t")[2], revision] and "local copy of src" in row
    out = _clmer(["models", "list", "--format", "json"], tmp_path, **env)
    assert [(m["name"], m["revision"], m["source"]) for m in json.loads(out.stdout)] == [(name, revision, "local copy of src")]
    bad = _clmer(["models", "list", "--format", "xml"], tmp_path, **env)
    assert bad.returncode != 0 and "--format" in bad.stderr


def test_friction_status_shows_why_the_watcher_died(tmp_path):
    import sys

    from clmer.ops import processes as proc

    run_dir = tmp_path / "run"
    code = "import sys; print('watching', flush=True); raise RuntimeError('drop folder /data/in: Permission denied')"
    pid = proc.start("watcher", [sys.executable, "-c", code], {}, run_dir, tmp_path)
    import time

    deadline = time.monotonic() + 60
    while proc.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    config = tmp_path / "clmer.yaml"
    config.write_text(f"serve:\n  run_dir: {run_dir}\n")
    out = _clmer(["--config", str(config), "status"], tmp_path, CLMER_HOME=str(tmp_path / "home"))
    assert out.returncode == 0, out.stdout + out.stderr
    line = next(ln for ln in out.stdout.splitlines() if "died:" in ln)
    assert "RuntimeError: drop folder /data/in: Permission denied" in line and str(run_dir / "watcher.log") in line
    proc.stop(run_dir, "watcher", 5)  # stopped on purpose: no pid file, so no "died" line
    assert "died:" not in _clmer(["--config", str(config), "status"], tmp_path, CLMER_HOME=str(tmp_path / "home")).stdout
