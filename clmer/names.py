"""The names every stage shares, spelled once: the modalities, the output layout of a scored drop,
and the timestamp formats."""

from __future__ import annotations

import time

MODALITIES = ("text", "audio", "vision")

# What scoring writes under its output folder: the layout users of the original system expect.
RESULTS_DIR = "Test_Results"  # combined_results.csv, the processed marker, the publish lock
SUPPLEMENTS_DIR = "Test_Supplements"  # transcripts, the transcription log, the per-clip reports
OUTPUT_DIRS = (RESULTS_DIR, SUPPLEMENTS_DIR)
REPORTS_DIR = f"{SUPPLEMENTS_DIR}/video_emotion_results"  # <clip>.json, .html, .reasoning.txt, _frames/
COMBINED_CSV = f"{RESULTS_DIR}/combined_results.csv"
TRANSCRIPTS_CSV = f"{SUPPLEMENTS_DIR}/transcription_results.csv"
TRANSCRIPTION_LOG = f"{SUPPLEMENTS_DIR}/transcription_log.txt"

UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # ISO 8601 in UTC: scored_at, created_at, started
FOLDER_FORMAT = "%Y%m%d-%H%M%S"  # local time in run-folder names, so they sort by time
DAY_FORMAT = "%Y-%m-%d"  # UTC day in MLflow run names


def utc_now() -> str:
    return time.strftime(UTC_FORMAT, time.gmtime())


def utc_day() -> str:
    return time.strftime(DAY_FORMAT, time.gmtime())


def folder_stamp() -> str:
    return time.strftime(FOLDER_FORMAT)
