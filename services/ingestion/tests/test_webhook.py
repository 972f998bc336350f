"""The webhook: secret, body limit and parsing are checked before anything is queued."""

from __future__ import annotations

import json

import pytest

from tasktracker.ingestion.app import create_app
from tasktracker.ingestion.settings import IngestionSettings, WebhookSecretMissing

from .support import UNSTORABLE, jobs_last_seq, new_chat_id, post_update, sample, unstorable_update


async def test_valid_update_is_queued_and_answered_200(client, js, settings):
    before = await jobs_last_seq(js, settings)
    response = await post_update(client, sample("text", chat_id=new_chat_id()))
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert await jobs_last_seq(js, settings) == before + 1


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", "test_webhook-secret_012345678"])
async def test_missing_or_wrong_secret_is_401_and_nothing_queued(client, js, settings, secret):
    before = await jobs_last_seq(js, settings)
    response = await post_update(client, sample("text", chat_id=new_chat_id()), secret=secret)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert await jobs_last_seq(js, settings) == before


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        b"\xff\xfe binary",
        b"[1, 2, 3]",
        b'"a string"',
        b"{}",
        b'{"update_id": "forty-two"}',
        b'{"update_id": 5, "message": {"message_id": 1}}',
    ],
)
async def test_malformed_body_is_400_and_nothing_queued(client, js, settings, body):
    before = await jobs_last_seq(js, settings)
    response = await post_update(client, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "bad_request"
    assert error["message"]
    assert await jobs_last_seq(js, settings) == before


@pytest.mark.parametrize("case", list(UNSTORABLE))
async def test_update_the_worker_could_not_store_is_400_and_nothing_queued(
    client, js, settings, case
):
    update, loc = unstorable_update(case, new_chat_id())
    before = await jobs_last_seq(js, settings)
    response = await post_update(client, update)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "bad_request"
    assert [detail["loc"] for detail in error["details"]] == [loc]
    assert await jobs_last_seq(js, settings) == before


@pytest.mark.parametrize("edit_date", [10**15, -(10**12), 2**63 - 1])
async def test_edit_date_that_is_no_time_is_400(client, js, settings, edit_date):
    update = sample("edited", chat_id=new_chat_id(), edit_date=edit_date)
    before = await jobs_last_seq(js, settings)
    response = await post_update(client, update)
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["loc"] == ["edited_message", "edit_date"]
    assert await jobs_last_seq(js, settings) == before


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"update_id": 1, "x": ' + b"[" * 100_000])
async def test_nesting_too_deep_to_parse_is_400(client, body):
    response = await post_update(client, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


async def test_oversized_body_is_413(client, js, settings):
    before = await jobs_last_seq(js, settings)
    update = sample("text", chat_id=new_chat_id(), text="x" * settings.webhook_max_body_bytes)
    response = await post_update(client, json.dumps(update).encode())
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert await jobs_last_seq(js, settings) == before


async def test_body_within_our_limit_but_over_the_nats_message_limit_is_413(client, js, settings):
    """NATS refuses messages over its max_payload (1 MiB by default) before storing them."""
    before = await jobs_last_seq(js, settings)
    update = sample("text", chat_id=new_chat_id(), text="")
    padding = settings.webhook_max_body_bytes - len(json.dumps(update).encode())
    update["message"]["text"] = "x" * padding
    body = json.dumps(update).encode()
    assert len(body) == settings.webhook_max_body_bytes
    response = await post_update(client, body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert await jobs_last_seq(js, settings) == before


async def test_oversized_streamed_body_without_length_is_413(client, settings):
    chunk = b"x" * 65536

    async def chunks():
        for _ in range(settings.webhook_max_body_bytes // len(chunk) + 2):
            yield chunk

    response = await client.post(
        "/webhook/telegram",
        content=chunks(),
        headers={"X-Telegram-Bot-Api-Secret-Token": settings.webhook_secret.get_secret_value()},
    )
    assert response.status_code == 413


def test_the_api_refuses_to_start_without_a_secret(settings):
    open_settings = settings.model_copy(update={"webhook_secret": None})
    with pytest.raises(WebhookSecretMissing):
        create_app(open_settings)
    create_app(open_settings.model_copy(update={"webhook_open": True}))


def test_secret_must_be_one_telegram_accepts():
    with pytest.raises(ValueError, match="webhook secret"):
        IngestionSettings(webhook_secret="has spaces and $ymbols")
    assert IngestionSettings(webhook_secret="").webhook_secret is None


def test_secret_from_environment(monkeypatch):
    monkeypatch.setenv("TT_INGESTION_WEBHOOK_SECRET", "from-env_42")
    monkeypatch.setenv("TT_INGESTION_WEBHOOK_MAX_BODY_BYTES", "4096")
    settings = IngestionSettings()
    assert settings.webhook_secret.get_secret_value() == "from-env_42"
    assert settings.webhook_max_body_bytes == 4096
    assert "from-env_42" not in repr(settings)
