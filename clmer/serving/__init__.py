"""What happens to clips and drops once a model is trained: scoring with it, drops (folders and S3)
and their outputs, MLflow tracking, the registry with its champion gate, and the pyfunc model.

May import every stage below it (data, features, model, explain); never `clmer.synthetic`. How the
services that run all this are started and watched lives one room up, in `clmer.ops`.
"""
