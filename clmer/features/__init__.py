"""Features: the model store, one encoder module per backbone, extraction and the content-addressed feature store.

May import `clmer.data` (and config/atomic); never model, explain, serving or synthetic.
"""
