"""The public OpenAPI against the real stack (all services and the gateway as processes):
the gateway serves it, a fuzzer over every operation finds no server error and no status the
document does not list, and a client generated from it works.

`TT_FUZZ_MAX_EXAMPLES`, `TT_FUZZ_PHASES` and `TT_FUZZ_SEED` shape the fuzzer's run (`make fuzz`
runs it longer)."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tasktracker.gateway.public_api import public_openapi
from tests.fixtures.full_stack import FullStack, full_stack, reserve_project_ids

pytestmark = pytest.mark.e2e

# In `make test` a short run: random cases only, good and bad; `make fuzz` adds the coverage
# phase (every boundary and negative case of every parameter) and many more cases.
FUZZ_EXAMPLES = int(os.environ.get("TT_FUZZ_MAX_EXAMPLES", "6"))
FUZZ_PHASES = os.environ.get("TT_FUZZ_PHASES", "examples,fuzzing")
FUZZ_SEED = os.environ.get("TT_FUZZ_SEED")
CHECKS = "not_a_server_error,status_code_conformance"


@pytest.fixture(scope="module")
async def api_stack(database_factory, nats_url, session_id, project_ids, tmp_path_factory):
    """A whole stack of its own: the fuzzer creates projects, binds chats and edits settings,
    which no other test should meet. `docs` on, as in the dev stack."""
    async with full_stack(
        database_factory,
        nats_url,
        f"{session_id}api",  # job streams and durables apart from the session's other stack
        reserve_project_ids(project_ids),
        tmp_path_factory.mktemp("e2e-api-logs"),
        extra_env={"TT_GATEWAY_DOCS": "true"},
    ) as stack:
        yield stack


def admin_headers(stack: FullStack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.token('fuzzer', {}, admin=True)}"}


CHAT_ID = -100_777_000_001
CHAT = [
    "@boris please fix the checkout timeout before Friday, it blocks the release.",
    "Bug: the payment webhook times out with a 504 under load.",
    "Can you add retry logging to the payment webhook?",
    "Decision: we ship the order summary page behind a feature flag.",
    "TODO: rotate the staging database password.",
    "Please review the promo code fix today.",
]


@dataclass(frozen=True)
class Seeded:
    """Real ids of every kind a path names, so that fuzzed requests reach the services' logic
    rather than only their 404s."""

    project_id: int
    chat_id: int
    message_id: int
    extraction_id: str
    knowledge_proposal_id: str
    run_id: str
    review_proposal_id: str
    task_id: int

    def schemathesis_config(self) -> str:
        def table(values: dict[str, object]) -> str:
            return "\n".join(f'"path.{k}" = {json.dumps(v)}' for k, v in values.items())

        common = {
            "project_id": self.project_id,
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "extraction_id": self.extraction_id,
            "run_id": self.run_id,
            "task_id": self.task_id,
        }
        return (
            f"[parameters]\n{table(common)}\n\n"
            '[[operations]]\ninclude-path-regex = "/knowledge/proposals/"\n'
            f"[operations.parameters]\n{table({'proposal_id': self.knowledge_proposal_id})}\n\n"
            '[[operations]]\ninclude-path-regex = "^/api/projects/[^/]+/proposals/"\n'
            f"[operations.parameters]\n{table({'proposal_id': self.review_proposal_id})}\n"
        )


async def eventually(read: Callable[[], Awaitable[httpx.Response]], done, what: str):
    """Poll a read until `done` holds (workers and read models catch up asynchronously)."""
    answer = None
    try:
        async with asyncio.timeout(180):
            while answer is None or not done(answer):
                if answer is not None:
                    await asyncio.sleep(0.3)
                answer = await read()
    except TimeoutError:
        shown = answer.text if answer is not None else None
        raise AssertionError(f"{what}: not within 180 s; last answer {shown}") from None
    return answer


async def seed(stack: FullStack) -> Seeded:
    """A chat bound to a project, its messages, an extraction with proposals, a completed run
    with proposals, one approved into a task: all through the gateway."""
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers=admin_headers(stack), timeout=20
    ) as api:
        pid = (await api.post("/api/projects", json={"name": "fuzzed"})).json()["id"]
        bound = await api.post(
            "/api/ingestion/bindings", json={"project_id": pid, "chat_id": CHAT_ID}
        )
        assert bound.status_code == 201, bound.text
        start = datetime.now(UTC) - timedelta(hours=1)
        secret = {"X-Telegram-Bot-Api-Secret-Token": stack.webhook_secret}
        for n, text in enumerate(CHAT, start=1):
            message = {
                "message_id": n,
                "date": int((start + timedelta(minutes=n)).timestamp()),
                "chat": {"id": CHAT_ID, "type": "supergroup", "title": "fuzz"},
                "from": {"id": 7000 + n, "is_bot": False, "first_name": f"P{n}"},
                "text": text,
            }
            update = {"update_id": 7_700_000 + n, "message": message}
            sent = await api.post("/webhook/telegram", json=update, headers=secret)
            assert sent.status_code == 200, sent.text
        base = f"/api/projects/{pid}"
        messages = await eventually(
            lambda: api.get(f"{base}/messages"),
            lambda r: len(r.json()["items"]) == len(CHAT),
            "messages stored",
        )
        ids = [m["id"] for m in messages.json()["items"]]
        extract = await eventually(
            lambda: api.post(f"{base}/knowledge/extract", json={"message_ids": ids}),
            lambda r: r.status_code != 422,  # knowledge's read model catches up
            "knowledge has the chat",
        )
        assert extract.status_code == 202, extract.text
        extraction_id = extract.json()["extraction_id"]
        await eventually(
            lambda: api.get(f"{base}/knowledge/extractions/{extraction_id}"),
            lambda r: r.json()["status"] == "completed",
            "extraction completed",
        )
        knowledge = await api.get(f"{base}/knowledge/proposals", params={"status": "pending"})
        window = {
            "window_start": (start - timedelta(minutes=5)).isoformat(),
            "window_end": datetime.now(UTC).isoformat(),
        }
        run = (await api.post(f"{base}/runs", json=window)).json()
        assert (await api.post(f"{base}/runs/{run['id']}/start")).status_code == 202
        await eventually(
            lambda: api.get(f"{base}/runs/{run['id']}"),
            lambda r: r.json()["status"] == "completed",
            "run completed",
        )
        proposals = await eventually(
            lambda: api.get(f"{base}/proposals", params={"run_id": run["id"]}),
            lambda r: len(r.json()["items"]) >= 2,
            "review has the run's proposals",
        )
        first, second = (p["id"] for p in proposals.json()["items"][:2])
        approved = await api.put(f"{base}/proposals/{first}/approve")
        assert approved.status_code == 200, approved.text
        return Seeded(
            project_id=pid,
            chat_id=CHAT_ID,
            message_id=ids[0],
            extraction_id=extraction_id,
            knowledge_proposal_id=knowledge.json()["items"][0]["id"],
            run_id=run["id"],
            review_proposal_id=second,
            task_id=approved.json()["task_id"],
        )


async def test_the_gateway_serves_the_public_document(api_stack):
    async with httpx.AsyncClient(base_url=api_stack.gateway_url) as client:
        answer = await client.get("/openapi.json")
        assert answer.status_code == 200
        assert answer.json() == public_openapi()
        assert (await client.get("/docs")).status_code == 200


async def test_a_body_that_is_not_utf8_is_a_documented_400(api_stack):
    """Found by `make fuzz`: FastAPI answers 400 "There was an error parsing the body" for a
    body it cannot decode, on every route with a body; the document did not list it."""
    async with httpx.AsyncClient(
        base_url=api_stack.gateway_url, headers=admin_headers(api_stack)
    ) as client:
        for path in ("/api/projects", "/api/ingestion/bindings"):
            answer = await client.post(
                path, content=b"2a\xff\xfePy", headers={"Content-Type": "application/json"}
            )
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"]["code"] == "bad_request"
            assert "400" in public_openapi()["paths"][path]["post"]["responses"]


async def generated_client(stack: FullStack, where: Path):
    """`openapi-python-client` over the document the gateway serves, imported from `where`."""
    async with httpx.AsyncClient(base_url=stack.gateway_url) as client:
        (where / "openapi.json").write_text((await client.get("/openapi.json")).text)
    (where / "generator.yaml").write_text("post_hooks: []\n")  # no formatter run on the output
    generate = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "openapi-python-client"),
        "generate",
        "--path",
        str(where / "openapi.json"),
        "--meta",
        "none",
        "--output-path",
        str(where / "tt_api_client"),
        "--config",
        str(where / "generator.yaml"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await generate.communicate()
    assert generate.returncode == 0, output.decode()
    sys.path.insert(0, str(where))
    try:
        return importlib.import_module("tt_api_client")
    finally:
        sys.path.remove(str(where))


async def test_a_client_generated_from_the_document_works(api_stack, tmp_path):
    """List projects, create a run, read it back, and a refusal parsed as the error body."""
    tt = await generated_client(api_stack, tmp_path)
    from tt_api_client.api.projects import create_project, list_projects
    from tt_api_client.api.runs import create_run, get_run
    from tt_api_client.models import ErrorBody, ProjectCreate, ProjectOut, RunCreate, RunOut

    token = api_stack.token("client", {}, admin=True)
    async with tt.AuthenticatedClient(base_url=api_stack.gateway_url, token=token) as client:
        project = await create_project.asyncio(client=client, body=ProjectCreate(name="typed"))
        assert isinstance(project, ProjectOut)
        listed = await list_projects.asyncio(client=client)
        assert project.id in {p.id for p in listed}
        now = datetime.now(UTC)
        window = RunCreate(window_start=now - timedelta(hours=1), window_end=now)
        run = await create_run.asyncio(project.id, client=client, body=window)
        assert isinstance(run, RunOut)
        assert run.status == "pending"
        again = await get_run.asyncio(project.id, run.id, client=client)
        assert isinstance(again, RunOut)
        assert (again.id, again.window_start, again.window_end) == (
            run.id,
            window.window_start,
            window.window_end,
        )
        second = await create_run.asyncio_detailed(project.id, client=client, body=window)
        assert second.status_code == 409
        assert isinstance(second.parsed, ErrorBody)
        assert second.parsed.error.code == "conflict"

    async with tt.Client(base_url=api_stack.gateway_url) as anonymous:
        refused = await list_projects.asyncio_detailed(client=anonymous)
        assert refused.status_code == 401
        assert isinstance(refused.parsed, ErrorBody)


async def test_fuzzing_every_operation_finds_no_server_error_and_no_undocumented_status(
    api_stack, tmp_path
):
    seeded = await seed(api_stack)
    config = tmp_path / "schemathesis.toml"
    config.write_text(seeded.schemathesis_config())
    argv = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(config),
        "run",
        f"{api_stack.gateway_url}/openapi.json",
        "--url",
        api_stack.gateway_url,
        "--checks",
        CHECKS,
        "--phases",
        FUZZ_PHASES,
        "--max-examples",
        str(FUZZ_EXAMPLES),
        "--header",
        f"Authorization: {admin_headers(api_stack)['Authorization']}",
        "--header",
        f"X-Telegram-Bot-Api-Secret-Token: {api_stack.webhook_secret}",
        "--generation-with-security-parameters",
        "false",
        "--generation-database",
        "none",
        "--suppress-health-check",
        "all",
        "--request-timeout",
        "20",
        "--workers",
        "2",
        "--no-color",
        *(["--seed", FUZZ_SEED] if FUZZ_SEED else []),
    ]
    fuzz = await asyncio.create_subprocess_exec(
        *argv, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await fuzz.communicate()
    report = output.decode(errors="replace")
    print(report[-4000:])  # `make fuzz` shows the summary
    assert fuzz.returncode == 0, f"{report[-20000:]}\n{api_stack.logs()}"
