"""Logins for the services `clmer serve` starts: Prefect basic auth and MLflow's basic-auth app.

Secrets come from the environment or from a KEY=VALUE file that only its owner can read (mode 0600),
never from the YAML settings (they have no field for one, and reject unknown keys). Each process
gets only what it needs: the Prefect server its auth string, the MLflow server its admin login and
Flask key, and every client (worker, watcher, flows, CLI) the Prefect auth string and the pipeline's
MLflow writer account. Nothing here prints or logs a secret; errors name variables, never values.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import stat
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from clmer.config import Settings

PREFECT_AUTH = "PREFECT_API_AUTH_STRING"  # "user:password", on every Prefect client
PREFECT_SERVER_AUTH = "PREFECT_SERVER_API_AUTH_STRING"  # the same value, on the Prefect server only
WRITER_USER, WRITER_PASSWORD = "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"  # the pipeline's account
ADMIN_USER, ADMIN_PASSWORD = "MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD"  # MLflow's own names
FLASK_KEY = "MLFLOW_FLASK_SERVER_SECRET_KEY"  # CSRF key of MLflow's auth app
ANALYST_USER, ANALYST_PASSWORD = "CLMER_MLFLOW_ANALYST_USERNAME", "CLMER_MLFLOW_ANALYST_PASSWORD"  # read-only, optional
SECRETS_FILE = "CLMER_SECRETS_FILE"
REQUIRED = (PREFECT_AUTH, WRITER_USER, WRITER_PASSWORD, ADMIN_PASSWORD, FLASK_KEY)
KNOWN = REQUIRED + (ADMIN_USER, ANALYST_USER, ANALYST_PASSWORD)
SERVER_ONLY = (PREFECT_SERVER_AUTH, ADMIN_PASSWORD, FLASK_KEY, ANALYST_PASSWORD)  # never in a client's env


class AuthError(RuntimeError):
    """Authentication is required or misconfigured; the message names settings, never values."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_secrets_file(path: str | Path) -> dict[str, str]:
    """KEY=VALUE lines (`export ` and `#` comments allowed). Refused if group or others may read it:
    a password file anyone on the machine can read protects nothing."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise AuthError(f"secrets file {path} does not exist (serve.secrets_file / {SECRETS_FILE})")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise AuthError(f"secrets file {path} has mode {mode:04o}: others can read it; run `chmod 600 {path}`")
    out = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep:
            raise AuthError(f"secrets file {path}, line {number}: expected NAME=value")
        out[key.strip()] = value.strip().strip("'\"")
    return out


def load_secrets(settings: Settings, environ: dict | None = None) -> dict[str, str]:
    """The known secrets from the file (serve.secrets_file or CLMER_SECRETS_FILE), the environment winning."""
    environ = os.environ if environ is None else environ
    path = environ.get(SECRETS_FILE) or settings.serve.secrets_file
    found = {k: v for k, v in read_secrets_file(path).items() if k in KNOWN} if path else {}
    found.update({k: environ[k] for k in KNOWN if environ.get(k)})
    return found


@dataclass(frozen=True)
class Auth:
    """Whether the stack runs with logins, and the secrets it runs with (empty when off)."""

    enabled: bool
    secrets: dict

    def __repr__(self) -> str:  # never show a value, even in a traceback
        return f"Auth(enabled={self.enabled}, names={sorted(self.secrets)})"

    def client_env(self) -> dict[str, str]:
        """What a Prefect/MLflow client needs: the Prefect auth string and the writer account."""
        if not self.enabled:
            return {}
        return {k: self.secrets[k] for k in (PREFECT_AUTH, WRITER_USER, WRITER_PASSWORD)}

    def prefect_server_env(self) -> dict[str, str]:
        return {PREFECT_SERVER_AUTH: self.secrets[PREFECT_AUTH]} if self.enabled else {}

    def mlflow_server_env(self, config_path: Path) -> dict[str, str]:
        if not self.enabled:
            return {}
        return {"MLFLOW_AUTH_CONFIG_PATH": str(config_path), ADMIN_USER: self.admin_user,
                ADMIN_PASSWORD: self.secrets[ADMIN_PASSWORD], FLASK_KEY: self.secrets[FLASK_KEY]}

    @property
    def admin_user(self) -> str:
        return self.secrets.get(ADMIN_USER) or "admin"


def resolve(settings: Settings, environ: dict | None = None) -> Auth:
    """Auth for this serve: off on loopback unless serve.auth; beyond loopback it is required, and a
    missing secret stops serve with the names of what to set."""
    s = settings.serve
    if not s.auth:
        if not is_loopback(s.host):
            raise AuthError(f"serve.host={s.host} is reachable from other machines, and serve.auth is off: set "
                            f"serve.auth: true and provide {', '.join(REQUIRED)} in the environment or in a "
                            f"mode-0600 file named by serve.secrets_file / {SECRETS_FILE} (see deployments/README.md)")
        return Auth(False, {})
    secrets = load_secrets(settings, environ)
    missing = [k for k in REQUIRED if not secrets.get(k)]
    if missing:
        raise AuthError(f"serve.auth is on but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: "
                        f"export {'it' if len(missing) == 1 else 'them'} or add to the mode-0600 file named by "
                        f"serve.secrets_file / {SECRETS_FILE}")
    if ":" not in secrets[PREFECT_AUTH]:
        raise AuthError(f"{PREFECT_AUTH} must have the form user:password")
    short = [k for k in (ADMIN_PASSWORD, WRITER_PASSWORD, ANALYST_PASSWORD) if 0 < len(secrets.get(k, "")) < 12]
    if short:
        raise AuthError(f"{', '.join(short)}: MLflow accepts passwords of 12 characters or more")
    if bool(secrets.get(ANALYST_USER)) != bool(secrets.get(ANALYST_PASSWORD)):
        raise AuthError(f"set both {ANALYST_USER} and {ANALYST_PASSWORD}, or neither")
    return Auth(True, secrets)


from clmer.serving.signing import KEY_ENV as REGISTRY_KEY  # noqa: E402  (signs and verifies models: clients only)
# What each server never needs: the Prefect server no MLflow account or registry key, the MLflow server no Prefect
# login or pipeline account (the serve process creates the accounts as the admin); an operator's shell may export any.
_NOT_FOR_SERVER = {"prefect-server": (WRITER_USER, WRITER_PASSWORD, ANALYST_USER, ANALYST_PASSWORD, ADMIN_PASSWORD,
                                      FLASK_KEY, REGISTRY_KEY),
                   "mlflow": (PREFECT_AUTH, PREFECT_SERVER_AUTH, WRITER_USER, WRITER_PASSWORD, ANALYST_PASSWORD,
                              REGISTRY_KEY)}


def server_env(env: dict, server: str) -> dict:
    """`env` without the secrets that `server` ("prefect-server" or "mlflow") does not need; its own are added after."""
    return {k: v for k, v in env.items() if k not in _NOT_FOR_SERVER[server]}


def client_env_without_server_secrets(env: dict) -> dict:
    """A client's environment minus what only a server may hold (an operator's shell may export them)."""
    return {k: v for k, v in env.items() if k not in SERVER_ONLY}


def write_mlflow_auth_config(path: Path, database_uri: str) -> Path:
    """MLflow's basic-auth ini: everyone who logs in may read, writes need a grant. No password in it:
    the admin login comes from MLFLOW_AUTH_ADMIN_* in the server's environment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)  # the users store's URI may carry a database password
    path.chmod(0o600)
    path.write_text("[mlflow]\ndefault_permission = READ\n"
                    f"database_uri = {database_uri}\nadmin_username = admin\n"
                    "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n", encoding="utf-8")
    return path


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _call(url: str, method: str, body: dict | None, header: str) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", "Authorization": header})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def ensure_mlflow_accounts(mlflow_url: str, auth: Auth) -> list[str]:
    """As the admin: the pipeline's writer (MANAGE on every experiment and registered model) and, if
    configured, the analyst (the server's default READ: may browse runs and the registry, may not
    register versions or move aliases). Idempotent; passwords are set to the current secrets."""
    if not auth.enabled:
        return []
    admin = basic_header(auth.admin_user, auth.secrets[ADMIN_PASSWORD])
    accounts = [(auth.secrets[WRITER_USER], auth.secrets[WRITER_PASSWORD])]
    if auth.secrets.get(ANALYST_USER):
        accounts.append((auth.secrets[ANALYST_USER], auth.secrets[ANALYST_PASSWORD]))
    for user, password in accounts:
        code, _ = _call(f"{mlflow_url}/api/2.0/mlflow/users/create", "POST", {"username": user, "password": password}, admin)
        if code not in (200, 400):  # 400: exists already
            raise AuthError(f"MLflow refused to create account {user!r} (HTTP {code}): check {ADMIN_USER}/{ADMIN_PASSWORD}")
        if code == 400:
            _call(f"{mlflow_url}/api/2.0/mlflow/users/update-password", "PATCH",
                  {"username": user, "password": password}, admin)
    writer = auth.secrets[WRITER_USER]
    for resource in ("experiment", "registered_model"):
        code, _ = _call(f"{mlflow_url}/api/3.0/mlflow/users/permissions/grant", "POST",
                        {"username": writer, "resource_type": resource, "resource_id": "*", "permission": "MANAGE"}, admin)
        if code not in (200, 400):
            raise AuthError(f"MLflow refused to grant {writer!r} MANAGE on every {resource} (HTTP {code})")
    return [user for user, _ in accounts]
