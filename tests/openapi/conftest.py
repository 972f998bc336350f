from __future__ import annotations

import pytest
from fastapi import FastAPI

from tools import public_openapi as tool


@pytest.fixture(scope="session")
def service_apps() -> dict[str, tuple[FastAPI, str]]:
    """Each service's app (built, never started) and its upstream in the gateway's routes."""
    return tool.service_apps()
