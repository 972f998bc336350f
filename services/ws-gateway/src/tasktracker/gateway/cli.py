"""`tasktracker-gateway api|token|watch`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from tasktracker.contracts.subjects import SubjectError, client_topic
from tasktracker.gateway.app import server_config
from tasktracker.gateway.auth import issue_token, parse_duration, parse_project_role
from tasktracker.gateway.settings import GatewaySettings
from tasktracker.gateway.watch import watch
from tasktracker.servicekit import heap
from tasktracker.servicekit.logs import configure_logging
from tasktracker.servicekit.tracing import configure_tracing

# Where `make run` keeps the secret of its gateway, as the gateway's own settings (dotenv). The
# `token` command reads it when the environment has no key: in a dev checkout it signs for the
# running stack; in a deployment the file is absent and nothing changes. A file, not an import
# of the dev stack, so the gateway never needs the dev stack.
DEV_ENV_FILE = Path(".data/gateway.env")


def _settings(env_file: Path | None = None) -> GatewaySettings:
    try:
        return GatewaySettings(_env_file=env_file)  # the environment wins over the file
    except ValidationError as exc:
        messages = "; ".join(error["msg"] for error in exc.errors())
        raise SystemExit(f"tasktracker-gateway: bad settings: {messages}") from None


def _argument_type(parse):
    def convert(text: str):
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tasktracker-gateway")
    commands = parser.add_subparsers(dest="command", required=True)

    api = commands.add_parser("api", help="serve REST routing and /ws")
    api.add_argument("--host")
    api.add_argument("--port", type=int)

    token = commands.add_parser("token", help="print a signed JWT")
    token.add_argument("--sub", required=True, help="the subject (user id) of the token")
    token.add_argument(
        "--project",
        action="append",
        default=[],
        type=_argument_type(parse_project_role),
        metavar="ID=ROLE",
        help="a project and a role in it (viewer, pm, admin); repeatable",
    )
    token.add_argument("--admin", action="store_true", help="global admin of every project")
    token.add_argument(
        "--ttl",
        default="8h",
        type=_argument_type(parse_duration),
        help="lifetime, e.g. 30m, 8h, 2d (default 8h)",
    )
    token.add_argument("--private-key", type=Path, help="PEM private key file (RS256)")
    token.add_argument(
        "--env-file",
        type=Path,
        default=DEV_ENV_FILE,
        help="TT_GATEWAY_* settings to use where the environment has none "
        f"(default {DEV_ENV_FILE}, written by make run)",
    )

    watch_cmd = commands.add_parser("watch", help="print a project's events as they happen")
    watch_cmd.add_argument("--project", type=int, required=True)
    watch_cmd.add_argument("--topic", help="one topic (messages, analysis_runs, ...); default all")
    watch_cmd.add_argument("--since", type=int, help="replay events after this sequence first")
    watch_cmd.add_argument("--url", help="WebSocket URL (default ws://<host>:<port>/ws)")
    watch_cmd.add_argument("--token", help="JWT to use; default: mint a viewer token")
    watch_cmd.add_argument("--max-events", type=int, help="exit after printing this many")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.command == "api":
        settings = _settings()
        configure_logging(settings.log_level, settings.log_format, settings.service_name)
        heap.enable()
        configure_tracing(settings.service_name, settings.otlp_endpoint, **{"tt.process": "api"})
        overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v}
        try:
            config = server_config(settings, **overrides)
        except ValueError as exc:
            raise SystemExit(f"tasktracker-gateway: {exc}") from None
        uvicorn.Server(config).run()
    elif args.command == "token":
        sys.exit(_token(args))
    elif args.command == "watch":
        sys.exit(_watch(args))


def _token(args: argparse.Namespace) -> int:
    settings = _settings(args.env_file)
    if args.private_key is not None:
        key: str | bytes = args.private_key.read_bytes()
    else:
        try:
            key = settings.signing_key()
        except ValueError as exc:
            raise SystemExit(
                f"tasktracker-gateway: {exc} (in the environment, or in {args.env_file}, "
                "which `make run` writes)"
            ) from None
    print(
        issue_token(
            key,
            sub=args.sub,
            projects=dict(args.project),
            admin=args.admin,
            ttl_seconds=args.ttl,
            algorithm=settings.jwt_algorithm,
        )
    )
    return 0


def _watch(args: argparse.Namespace) -> int:
    try:
        topic = client_topic(args.project, args.topic)
    except SubjectError as exc:
        raise SystemExit(f"tasktracker-gateway: {exc}") from None
    token, url = args.token, args.url
    if token is None or url is None:
        settings = _settings()
        url = url or f"ws://{settings.host}:{settings.port}/ws"
        if token is None:
            try:
                key = settings.signing_key()
            except ValueError as exc:
                raise SystemExit(f"tasktracker-gateway: {exc}; or pass --token") from None
            token = issue_token(
                key,
                sub="watch",
                projects={args.project: "viewer"},
                ttl_seconds=12 * 3600,
                algorithm=settings.jwt_algorithm,
            )
    try:
        return asyncio.run(watch(url, token, topic, args.since, max_events=args.max_events))
    except KeyboardInterrupt:
        return 130
