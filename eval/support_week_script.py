"""The third labelled chat, held out: a week of a customer-support team's chat (a SaaS
billing product), written for the eval in the demo chat's line format (see
`tasktracker.devstack.sample_chat_build`). Its labels (`chats/support_week.labels.yaml`) were
written and committed before any extractor ran on it; nothing is tuned on it.

    uv run python -m eval.support_week_script > eval/chats/support_week.json
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

from tasktracker.devstack.sample_chat_build import build

CHAT = {"id": -1005550001111, "title": "Support desk", "type": "supergroup"}
PEOPLE = {
    "rosa": {"id": 8001, "first_name": "Rosa", "last_name": "Alvarez", "username": "rosa_lead"},
    "jamal": {"id": 8002, "first_name": "Jamal", "username": "jamal_t2"},
    "ines": {"id": 8003, "first_name": "Ines", "last_name": "Costa", "username": "ines_kb"},
    "pavel": {"id": 8004, "first_name": "Pavel", "username": "pavel_eng"},
    "mei": {"id": 8005, "first_name": "Mei", "last_name": "Tan", "username": "mei_support"},
    "olu": {"id": 8006, "first_name": "Olu", "username": "olu_billing"},
}
FIRST_DAY = datetime(2025, 9, 8, tzinfo=UTC)  # a Monday
FIRST_UPDATE_ID = 930_000_000

SCRIPT = """
DAY 1
08:30 rosa: Morning team. The queue is at 142 open tickets after the weekend, 9 of them breaching SLA.
08:31 jamal: Morning. Most of the weekend ones are password reset loops again.
08:32 mei: Hi all ☕
08:34 rosa: [#macro] Mei, please update the password reset macro so it mentions the new 2FA screen, by Tuesday.
08:35 mei: [>macro] Will do.
08:36 olu: Morning! The billing queue is quiet, only 4 refund requests.
08:37 rosa: !edit macro: Mei, please update the password reset macro so it mentions the new 2FA screen, by Wednesday.
08:40 jamal: [#status] Is the status page showing the login incident? A customer says it is green.
08:41 rosa: [>status] It was resolved at 07:10, so green is right.
08:55 pavel: [#sso] Engineering confirmed the SSO login loop: customers on Safari 17 get bounced back to the login page. The fix is expected Thursday.
08:56 jamal: [#banner] [>sso] Thanks. Can we get a known-issue banner in the help center until then?
08:57 ines: [>banner] I can add it now.
09:02 ines: The banner is live on the login help page.
09:03 jamal: 👍
09:30 olu: [#refund] A customer from Acme Corp was charged twice for the annual plan. Ticket 48213.
09:31 rosa: [>refund] Olu, please refund the duplicate charge and send them the receipt.
09:32 olu: On it.
09:34 olu: Refund issued, receipt sent, ticket 48213 closed.
09:36 rosa: Great, thanks.
10:15 ines: [#kb] The help center article on exporting invoices still shows the old menu. I'll rewrite it this week.
10:16 rosa: [>kb] Thanks Ines. Add screenshots of the new billing page while you are at it.
10:18 jamal: Funny, I sent that article to three customers this morning and nobody complained.
11:00 rosa: CSAT for last week: 87%, down from 91%. Most bad ratings mention slow first replies.
11:01 rosa: Decision: from today the first reply target for chat is 5 minutes, email stays at 4 hours.
11:02 jamal: Makes sense.
11:03 mei: Should we change the auto-responder text then?
11:04 rosa: Yes. Jamal, can you update the email auto-responder with the 4 hour promise by tomorrow?
11:05 jamal: Sure, I'll do it tomorrow morning.
11:06 mei: lol the old one still promises "within 1 business day, probably".
13:30 pavel: Heads up: the web app release 4.2 goes out Wednesday and it changes the export button.
13:31 pavel: [#video] We should record a short video of the new export flow for the help center.
13:32 ines: [>video] I can record it after the release, on Thursday.
13:40 rosa: [#training] Let's also run a training session for the team on the new export flow on Friday.
13:41 pavel: [>training] I can run it, 30 minutes at 14:00.
15:00 olu: [#tax] Question: do we refund VAT for EU business customers who send their VAT number late?
15:05 rosa: [>tax] Only if they send it within 30 days of the invoice. That is the policy.
15:06 olu: Got it, thanks.
15:07 olu: [#faq] I'll add that rule to the billing FAQ in the internal wiki.
15:08 ines: [>faq] Nice, link it here when it is done.
16:30 jamal: Logging off, 96 open tickets left. Good progress today!
DAY 2
08:40 jamal: Auto-responder updated, the new text mentions the 4 hour target.
08:42 rosa: 👌
08:50 mei: [#spam] We are getting a wave of spam tickets from a contact form bot, about 200 overnight.
08:51 rosa: [>spam] Pavel, can you ask engineering to add a captcha to the contact form? This is urgent.
08:52 pavel: [>spam] Will do, I'll raise it at their standup at 10.
08:53 mei: Meanwhile I'll bulk-close the spam tickets with the spam tag.
09:01 mei: Done, 212 spam tickets closed.
09:20 ines: The draft of the invoice export article is ready for review, the link is in the doc.
09:21 ines: [#review] @rosa_lead could you review it before Thursday?
09:25 rosa: [>review] Yes, will do.
10:30 pavel: Engineering agreed: the captcha on the contact form ships tomorrow.
10:31 mei: 🙌
11:00 rosa: [#macro2] Reminder: Mei, the password reset macro needs the 2FA screen by Wednesday.
11:02 mei: [>macro2] Yes, it is half done.
11:30 jamal: Enterprise customer Northwind reports that CSV exports time out for reports over 50k rows. Ticket 48377.
11:31 jamal: [#northwind] Pavel, can you file a bug with engineering for the export timeout and link ticket 48377?
11:32 pavel: [>northwind] Filed as ENG-2291 and linked.
11:33 jamal: Thanks!
11:34 olu: Northwind renews next month, so we want them happy.
11:35 rosa: [#nwcall] Jamal, please set up a call with the Northwind admin this week to walk them through the workaround.
11:36 jamal: [>nwcall] I'll set it up for Thursday.
11:37 pavel: The workaround is filtering by month: exports under 50k rows work fine.
14:00 mei: Who wants cake? It is Olu's birthday 🎂
14:01 olu: Thank you all!! 🥳
14:02 jamal: Happy birthday! I'll bring the candles.
14:03 ines: Happy birthday Olu!
15:30 rosa: [#cover] Holiday cover: I need someone to take the weekend queue on the 20th and 21st.
15:32 mei: [>cover] I can take both days, I am around anyway.
15:34 rosa: Thanks Mei, noted in the roster.
DAY 3
08:45 mei: The password reset macro is updated with the 2FA screen and a screenshot.
08:46 rosa: Thanks!
09:10 rosa: [#notraining] Change of plan: let's drop Friday's training on the export flow, a short video is enough for the team.
09:11 pavel: [>notraining] OK, calendar invite removed.
09:40 olu: A chargeback came in from a customer who says they cancelled in July. Ticket 48420.
09:41 olu: [#chargeback] I need to collect the cancellation logs and submit the evidence to Stripe by Friday.
09:42 rosa: [>chargeback] Good. Ask Pavel if you cannot find the logs.
09:50 jamal: The Northwind call is booked for Thursday 10:00.
11:00 ines: [#kbreview] Rosa, a reminder that the invoice article review is waiting for you.
11:05 rosa: [>kbreview] Reviewed, two small comments in the doc. Ship it after that.
13:00 pavel: The captcha is live on the contact form. Spam tickets dropped to zero since noon.
13:02 mei: Amazing.
13:05 rosa: [#macros] Could someone look into why the refund macros show the old price list?
13:06 olu: [>macros] I'll look into it, the price is probably hard-coded.
13:20 jamal: [#booking] Random thought: should we let customers book calls themselves with a calendar link?
13:21 rosa: [>booking] Interesting, not this quarter though.
15:00 ines: [#glossary] Let's build a glossary page for billing terms in the help center, customers keep asking what "proration" means.
15:01 rosa: [>glossary] Yes please, Ines, go ahead, by the end of next week.
DAY 4
08:30 rosa: Morning. The queue is at 61 open tickets and no SLA breaches 🎉
08:31 jamal: The Northwind call is in 90 minutes, wish me luck.
11:45 jamal: [#nwdone] The Northwind call went well. They want a monthly export summary by email instead of large CSVs.
11:46 jamal: Pavel, could you pass that feature request to product?
11:47 pavel: [>nwdone] Sure, I'll add it to the product board today.
11:50 olu: Found it: the refund macros use a hard-coded price list. I'll switch them to the price placeholder tomorrow.
11:51 rosa: 👍
14:00 ines: The export video is recorded, uploading it to the help center now.
14:05 ines: Uploaded: help center → Billing → Exporting invoices.
14:06 rosa: Great work.
14:30 mei: [#sla] Can we get an alert in Slack when a chat waits over 5 minutes?
14:31 rosa: [>sla] Good idea. Pavel, can you set that up with a Zendesk trigger by Monday?
14:32 pavel: Will do.
14:40 olu: [#limit] Quick one: is the refund limit for tier 1 still 100 euros?
14:41 rosa: [>limit] Yes, 100 euros. Above that it goes to me.
DAY 5
09:00 olu: The chargeback evidence is submitted to Stripe with the cancellation logs.
09:01 rosa: Thanks Olu.
09:15 olu: The refund macros now use the price placeholder, checked with two test tickets.
09:30 pavel: [#alert] Update on the Slack alert: Zendesk triggers cannot post to Slack directly, we would need the webhook app.
09:31 rosa: [>alert] Then forget the Slack alert for now, we will look at it when we move to the new helpdesk.
09:32 pavel: OK, dropping it.
10:00 ines: [#retro] Let's do a short retro on the SSO incident next Tuesday, I'll prepare the timeline.
10:01 rosa: [>retro] Good, put it in the calendar for 11:00.
10:30 jamal: The Northwind admin wrote back: the workaround works and they are happy for now.
10:31 rosa: Nice. Jamal, please send them the onboarding survey on Monday.
10:32 jamal: Will do.
15:00 rosa: Good week everyone. CSAT this week is back at 90% 🎉
15:01 mei: 🎉
15:02 olu: Have a nice weekend!
"""  # noqa: E501 (chat lines are as long as people write them)


def main() -> None:
    chat = build(
        SCRIPT,
        chat=CHAT,
        people_by_name=PEOPLE,
        first_day=FIRST_DAY,
        first_update_id=FIRST_UPDATE_ID,
    )
    json.dump(chat, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
