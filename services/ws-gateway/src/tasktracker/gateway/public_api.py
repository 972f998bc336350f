"""The public OpenAPI document: every REST operation as clients call it through the gateway.

Generated from the services' own schemas by `make openapi` (`tools/public_openapi.py`) and
committed beside this module: the gateway imports no service, and fetching the upstreams'
documents at start would make the gateway's start depend on theirs. A test regenerates it and
fails when the committed file is stale.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

DOCUMENT = "openapi.json"


@cache
def public_openapi() -> dict[str, Any]:
    return json.loads(files("tasktracker.gateway").joinpath(DOCUMENT).read_text("utf-8"))
