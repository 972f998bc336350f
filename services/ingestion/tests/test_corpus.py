"""Every kind of update the current Bot API sends, the shapes a tester saw refused, unknown
kinds and unknown union tags: each is answered 200 by the real webhook and ends, through the
real worker process and PostgreSQL, stored as a message or recorded as skipped with its kind.
"""

from __future__ import annotations

import pytest

from tasktracker.ingestion.storable import INT64_MAX

from .support import (
    SAMPLES,
    bound_project,
    post_update,
    sample,
    skipped_update,
    stored_messages,
    wait_for,
)

pytestmark = pytest.mark.usefixtures("worker")

STORED = "stored"

# corpus file → (what becomes of it, the stored message's kind or the skipped update's kind)
EXPECTED: dict[str, tuple[str, str]] = {
    "message_text_entities": (STORED, "text"),
    "message_voice": (STORED, "voice"),
    "message_animation": (STORED, "animation"),
    "message_document_caption": (STORED, "document"),
    "message_venue": (STORED, "location"),
    "message_poll": (STORED, "poll"),
    "message_dice": (STORED, "other"),
    "message_checklist": (STORED, "other"),
    "message_pinned": (STORED, "service"),
    "message_forum_topic": (STORED, "text"),
    "message_private": (STORED, "text"),
    "message_anonymous_admin": (STORED, "text"),
    "message_gift_service": (STORED, "service"),
    "message_quote_external_reply": (STORED, "text"),
    "edited_message": (STORED, "text"),
    "channel_post_photo": (STORED, "photo"),
    "edited_channel_post": (STORED, "photo"),
    "business_connection": ("skipped", "business_connection"),
    "business_message": ("skipped", "business_message"),
    "edited_business_message": ("skipped", "edited_business_message"),
    "deleted_business_messages": ("skipped", "deleted_business_messages"),
    "message_reaction": ("skipped", "message_reaction"),
    "message_reaction_count": ("skipped", "message_reaction_count"),
    "inline_query": ("skipped", "inline_query"),
    "chosen_inline_result": ("skipped", "chosen_inline_result"),
    "callback_query": ("skipped", "callback_query"),
    "callback_query_inaccessible_message": ("skipped", "callback_query"),
    "shipping_query": ("skipped", "shipping_query"),
    "pre_checkout_query": ("skipped", "pre_checkout_query"),
    "purchased_paid_media": ("skipped", "purchased_paid_media"),
    "poll": ("skipped", "poll"),
    "poll_closed": ("skipped", "poll"),
    "poll_answer": ("skipped", "poll_answer"),
    "poll_answer_voter_chat": ("skipped", "poll_answer"),
    "my_chat_member_administrator": ("skipped", "my_chat_member"),
    "chat_member_restricted": ("skipped", "chat_member"),
    "chat_join_request": ("skipped", "chat_join_request"),
    "chat_boost": ("skipped", "chat_boost"),
    "removed_chat_boost": ("skipped", "removed_chat_boost"),
    "tester_chat_member_missing_field": ("skipped", "chat_member"),
    "tester_my_chat_member_missing_field": ("skipped", "my_chat_member"),
    "tester_reaction_unknown_type": ("skipped", "message_reaction"),
    "tester_reply_to_forward_unknown_origin": (STORED, "text"),
    "tester_nul_in_ignored_field": (STORED, "text"),
    "tester_nul_in_text": (STORED, "text"),
    "unknown_kind_future": ("skipped", "chat_wallpaper_changed_2031"),
    "unknown_forward_origin": (STORED, "text"),
    "unknown_content_type": (STORED, "service"),
    "unknown_chat_type": (STORED, "text"),
}


def test_the_corpus_is_what_the_test_expects():
    assert {path.stem for path in (SAMPLES / "corpus").glob("*.json")} == set(EXPECTED)


@pytest.mark.parametrize("name", list(EXPECTED))
async def test_every_update_is_acknowledged_and_stored_or_skipped_with_its_kind(
    client, engine, name
):
    outcome, kind = EXPECTED[name]
    project_id, chat_id = await bound_project(client)
    update = sample(f"corpus/{name}", chat_id=chat_id)
    response = await post_update(client, update)
    assert response.status_code == 200, response.text

    if outcome == STORED:

        async def stored():
            return await stored_messages(engine, project_id)

        [row] = await wait_for(stored)
        assert row.kind == kind and row.update_id == update["update_id"]
        assert "\x00" not in row.text
        return

    async def skipped():
        return await skipped_update(engine, update["update_id"])

    row = await wait_for(skipped)
    assert (row.update_kind, row.reason) == (kind, None)


@pytest.mark.parametrize("update_id", [INT64_MAX + 1, 10**40])
async def test_an_update_id_beyond_64_bits_is_acknowledged_and_recorded(client, engine, update_id):
    """Not a real Telegram id today; still never a 4xx and never a job failing forever."""
    _, chat_id = await bound_project(client)
    update = {**sample("text", chat_id=chat_id), "update_id": update_id}
    assert (await post_update(client, update)).status_code == 200

    async def skipped():
        return await skipped_update(engine, update_id)

    row = await wait_for(skipped)
    assert row.update_kind == "message" and "64-bit" in row.reason


async def test_reply_text_and_names_survive_the_tester_cases(client, engine):
    project_id, chat_id = await bound_project(client)
    for name in ("tester_reply_to_forward_unknown_origin", "tester_nul_in_text"):
        await post_update(client, sample(f"corpus/{name}", chat_id=chat_id))

    async def both():
        rows = await stored_messages(engine, project_id)
        return rows if len(rows) == 2 else None

    by_id = {row.message_id: row for row in await wait_for(both)}
    assert by_id[2030].reply_to_message_id == 2029
    assert by_id[2032].text == "a\ufffdb"
