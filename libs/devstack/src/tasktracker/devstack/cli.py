"""`tasktracker-dev run` — the local stack behind `make run`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(prog="tasktracker-dev")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start infrastructure, every service, and a demo project")
    commands.add_parser(
        "demo", help="against a running `make run`: the whole flow over the gateway, live"
    )
    say = commands.add_parser("say", help="post a new message to the demo chat's webhook")
    say.add_argument("text")
    say.add_argument(
        "--as",
        dest="who",
        default="anna",
        help="who speaks (anna, boris, chen, dara, emeka, farida, gus, hana)",
    )
    say.add_argument("--gateway", default="http://127.0.0.1:8000")
    args = parser.parse_args()
    root = Path.cwd()
    if args.command == "run":
        from tasktracker.devstack.run import run

        sys.exit(run(root))
    if args.command == "demo":
        from tasktracker.devstack.demo_flow import demo_against_make_run

        sys.exit(demo_against_make_run(root, sys.stdout))
    if args.command == "say":
        sys.exit(post_to_webhook(root, args.gateway, args.who, args.text))


def post_to_webhook(root: Path, gateway: str, who: str, text: str) -> int:
    """What Telegram does when someone writes in the demo chat."""
    import httpx

    from tasktracker.devstack.sample import fresh_update
    from tasktracker.devstack.secrets_store import local_secrets

    update = fresh_update(root / "deploy" / "local" / "sample_week.json", who, text)
    secret = local_secrets(root / ".data")["webhook_secret"]
    answer = httpx.post(
        f"{gateway}/webhook/telegram",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": secret},
        timeout=10,
    )
    print(f"{answer.status_code} {answer.text}")
    return 0 if answer.is_success else 1
