"""Migrations are frozen DDL, and applying them gives exactly what the models describe."""

from __future__ import annotations

import ast
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tasktracker.knowledge.db.models import Base
from tasktracker.servicekit import db

from .conftest import MIGRATIONS


def test_migrations_do_not_import_the_models() -> None:
    """A migration built from the ORM models would change whenever the models do: an old
    revision must create what it created the day it was written."""
    for script in sorted((MIGRATIONS / "versions").glob("*.py")):
        tree = ast.parse(Path(script).read_text())
        imported = [
            node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
        ] + [
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        ]
        assert not [m for m in imported if m.startswith("tasktracker.knowledge")], script.name


async def test_migrated_database_matches_the_models(knowledge_db: str) -> None:
    """What `alembic check` does: autogenerate against the migrated database finds nothing."""
    engine = db.create_engine(knowledge_db)

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
