"""Data contracts: Great Expectations suites stored as JSON in `data_contracts/`, one per table.

GX drops an invalid expectation from a JSON suite with only a log line, so loading checks the
count against the suite's `meta.expectation_count`: a typo in a contract fails loudly.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from clmer import atomic

CONTRACTS = ("manifest", "media_probe", "features", "predictions")


def contracts_dir() -> Path:
    """`CLMER_CONTRACTS_DIR`, else the repository's `data_contracts/`."""
    env = os.environ.get("CLMER_CONTRACTS_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "data_contracts"


class ContractError(ValueError):
    pass


@dataclass
class ContractResult:
    name: str
    success: bool
    n_expectations: int
    failures: list[str] = field(default_factory=list)
    result_json: Path | None = None
    docs_index: Path | None = None

    def summary(self) -> str:
        head = f"contract {self.name}: {'passed' if self.success else 'FAILED'} ({self.n_expectations} expectations)"
        return "\n".join([head] + [f"  - {f}" for f in self.failures])


def _quiet_gx():
    # GX reports usage over the network unless told not to; scoring must make no connection.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    return gx


def suite_spec(name: str) -> dict:
    if name not in CONTRACTS:
        raise ContractError(f"unknown contract {name!r}; known: {', '.join(CONTRACTS)}")
    path = contracts_dir() / f"{name}.json"
    if not path.is_file():
        raise ContractError(f"{path}: contract file missing")
    return json.loads(path.read_text(encoding="utf-8"))


def load_suite(name: str):
    """The GX ExpectationSuite for `name`, with its expectation count asserted."""
    _quiet_gx()
    from great_expectations.core import ExpectationSuite

    spec = suite_spec(name)
    suite = ExpectationSuite(name=spec["name"], expectations=spec["expectations"], meta=spec.get("meta", {}))
    expected = spec.get("meta", {}).get("expectation_count", len(spec["expectations"]))
    if len(suite.expectations) != expected or len(spec["expectations"]) != expected:
        raise ContractError(
            f"data_contracts/{name}.json: {len(suite.expectations)} expectation(s) loaded, "
            f"{expected} declared; GX dropped an invalid one (see the log above)"
        )
    return suite


def _describe_failure(result: dict) -> str:
    cfg = result["expectation_config"]
    kwargs = {k: v for k, v in cfg["kwargs"].items() if k != "batch_id"}
    res = result.get("result", {}) or {}
    detail = ""
    if "unexpected_count" in res:
        rows = res.get("unexpected_index_list") or res.get("partial_unexpected_index_list") or []
        values = res.get("partial_unexpected_list") or []
        detail = f": {res['unexpected_count']} unexpected, rows {list(rows)[:10]}, values {values[:5]}"
    elif "observed_value" in res:
        detail = f": observed {res['observed_value']}"
    if result.get("exception_info", {}).get("raised_exception"):
        detail += f" (error: {result['exception_info'].get('exception_message')})"
    return f"{cfg['type']}({', '.join(f'{k}={v}' for k, v in kwargs.items())}){detail}"


def validate_frame(name: str, frame: pd.DataFrame, out_dir: str | Path | None = None) -> ContractResult:
    """Validate `frame` against contract `name`; with `out_dir`, write the result JSON and data docs."""
    gx = _quiet_gx()
    suite = load_suite(name)
    from great_expectations.data_context.types.base import DataContextConfig, InMemoryStoreBackendDefaults

    # GX's default ephemeral context adds a docs site in a fresh temp folder that it never removes
    # (two per validation run); ours are the only sites, under `out_dir`.
    context = gx.get_context(mode="ephemeral", project_config=DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False)))
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # older or newer GX without the switch: only cosmetic
        pass
    docs_dir = Path(out_dir) / "data_docs" if out_dir else None
    if docs_dir:
        context.add_data_docs_site(site_name="clmer", site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir.resolve())},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        })
    asset = context.data_sources.add_pandas("clmer").add_dataframe_asset(name)
    batch_def = asset.add_batch_definition_whole_dataframe("all_rows")
    suite = context.suites.add(suite)
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch_def, suite=suite))
    actions = [gx.checkpoint.UpdateDataDocsAction(name="docs")] if docs_dir else []
    checkpoint = context.checkpoints.add(gx.Checkpoint(
        name=f"{name}_checkpoint", validation_definitions=[definition], actions=actions,
        result_format={"result_format": "COMPLETE"},
    ))
    run = checkpoint.run(batch_parameters={"dataframe": frame.reset_index(drop=True)})
    result = next(iter(run.run_results.values()))
    data = result.to_json_dict()
    failures = [_describe_failure(r) for r in data["results"] if not r["success"]]
    out = ContractResult(name=name, success=bool(data["success"]), n_expectations=len(data["results"]), failures=failures)
    if out_dir:
        out.result_json = Path(out_dir) / f"{name}_validation.json"
        out.result_json.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_json(out.result_json, data, default=str)
        index = docs_dir / "index.html"
        out.docs_index = index if index.exists() else None
    return out


def column_names(name: str) -> list[str]:
    """Columns a table must have, read from its contract (one source of truth for writers)."""
    for exp in suite_spec(name)["expectations"]:
        if exp["type"] in ("expect_table_columns_to_match_set", "expect_table_columns_to_match_ordered_list"):
            return list(exp["kwargs"].get("column_set") or exp["kwargs"]["column_list"])
    raise ContractError(f"contract {name} declares no column set")

