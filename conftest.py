import os

from tests.fixtures.actor import TEST_INTERNAL_ACTOR_KEY

# Every service and gateway a test builds or starts (in-process or as a child process) shares
# this key, as a deployment's processes share theirs (servicekit.actor).
os.environ["TT_INTERNAL_ACTOR_KEY"] = TEST_INTERNAL_ACTOR_KEY

# The shared fixtures (real PostgreSQL, real NATS, per-session databases and streams) live in
# tests/fixtures; loading them here makes them available to every test suite of the workspace.
pytest_plugins = ["tests.fixtures.infra", "tests.fixtures.clients"]
