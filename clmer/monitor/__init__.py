"""Watching the champion in production: what each clip looks like to the model (readable statistics and embedding
sketches, from the feature store), the reference profile a registered version carries, the two-sample tests and
the drift report of a scored drop with its renderings. Computes only: serving builds the profiles, writes the
reports and logs them. May import data, features, model and explain.
"""
