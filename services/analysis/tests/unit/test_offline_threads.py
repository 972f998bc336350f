"""The offline task rules read a batch as a conversation: one proposal per task, none for work
called off, done at once or never asked for. Names, wording and dates are invented here, not
taken from the demo chat."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from tasktracker.analysis.domain.offline_tasks import extract
from tasktracker.analysis.domain.proposals import ChatLine, Context

TUESDAY = datetime(2026, 2, 3, 10, tzinfo=UTC)
PEOPLE = {"Ines": "ines_pm", "Olek": "olek_be", "Ruth": "ruth_qa"}
CONTEXT = Context(members=sorted(PEOPLE.values()))


def said(minute: int, who: str, text: str) -> ChatLine:
    return ChatLine(
        id=minute + 1,
        author=who,
        text=text,
        sent_at=TUESDAY + timedelta(minutes=minute),
        username=PEOPLE[who],
    )


def tasks(*lines: ChatLine):
    return extract(CONTEXT, list(lines)).tasks


def test_an_acceptance_joins_the_request_and_its_author_takes_it() -> None:
    found = tasks(
        said(0, "Ines", "Could someone rotate the signing keys on the billing API?"),
        said(1, "Olek", "On it, I'll do it tomorrow."),
    )
    assert len(found) == 1
    assert found[0].message_ids == [1, 2]
    assert found[0].assignee == "olek_be" and found[0].due_date == date(2026, 2, 4)


def test_who_is_addressed_by_first_name_or_username_prefix_is_the_assignee() -> None:
    by_name = tasks(said(0, "Ines", "Ruth, write the load test plan by Friday."))
    by_prefix = tasks(said(0, "Ines", "@olek please renew the staging certificate"))
    assert by_name[0].assignee == "ruth_qa" and by_name[0].due_date == date(2026, 2, 6)
    assert by_prefix[0].assignee == "olek_be"


def test_a_bare_yes_takes_only_a_request_made_to_its_author() -> None:
    to_ruth = tasks(
        said(0, "Ines", "Ruth, can you update the smoke test list?"), said(1, "Ruth", "Sure.")
    )
    to_nobody = tasks(
        said(0, "Ines", "We need to update the smoke test list."), said(1, "Olek", "Yes.")
    )
    assert to_ruth[0].message_ids == [1, 2] and to_ruth[0].assignee == "ruth_qa"
    assert to_nobody[0].message_ids == [1] and to_nobody[0].assignee is None


def test_the_same_task_said_twice_in_a_batch_is_one_task_with_the_later_date() -> None:
    found = tasks(
        said(0, "Olek", "We should move the cron schedule of the invoice export."),
        said(3, "Ines", "Agreed, let's move the invoice export cron schedule on Thursday."),
    )
    assert len(found) == 1 and found[0].message_ids == [1, 4]
    assert found[0].due_date == date(2026, 2, 5)


def test_numbers_keep_two_similar_tasks_apart() -> None:
    found = tasks(said(0, "Ines", "Please fix ticket 41"), said(1, "Ines", "Please fix ticket 42"))
    assert len(found) == 2


def test_work_called_off_later_in_the_batch_is_not_proposed() -> None:
    found = tasks(
        said(0, "Olek", "I'll prototype a second cache layer for the search API."),
        said(2, "Ines", "Not this quarter, we have enough on our plate."),
        said(3, "Ruth", "Scratch that, too."),
        said(4, "Ruth", "I'll review the search API changes after lunch."),
    )
    assert [t.message_ids for t in found] == [[5]]


def test_work_done_within_minutes_is_not_proposed() -> None:
    found = tasks(
        said(0, "Ruth", "Can someone revoke the leaked webhook token?"),
        said(1, "Olek", "On it."),
        said(4, "Olek", "Token revoked and rotated."),
    )
    assert found == []


def test_chatter_without_work_asks_for_nothing() -> None:
    found = tasks(
        said(0, "Ines", "Please welcome Ruth to the team!"),
        said(1, "Olek", "Yes please, cake first."),
        said(2, "Ruth", "I'll watch the match tonight."),
        said(3, "Ines", "Release checklist: tests green, notes done."),
        said(4, "Olek", "Please don't deploy during the load test."),
        said(5, "Ines", "Then I don't need to tell support."),
    )
    assert found == []


def test_a_pronoun_title_takes_its_object_from_the_sentence_before() -> None:
    found = tasks(said(0, "Ines", "We need a postmortem for the queue outage. Olek, write it up?"))
    assert "postmortem" in found[0].title and found[0].assignee == "olek_be"


def test_a_later_batch_states_an_earlier_proposal_again_and_calls_another_off() -> None:
    earlier = CONTEXT.with_earlier(
        [
            ("Rotate the signing keys on the billing API", [1, 2]),
            ("Prototype a read replica for the reports database", [5]),
        ]
    )
    answer = extract(
        earlier,
        [
            said(600, "Ruth", "Let's not do the read replica for the reports database."),
            said(601, "Ines", "Olek, please rotate the billing API signing keys today."),
            said(602, "Olek", "Could you write the changelog for the billing API release?"),
        ],
    )
    assert [(t.message_ids, t.same_as) for t in answer.tasks] == [([602], 1), ([603], None)]
    assert [(w.ref, w.message_ids) for w in answer.withdrawn] == [(2, [601])]


def test_a_call_off_naming_no_earlier_proposal_withdraws_nothing() -> None:
    earlier = CONTEXT.with_earlier([("Prototype a read replica for the reports database", [5])])
    answer = extract(earlier, [said(600, "Ruth", "Never mind, forget it.")])
    assert answer.withdrawn == [] and answer.tasks == []
