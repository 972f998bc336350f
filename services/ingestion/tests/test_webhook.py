"""The webhook: secret, body limit and "a JSON object with an integer update_id" are checked
before anything is queued; nothing else about an update is."""

from __future__ import annotations

import json

import pytest

from tasktracker.ingestion.app import create_app
from tasktracker.ingestion.settings import IngestionSettings, WebhookSecretMissing

from .support import (
    HOSTILE,
    hostile_update,
    new_chat_id,
    new_update_id,
    post_update,
    sample,
    updates_last_seq,
)


async def test_valid_update_is_queued_and_answered_200(client, js, settings):
    before = await updates_last_seq(js, settings)
    response = await post_update(client, sample("text", chat_id=new_chat_id()))
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert await updates_last_seq(js, settings) == before + 1


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", "test_webhook-secret_012345678"])
async def test_missing_or_wrong_secret_is_401_and_nothing_queued(client, js, settings, secret):
    before = await updates_last_seq(js, settings)
    response = await post_update(client, sample("text", chat_id=new_chat_id()), secret=secret)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert await updates_last_seq(js, settings) == before


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        b"\xff\xfe binary",
        b"[1, 2, 3]",
        b'"a string"',
        b"{}",
        b'{"update_id": "forty-two"}',
        b'{"update_id": "42"}',
        b'{"update_id": true}',
        b'{"update_id": 42.0}',
        b'{"update_id": null, "message": {}}',
        b'{"message": {"message_id": 1}}',
        '{"update_id": 1, "message": {"text": "caf\u00e9"}}'.encode("latin-1"),  # not UTF-8
    ],
)
async def test_malformed_body_is_400_and_nothing_queued(client, js, settings, body):
    before = await updates_last_seq(js, settings)
    response = await post_update(client, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "bad_request"
    assert error["message"]
    assert await updates_last_seq(js, settings) == before


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_an_update_holding_values_postgresql_cannot_store_is_queued(
    client, js, settings, case
):
    """Once refused with 400, which lost the update: the worker now repairs or records it."""
    update, _ = hostile_update(case, new_chat_id())
    before = await updates_last_seq(js, settings)
    response = await post_update(client, update)
    assert response.status_code == 200, response.text
    assert await updates_last_seq(js, settings) == before + 1


@pytest.mark.parametrize(
    "body",
    [
        b'{"update_id": ID, "message": {"message_id": 1}}',  # no chat, no date
        b'{"update_id": ID, "message": "not an object"}',
        b'{"update_id": ID}',
        b'{"update_id": ID, "x": "\\ud800 \\u0000", "n": NaN, "m": -Infinity, "e": 1e400}',
        b'\xef\xbb\xbf{"update_id": ID}',  # a UTF-8 byte order mark
    ],
)
async def test_any_object_with_an_integer_update_id_is_queued(client, js, settings, body):
    before = await updates_last_seq(js, settings)
    response = await post_update(client, body.replace(b"ID", str(new_update_id()).encode()))
    assert response.status_code == 200, response.text
    assert await updates_last_seq(js, settings) == before + 1


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"update_id": 1, "x": ' + b"[" * 100_000])
async def test_nesting_too_deep_to_parse_is_400(client, body):
    response = await post_update(client, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


async def test_oversized_body_is_413(client, js, settings):
    before = await updates_last_seq(js, settings)
    update = sample("text", chat_id=new_chat_id(), text="x" * settings.webhook_max_body_bytes)
    response = await post_update(client, json.dumps(update).encode())
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert await updates_last_seq(js, settings) == before


async def test_body_within_our_limit_but_over_the_nats_message_limit_is_413(client, js, settings):
    """NATS refuses messages over its max_payload (1 MiB by default) before storing them."""
    before = await updates_last_seq(js, settings)
    update = sample("text", chat_id=new_chat_id(), text="")
    padding = settings.webhook_max_body_bytes - len(json.dumps(update).encode())
    update["message"]["text"] = "x" * padding
    body = json.dumps(update).encode()
    assert len(body) == settings.webhook_max_body_bytes
    response = await post_update(client, body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert await updates_last_seq(js, settings) == before


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
