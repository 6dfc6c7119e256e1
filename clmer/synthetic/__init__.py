"""Synthetic data and models for tests, the demo and `clmer models make-tiny`: the bilingual demo corpus
(speech, faces, sentences, video) and the tiny random-weight profile.

May import data and features; no product stage imports it, and scoring never does.
"""
