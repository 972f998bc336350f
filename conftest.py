# The shared fixtures (real PostgreSQL, real NATS, per-session databases and streams) live in
# tests/fixtures; loading them here makes them available to every test suite of the workspace.
pytest_plugins = ["tests.fixtures.infra", "tests.fixtures.clients"]
