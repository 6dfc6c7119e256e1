"""Data in: MMSA corpora and their labels, one-pass media decoding, validation and the data contracts.

Imports nothing else from clmer but `clmer.config` and `clmer.atomic`.
"""
