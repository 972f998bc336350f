"""`tasktracker-<service> api` starts uvicorn without its access log (a line per request at
INFO) unless the service's settings turn it on."""

from __future__ import annotations

import pytest
from pydantic_settings import SettingsConfigDict

from tasktracker.servicekit.cli import uvicorn_options
from tasktracker.servicekit.settings import ServiceSettings


class LoggingServiceSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TT_CLITEST_", extra="ignore")

    access_log: bool = False


def test_no_access_log_by_default(monkeypatch):
    monkeypatch.delenv("TT_CLITEST_ACCESS_LOG", raising=False)
    assert uvicorn_options(LoggingServiceSettings())["access_log"] is False
    assert uvicorn_options(ServiceSettings())["access_log"] is False  # no such field


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("false", False)])
def test_the_access_log_is_a_setting(monkeypatch, value, expected):
    monkeypatch.setenv("TT_CLITEST_ACCESS_LOG", value)
    options = uvicorn_options(LoggingServiceSettings(), port=9999)
    assert options["access_log"] is expected
    # the caller's address (the gateway's X-Forwarded-For) is read for the log alone
    assert options["proxy_headers"] is expected
    assert options["port"] == 9999 and options["factory"] is True


def test_an_idle_connection_is_kept_longer_than_the_gateway_keeps_it(monkeypatch):
    """The caller closes an idle connection first: uvicorn's own 5 s closed connections the
    caller was about to reuse, and a request sent on one failed (httpx.ReadError)."""
    monkeypatch.delenv("TT_CLITEST_KEEP_ALIVE_SECONDS", raising=False)
    assert uvicorn_options(LoggingServiceSettings())["timeout_keep_alive"] == 75
    monkeypatch.setenv("TT_CLITEST_KEEP_ALIVE_SECONDS", "120")
    assert uvicorn_options(LoggingServiceSettings())["timeout_keep_alive"] == 120
