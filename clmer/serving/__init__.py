"""Serving and operations: scoring with a trained model, drops (folders and S3) and their outputs,
MLflow tracking, the registry with its champion gate, the pyfunc model, and the local services.

May import every stage below it (data, features, model, explain); never `clmer.synthetic`.
"""
