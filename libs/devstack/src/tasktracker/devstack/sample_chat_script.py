"""The demo chat's script: a week of the checkout squad's group chat, written for this
project (see sample_chat_build.py for the line format). Plain English team chat about a web
shop's checkout: a release on Friday, bugs, requests, decisions, deadlines, a task that is
later cancelled (Apple Pay), one that is asked twice (the status page runbook), small talk."""

from __future__ import annotations

CHAT = {"id": -1001234567890, "title": "Checkout squad", "type": "supergroup"}
PEOPLE = {
    "anna": {"id": 5001, "first_name": "Anna", "last_name": "Petrova", "username": "anna_pm"},
    "boris": {"id": 5002, "first_name": "Boris", "username": "boris_dev"},
    "chen": {"id": 5003, "first_name": "Chen", "last_name": "Wei", "username": "chen_qa"},
    "dara": {"id": 5004, "first_name": "Dara", "username": "dara_design"},
    "emeka": {"id": 5005, "first_name": "Emeka", "last_name": "Obi", "username": "emeka_ios"},
    "farida": {"id": 5006, "first_name": "Farida", "username": "farida_data"},
    "gus": {"id": 5007, "first_name": "Gus", "last_name": "Lind", "username": "gus_ops"},
    "hana": {"id": 5008, "first_name": "Hana", "username": "hana_support"},
}

SCRIPT = """
DAY 1
08:52 anna: Morning all! New week, and the checkout release is planned for Friday.
08:53 anna: [#plan] Quick plan: payment webhook fix, promo code bug, order summary page, Apple Pay. Shout if something is missing.
08:55 boris: Morning! Coffee first, then webhooks.
08:56 chen: Morning. I have the regression suite running on staging already.
08:57 dara: Hi all 👋
08:58 emeka: Morning, the iOS build from Friday is in TestFlight.
09:01 farida: Morning! The conversion dashboard numbers from last week are in, I will share after standup.
09:02 anna: Standup in 3 minutes, same link as always.
09:30 boris: The payment retry logic is merged, but the Stripe webhook still times out under load.
09:31 chen: [#repro] I can reproduce the timeout: 3 of 20 test orders failed with a 504 yesterday.
09:32 anna: [#fixwebhook] @boris please fix the webhook timeout before Thursday, it blocks the release.
09:33 boris: [>fixwebhook] Will do. I think we need to move the receipt email out of the request path.
09:34 chen: [>repro] Logs show the email provider call takes 4-9 seconds under load.
09:35 boris: Turns out we send the receipt synchronously inside the webhook handler. Classic.
09:36 anna: Decision: receipt emails go to a background job from now on.
09:38 dara: New mockups for the order summary page are in Figma, feedback welcome.
09:39 dara: !photo: Order summary page v3: totals on the right, promo code under the basket
09:41 emeka: [>plan] Looks great. Does the promo field collapse on small screens?
09:42 dara: Yes, below 380px it becomes a link "Have a code?"
09:44 anna: Decision: we ship the new order summary page behind a feature flag.
09:45 boris: We'll call the flag checkout_summary_v3, I'll add it to the config service.
09:47 chen: Bug: the promo code field accepts expired codes on mobile Safari.
09:48 anna: [#promo] @chen can you write up steps to reproduce and file it as high priority?
09:49 chen: [>promo] Sure, I'll file it today.
09:52 emeka: Interesting, the iOS app validates codes on the server, so it is only the web client.
09:53 boris: I think the web client caches the promo list for 24h. That would explain it.
10:30 farida: [#dash] Conversion dashboard: checkout completion dropped from 71% to 64% last week.
10:31 farida: Most of the drop is on mobile Safari, which fits the promo code bug.
10:32 anna: [>dash] That is a big drop. Thanks Farida.
10:33 anna: @farida could you split the funnel by payment method? I want to know if the 504s hurt card payments most.
10:35 farida: Can do, I will have it by tomorrow noon.
10:36 boris: Heads up: staging database migration runs tonight at 22:00 UTC.
10:37 chen: Noted, I will pause the nightly regression run.
10:39 dara: Can someone review the accessibility contrast fixes on the basket page?
10:40 emeka: I can look after lunch.
11:45 boris: Lunch? The new ramen place opened next door.
11:46 chen: In!
11:46 dara: Yes please 🍜
11:47 emeka: Give me 5 minutes.
13:10 emeka: Reviewed the contrast fixes: all buttons pass AA now, one label on the basket still fails.
13:12 dara: Thanks, I'll fix the label colour this afternoon.
13:40 anna: [#applepay] Apple Pay: marketing wants it in this release. @emeka can you estimate the web side?
13:44 emeka: [>applepay] Web side is 2-3 days if the payment provider already has our merchant id.
13:46 boris: We need to register the domain with Apple first, that can take a while.
13:47 anna: OK, let's aim for Thursday and decide on Wednesday if it is realistic.
13:50 farida: Reminder: the analytics events for checkout still use the old naming. Should we rename them with v3?
13:53 anna: Good point. Let's keep the old names until after the release, no risk this week.
14:20 chen: Promo code bug filed: CHK-412, steps and a screen recording attached.
14:22 boris: Looking at CHK-412 now.
14:58 boris: Found it: the promo list cache ignores the expiry date. Fix is a one-liner plus a test.
15:00 chen: Nice. Ping me when it is on staging.
15:30 anna: [#runbook] Could someone update the status page runbook? It still mentions the old payment provider.
15:31 boris: Not me this week, sorry, webhooks.
15:33 anna: Fair. I'll find someone.
16:10 dara: Label colour fixed, Figma and the component library are updated.
16:12 emeka: Contrast looks good now ✅
16:40 boris: Webhook change is up for review: receipts now go through the job queue.
16:41 chen: I'll test it on staging tomorrow morning after the migration.
16:55 anna: Thanks everyone, good first day. See you tomorrow.
16:56 dara: Bye!
17:20 boris: Migration dry run on a copy of prod took 11 minutes, tonight should be fine.
17:25 chen: Boris, does the migration lock the orders table?
17:27 boris: Only for a few seconds at the end, the rest is an online copy.
17:28 chen: OK, then I don't need to tell support.
22:02 boris: Staging migration started.
22:11 boris: Staging migration finished without errors, 9 minutes.
22:12 anna: Thanks for staying up Boris!
22:13 boris: No problem, I was watching a film anyway.
22:14 boris: Good night.
DAY 2
08:45 gus: !join gus
08:46 anna: Everyone, please welcome Gus! He joins us from the platform team and will own deployments and monitoring.
08:47 gus: Hi all, happy to be here. Still finding my way around the repos.
08:47 boris: Welcome Gus! 🎉
08:48 chen: Welcome!
08:48 emeka: Welcome aboard!
08:49 farida: Hi Gus, welcome 👋
08:50 dara: Welcome Gus!
08:52 anna: @gus the release checklist is pinned in this chat, have a look when you can.
09:05 boris: The staging migration went fine, 9 minutes, no errors.
09:06 chen: Great, starting the webhook tests now.
09:40 chen: Webhook tests: 200 orders, zero 504s, p95 of the handler went from 6.2s to 180ms.
09:41 boris: 🎉 That was the receipt email.
09:42 anna: Excellent. So the webhook timeout is fixed on staging?
09:43 chen: Yes, I'd call it fixed. Will re-run under load this afternoon to be sure.
09:45 boris: Promo cache fix is merged too, it is on staging now.
09:46 chen: On it.
10:15 farida: [#funnel] Funnel split by payment method: card payments drop 9 points, PayPal only 2.
10:16 farida: So the 504s mostly hurt card payments, as you guessed.
10:17 anna: [>funnel] Thanks, that is exactly what I needed for the release note.
10:20 chen: Promo code fix verified on mobile Safari and Chrome, expired codes are refused now.
10:21 anna: Great work both of you.
10:25 gus: Question: how do we deploy today? I see two pipelines in CI.
10:27 boris: The old Jenkins one is dead, use the GitHub Actions pipeline only.
10:28 gus: We should delete the old pipeline then, it confused me for 20 minutes.
10:29 anna: @gus please remove the old Jenkins pipeline this week, nice to have but it keeps confusing people.
10:30 gus: Will do.
11:00 dara: [#pollq] Quick vote on the button label for the order summary page.
11:01 dara: !poll: Main button on the order summary page | Place order | Pay now | Complete purchase
11:05 boris: Pay now, short and clear.
11:06 emeka: Place order, because Pay now sounds wrong for invoices.
11:07 chen: Place order.
11:10 farida: Place order tested better in the A/B test last year, I can dig out the numbers.
11:12 dara: Decision: "Place order" it is. Thanks for voting.
11:50 emeka: Anyone up for a walk at lunch? It is finally sunny.
11:51 farida: Yes!
11:52 gus: Sure, I need to see where the good coffee is.
11:53 boris: The coffee machine on floor 3 is broken again, by the way.
11:54 chen: It is not a bug, it is a feature.
12:40 emeka: [#applepay2] Apple Pay update: the payment provider has our merchant id, but the domain verification file must be served from the root domain.
12:42 gus: I can add the verification file to the CDN config, that is a 10 minute change.
12:43 anna: [>applepay2] @gus please add the Apple Pay domain verification file by tomorrow.
12:44 gus: On it.
13:30 chen: Load test of the webhook this afternoon at 15:00, please don't deploy to staging then.
13:31 boris: Noted.
14:04 farida: !join hana
14:05 hana: Hi, support here: customers report that the order confirmation email arrives twice since this morning.
14:06 boris: Hm, that could be the new receipt job. Do you have order numbers?
14:07 hana: Three of them: 88123, 88140, 88152. All from staging test accounts, so not real customers, but still.
14:08 anna: Who added Hana to the chat? Welcome Hana 🙂
14:09 hana: Farida just added me, thanks! I will post customer reports here from now on.
14:15 boris: Found it: the job retries when the email provider answers slowly, and the provider had already sent the mail.
14:16 boris: I'll make the receipt job idempotent with the order id as the key. Should be done tomorrow.
14:18 chen: I'll add a test that sends the webhook twice and expects one email.
15:40 chen: Load test done: 1,000 orders in 10 minutes, no 504s, one duplicate email (the bug Hana found).
15:42 anna: Good. So the release blockers are the duplicate email and Apple Pay.
16:20 farida: The checkout events are now also in the new warehouse, the dashboard reads from there since today.
16:22 anna: Thanks! Please share the dashboard link in the release note draft.
16:30 dara: Order summary page with "Place order" is in Figma.
16:45 emeka: Going home, my daughter has a school concert tonight 🎻
16:46 chen: Enjoy!
17:05 boris: The receipt job PR is half done, I'll finish it in the morning.
17:06 anna: No rush tonight, go home.
17:20 gus: I read through the checkout service code today. The retry config is spread over three files.
17:22 boris: I know. We should move the retry settings into one config file some day.
17:23 gus: I'll write it down as an improvement for next sprint, low priority.
17:40 farida: Going home. Dashboard refresh runs at 02:00 UTC as usual.
17:41 chen: Bye!
17:42 hana: See you tomorrow!
DAY 3
08:50 anna: Morning! Wednesday, two days to the release. Standup in 10.
08:51 boris: Morning.
08:52 chen: Morning all.
08:53 hana: Good morning!
08:55 farida: Morning ☀️
09:20 boris: Receipt job is idempotent now, keyed by order id. PR is up.
09:22 chen: Testing it right after the review.
09:25 gus: Apple Pay verification file is live on the CDN: https://shop.example.com/.well-known/apple-developer-merchantid-domain-association
09:26 emeka: Thanks Gus, I'll trigger the verification with the provider.
09:40 emeka: Verification passed. Now the frontend work starts.
09:41 anna: How long for the frontend?
09:43 emeka: Realistically 3 days with tests. So Monday, not Thursday.
09:45 anna: [#dropapple] Hmm. Then let's drop Apple Pay from this release and ship it next sprint.
09:46 boris: Agreed, I don't want to rush payments.
09:47 emeka: [>dropapple] Fine by me, I'll stop the Apple Pay work and finish the Safari fixes instead.
09:48 anna: Decision: Apple Pay moves to next sprint, it is cancelled for Friday's release.
09:49 anna: I'll tell marketing.
10:05 chen: Duplicate email fix verified: webhook sent twice, one email, one receipt record.
10:06 hana: Thank you! I'll tell the support team.
10:10 anna: [#runbook2] Also, someone please update the status page runbook, it still mentions the old payment provider.
10:11 gus: [>runbook2] I can take the runbook, I'm writing the monitoring docs anyway. By Friday?
10:12 anna: Friday is perfect, thanks Gus.
10:13 boris: Didn't you ask for that on Monday already? 😄
10:14 anna: I did, nobody took it. Now Gus has it.
10:40 farida: The release note draft is in the shared drive, please add your parts by Thursday noon.
10:41 dara: Will add the design part.
10:42 chen: Adding the test summary.
11:15 hana: Customer question: can people still use a promo code and a gift card together after the release?
11:18 boris: Yes, nothing changed there. The order summary page shows both lines.
11:19 dara: The mockups show gift cards as a separate line under the promo code, yes.
11:20 hana: Perfect, I'll add it to the support FAQ.
11:55 gus: Heads up: I need to rotate the staging database credentials tonight. Services will restart at 21:00 UTC.
11:56 boris: OK, the config service picks up the new secret automatically.
11:57 chen: No tests running at 21:00, go ahead.
12:30 dara: Cake in the kitchen! It is my birthday 🎂
12:31 emeka: Happy birthday Dara!
12:31 chen: Happy birthday! 🎉
12:32 boris: Happy birthday! Coming.
12:33 farida: 🎂🎂🎂
12:35 hana: Happy birthday!
12:36 gus: Happy birthday Dara!
12:40 anna: Happy birthday! The carrot cake is excellent.
13:30 emeka: Bug: on iPhone SE the "Place order" button is hidden behind the cookie banner.
13:31 dara: Ugh. The banner should push content up, not cover it.
13:32 anna: @emeka can you fix that before the release? It is a blocker on small phones.
13:33 emeka: Yes, I'll fix it today, it is a CSS change.
13:35 dara: I'll send you the spacing values.
14:10 farida: Looks like the checkout completion on staging test accounts is back to 72% with the fixes.
14:11 anna: That is great news, thanks.
14:30 boris: Question: do we need a feature flag kill switch for the receipt job too?
14:33 anna: Yes, please add one. If the queue breaks on Friday we need a way back.
14:34 boris: OK, I'll add a receipt_job_enabled flag, off means synchronous sending as before.
14:50 gus: We need to upgrade the Node version in the checkout service before Friday, the current one is end of life next week.
14:52 boris: Not before Friday, please. Too risky two days before a release.
14:53 anna: Agreed, let's upgrade Node on Monday. Gus, can you create a ticket?
14:54 gus: Sure, ticket created: OPS-77, planned for Monday.
15:20 emeka: Cookie banner fix is up for review, the button is visible on iPhone SE now.
15:21 dara: !photo: iPhone SE screenshot with the fix, banner above the button
15:23 dara: Looks right 👍
15:25 chen: I'll test it on the device lab phones.
16:05 chen: Cookie banner fix verified on iPhone SE, 8 and 13 mini.
16:06 emeka: 🙌
16:30 anna: Status: webhook fixed, promo bug fixed, duplicate emails fixed, cookie banner fixed. Apple Pay moved. We are in good shape.
16:31 boris: Knock on wood.
16:50 hana: One more from support: the order confirmation page says "Thank you for your order!" twice on refresh.
16:52 boris: That is a known quirk of the old page, the new summary page does not have it.
16:53 anna: OK, then it goes away with the flag. No action needed.
17:00 farida: The weekend report job failed last night with a timeout, I'll look into it tomorrow.
17:02 gus: Was that the warehouse export? I saw a spike in the database load at 02:00.
17:03 farida: Yes. I think the export and the dashboard refresh run at the same time.
17:04 gus: Let's move the export to 03:00, I'll change the schedule tomorrow morning.
17:05 farida: Perfect, thanks.
21:00 gus: Rotating the staging credentials now.
21:09 gus: Done, all staging services are healthy.
21:10 boris: 👍
DAY 4
08:45 anna: Morning! Release tomorrow. Today is for the release checklist and the go/no-go at 15:00.
08:46 chen: Morning, regression suite is green on staging.
08:47 gus: Morning. Staging credentials rotated last night, all services came back fine.
08:48 boris: Morning ☕
08:50 emeka: Morning!
08:55 gus: Export schedule moved to 03:00, last night's run finished in 14 minutes.
08:56 farida: Thanks! The weekend report ran fine too.
09:10 boris: Receipt job kill switch is merged: receipt_job_enabled, default on.
09:11 chen: I'll test both settings this morning.
09:20 dara: Design part of the release note is done.
09:25 farida: I need to finish the dashboard annotations for the release, I'll mark the deploy time.
09:40 gus: [#deploy] Proposal for tomorrow: deploy at 10:00 UTC, the traffic is lowest then, and roll back if the error rate goes above 2%.
09:42 anna: [>deploy] Sounds good. Decision: deploy at 10:00 UTC, rollback threshold 2% errors.
09:43 boris: Agreed.
09:44 chen: 👍
10:05 chen: Receipt job kill switch works both ways. With the flag off the old path still times out under load, as expected.
10:06 boris: Good, it is only for emergencies.
10:30 hana: Support FAQ updated with the new order summary page and the gift card question.
10:32 anna: Thanks Hana.
10:45 farida: [#ab] Should we run an A/B test of the new summary page instead of turning it on for everyone?
10:47 anna: [>ab] Good idea. Let's turn it on for 20% first, then 100% on Monday if the numbers hold.
10:48 farida: I'll set up the experiment in the flag service and the dashboard segment.
10:49 boris: The flag supports percentages already, just set checkout_summary_v3 to 20.
11:30 emeka: Safari fixes are all merged. The Apple Pay branch is parked until next sprint.
11:31 anna: Thanks Emeka.
12:00 chen: Lunch break, back at 13:00.
12:01 gus: Does anyone know a good bike shop nearby? My chain broke this morning.
12:03 boris: The one on Mill Street is great, ask for Tom.
12:04 gus: Thanks!
13:15 boris: Oops, the migration for the receipt table is not in the release branch.
13:16 gus: Good catch. Can you cherry-pick it? I'll re-run the staging deploy after.
13:18 boris: Done, cherry-picked. Staging deploy can go.
13:40 gus: Staging deploy done, migration applied, all green.
13:41 chen: Re-running the smoke tests.
14:10 chen: Smoke tests green.
14:30 anna: [#checklist] Release checklist: tests green, release note done, support informed, rollback plan ready. Anything missing?
14:31 gus: [>checklist] Monitoring: I added an alert on checkout 5xx above 2% for 5 minutes.
14:32 farida: [>checklist] Dashboard annotations are ready.
14:33 hana: Support is ready, we have a macro for the new page.
14:35 dara: Design signed off.
15:00 anna: Go/no-go: everyone OK to ship tomorrow at 10:00 UTC?
15:01 boris: Go.
15:01 chen: Go.
15:02 emeka: Go.
15:02 gus: Go.
15:03 farida: Go.
15:03 dara: Go!
15:04 anna: Decision: we ship tomorrow at 10:00 UTC. Thanks all!
15:30 gus: I'll write the deploy steps into the runbook tonight so tomorrow is boring.
15:35 boris: Boring deploys are the best deploys.
16:20 emeka: Anyone watching the football tonight?
16:21 boris: Of course.
16:22 chen: I'll watch the highlights tomorrow, don't spoil it.
16:40 anna: Have a nice evening, big day tomorrow.
16:45 dara: Bye all!
16:46 farida: Good luck tomorrow!
16:50 hana: Bye!
17:10 gus: Deploy steps are in the runbook draft, section "Release day".
17:12 boris: Read it, looks good. One thing: the cache warmup should come before the flag change.
17:14 gus: Good point, swapped the two steps.
DAY 5
09:30 gus: Starting the release in 30 minutes. Deploy channel is open.
09:31 anna: 👍 We are all here.
09:45 chen: Production smoke test script is ready.
10:00 gus: Deploying checkout service v2.14.0 to production now.
10:06 gus: Deploy done, migration applied in 4 minutes.
10:07 chen: Smoke tests running.
10:12 chen: Production smoke tests green. Placed a real order with a card and with PayPal.
10:13 hana: Got the confirmation email exactly once 🙂
10:15 farida: Setting checkout_summary_v3 to 20% now.
10:16 farida: Flag is at 20%, the experiment is running.
10:30 gus: Error rate 0.3%, p95 of the webhook 160ms. Looks healthy.
10:31 anna: Fantastic. Well done everyone! 🚀
10:32 boris: 🎉
10:32 dara: 🎉🎉
10:33 emeka: 🚀
11:20 hana: First customer feedback on the new summary page: "much clearer, finally I see the discount".
11:21 dara: ❤️
11:40 farida: Early numbers at 20%: completion 73% vs 66% on the old page. Too early to trust, but promising.
11:42 anna: Let's wait for the full weekend of data before going to 100%.
12:10 boris: Bug: the order summary page shows the prices without VAT for customers in Norway.
12:11 anna: Hmm. How many customers does that affect?
12:12 farida: Norway is 1.5% of orders. With the flag at 20% that is a handful of people today.
12:13 anna: [#vat] @boris please fix the Norway VAT display today if you can, otherwise early Monday. It is a legal issue.
12:14 boris: [#vatfix] [>vat] I'll fix it today, the tax service has the rate, the page just does not ask for it.
12:40 boris: !edit vatfix: I'll fix it today, the tax service has the rate, the page just ignores it for non-EU countries.
13:00 chen: I'll add Norway, Switzerland and the UK to the test matrix for tax display.
14:30 boris: Norway VAT fix is deployed, prices now include 25% VAT.
14:32 chen: Verified on production with a Norwegian test account.
14:33 anna: Thanks, that was quick.
15:00 gus: The status page runbook is updated with the new payment provider and the deploy steps.
15:01 anna: Thanks Gus, finally! That one waited a week.
15:10 anna: [#retro] Retro on Monday at 11:00. Please think about what made this release smooth and what did not.
15:12 emeka: Monday I start on Apple Pay again, right?
15:13 anna: [>retro] Yes, Apple Pay is the first thing next sprint, together with the Node upgrade.
15:20 farida: I'll prepare the weekend numbers for the 100% decision on Monday.
15:30 dara: Have a lovely weekend everyone!
15:31 chen: Weekend! 🎉
15:32 hana: Bye all, thanks for the quick fixes this week.
15:33 boris: Have a nice weekend.
15:40 anna: Great week. Thank you all!
"""  # noqa: E501 (chat lines are as long as people write them)
