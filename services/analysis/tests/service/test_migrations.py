"""Migrations are frozen DDL, and applying them gives exactly what the models describe."""

from __future__ import annotations

import ast
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex

import tasktracker.analysis
from tasktracker.analysis.db.models import Base
from tasktracker.servicekit import db

VERSIONS = Path(tasktracker.analysis.__file__).with_name("migrations") / "versions"


def imported_modules(script: Path) -> list[str]:
    tree = ast.parse(script.read_text())
    return [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)] + [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ]


def test_migrations_do_not_import_the_models() -> None:
    """A migration built from the ORM models would change whenever the models do: an old
    revision must create what it created the day it was written."""
    scripts = sorted(VERSIONS.glob("*.py"))
    assert scripts
    for script in scripts:
        ours = [m for m in imported_modules(script) if m.startswith("tasktracker.analysis")]
        assert ours == [], script.name


async def test_migrated_database_matches_the_models(analysis_db: str) -> None:
    """What `alembic check` does: autogenerate against the migrated database finds nothing
    (columns, types, nullability, server defaults, indexes, keys)."""
    engine = db.create_engine(analysis_db)

    def differences(connection) -> list:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(context, Base.metadata)

    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(differences)
    finally:
        await engine.dispose()
    assert diff == []


async def test_partial_indexes_have_the_models_predicates(analysis_db: str) -> None:
    """compare_metadata ignores an index's WHERE, and the one-unclosed-run rule lives in one:
    the model's index is built beside the migrated one (rolled back) and PostgreSQL's own
    rendering of both must agree."""
    partial = [
        index
        for table in Base.metadata.tables.values()
        for index in table.indexes
        if index.dialect_options["postgresql"]["where"] is not None
    ]
    assert "uq_runs_one_unclosed_per_project" in [i.name for i in partial]
    engine = db.create_engine(analysis_db)
    definition = text("SELECT pg_get_indexdef(to_regclass(:name))")
    try:
        async with engine.connect() as connection:
            for index in partial:
                twin = f"{index.name}_model"
                ddl = str(CreateIndex(index).compile(dialect=postgresql.dialect()))
                transaction = await connection.begin()
                try:
                    await connection.execute(text(ddl.replace(index.name, twin, 1)))
                    migrated = await connection.scalar(definition, {"name": index.name})
                    modelled = await connection.scalar(definition, {"name": twin})
                finally:
                    await transaction.rollback()
                assert migrated == modelled.replace(twin, index.name, 1)
    finally:
        await engine.dispose()
