#!/usr/bin/env bash
# The MLflow tracking server for CLMER.
#
# Default (embedded): SQLite in mlflow/mlflow.db and artifacts in mlflow/artifacts, on 127.0.0.1.
# Team setup: point it at Postgres and an S3 bucket with environment variables:
#   MLFLOW_BACKEND_STORE_URI=postgresql+psycopg://user@db-host/mlflow   (password from ~/.pgpass or PGPASSWORD)
#   MLFLOW_ARTIFACTS_DESTINATION=s3://bucket/mlflow             (credentials from the AWS environment/profile)
#   MLFLOW_S3_ENDPOINT_URL=https://minio.internal:9000           (optional: any S3 API)
#   MLFLOW_HOST=0.0.0.0 MLFLOW_PORT=5000 MLFLOW_WORKERS=4
# Logins (what `clmer serve` sets with serve.auth on): MLFLOW_APP_NAME=basic-auth, MLFLOW_AUTH_CONFIG_PATH=<ini>,
#   MLFLOW_AUTH_ADMIN_USERNAME/_PASSWORD and MLFLOW_FLASK_SERVER_SECRET_KEY, from the environment only.
# The job runner (a pool of huey workers, ~1.9 GB idle) is off: CLMER runs no MLflow jobs.
# Clients then use MLFLOW_TRACKING_URI=http://<host>:<port>; artifacts go through the server.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
backend="${MLFLOW_BACKEND_STORE_URI:-sqlite:///${here}/mlflow.db}"
artifacts="${MLFLOW_ARTIFACTS_DESTINATION:-${here}/artifacts}"
python="${PYTHON:-python}"
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}"
# Create (migrate) the store once, here, before any worker or server process can race on it.
"$python" - "$backend" <<'PY'
import sys
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
SqlAlchemyStore(sys.argv[1], "mlflow-artifacts:/")  # the root the server itself gives new experiments
PY
exec "$python" -m mlflow server \
  --backend-store-uri "$backend" \
  --artifacts-destination "$artifacts" \
  --host "${MLFLOW_HOST:-127.0.0.1}" --port "${MLFLOW_PORT:-5000}" \
  --workers "${MLFLOW_WORKERS:-1}" \
  ${MLFLOW_APP_NAME:+--app-name "$MLFLOW_APP_NAME"}
