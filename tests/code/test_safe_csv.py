"""The one CSV writer: formula neutralising that spreadsheets cannot get around, exact unescaping,
every table CLMER writes going through it, and log fields that stay on one line (issue 15 rows 5, 12-14)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from clmer.data.safe_csv import escape_field, neutralise, read_csv, unescape_field, write_csv

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ["=1+1", "+x", "-y", "@z", " =SUM(A1)", "\t=cmd", "\r=cmd", "＝cmd", "＋1", "－1", "＠x", "\u3000=x",
           "\u200b=x", "'=x", "'plain", "''", "plain", "", "视频", "a=b"]


@pytest.mark.parametrize("value", HOSTILE)
def test_round_trip_is_exact_and_nothing_can_start_a_formula(tmp_path, value):
    import unicodedata

    write_csv(pd.DataFrame({"file": [value], "n": [1]}), tmp_path / "t.csv")
    raw = pd.read_csv(tmp_path / "t.csv", dtype=str, keep_default_na=False)["file"][0]
    folded = unicodedata.normalize("NFKC", raw).lstrip()
    assert not folded.startswith(("=", "+", "-", "@")), raw  # what a spreadsheet would see
    assert not raw[:1].isspace() or raw == value
    assert read_csv(tmp_path / "t.csv")["file"][0] == value  # and exactly what was written comes back


def test_numbers_are_left_alone():
    out = neutralise(pd.DataFrame({"t": ["=1", "ok"], "n": [-1.5, 2.0]}))
    assert out["n"].tolist() == [-1.5, 2.0] and out["t"].tolist() == ["'=1", "ok"]


def test_every_csv_the_project_writes_goes_through_the_writer():
    """No `.to_csv(` in clmer/ or flows/ but the writer itself (and the demo corpus's label.csv,
    an MMSA input file written from our own sentence bank and read by readers that do not unescape)."""
    allowed = {"clmer/data/safe_csv.py", "clmer/synthetic/demo_corpus.py"}
    offenders = [str(p.relative_to(ROOT)) for d in ("clmer", "flows") for p in (ROOT / d).rglob("*.py")
                 if ".to_csv(" in p.read_text(encoding="utf-8") and str(p.relative_to(ROOT)) not in allowed]
    assert offenders == []


@pytest.mark.parametrize("text", ["a\nb", "tab\there", "cr\rx", "back\\slash", "line\u2028sep", "nul\x00", "普通"])
def test_log_fields_stay_on_one_line_and_unescape_exactly(text):
    field = escape_field(text)
    assert len(field.splitlines()) <= 1 and "\t" not in field
    assert unescape_field(field) == text


def test_validation_tables_are_neutralised(tmp_path):
    """Row 12: a corpus whose video_id is a formula; quarantine.csv and media_probe.csv carry it quoted."""
    from clmer.data.validate import validate_corpus
    from tests.helpers import sims_rows, write_mmsa

    rows = sims_rows()
    rows[0]["video_id"] = "=evil"
    rows[1]["video_id"] = "=evil"
    rows[1]["label"] = 7  # out of range: quarantined
    corpus = write_mmsa(tmp_path / "c", rows)
    validate_corpus(corpus, tmp_path / "run", max_reject_fraction=1.0, run_contracts=False)
    for name in ("quarantine.csv", "media_probe.csv"):
        text = (tmp_path / "run" / name).read_text(encoding="utf-8")
        assert "=evil" in text and not re.search(r"(^|,)=evil", text, re.M), (name, text)
        assert "=evil" in "".join(read_csv(tmp_path / "run" / name).astype(str).agg("".join, axis=1))
