"""Bodies through the gateway (streamed, over the limit, the imports' own limit) and an
upstream that is slow or away: each answered as documented, nothing half-sent."""

from __future__ import annotations

import hashlib

import httpx

from .helpers import auth, free_port, gateway_settings, running_gateway, token


async def test_streamed_bodies_and_limit(gw, project_ids):
    pid = next(project_ids)
    tok = auth(token({pid: "admin"}))
    body = bytes(range(256)) * 3000  # 768 000 bytes, under the 1 MB limit

    async def chunks(data: bytes, size: int = 50_000):
        for start in range(0, len(data), size):
            yield data[start : start + size]

    for content in (body, chunks(body)):  # with Content-Length, and chunked
        response = await gw.post(f"/api/projects/{pid}/sources", headers=tok, content=content)
        assert response.status_code == 201
        assert response.json()["body_size"] == len(body)
        assert response.json()["body_sha256"] == hashlib.sha256(body).hexdigest()

    too_big = body * 2
    declared = await gw.post(f"/api/projects/{pid}/sources", headers=tok, content=too_big)
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "payload_too_large"
    streamed = await gw.post(f"/api/projects/{pid}/sources", headers=tok, content=chunks(too_big))
    assert streamed.status_code == 413

    size = 5_000_000  # the response streams through, whatever its size
    async with gw.stream(
        "GET", f"/api/projects/{pid}/messages/export", params={"size": size}, headers=tok
    ) as response:
        assert response.status_code == 200
        received = 0
        async for chunk in response.aiter_bytes():
            received += len(chunk)
    assert received == size


async def test_an_import_upload_has_its_own_larger_limit(gw, project_ids):
    pid = next(project_ids)
    tok = auth(token({pid: "admin"}))
    export = b"e" * 1_500_000  # over the 1 MB limit, under the imports' 2 MB

    async def chunks(data: bytes, size: int = 100_000):
        for start in range(0, len(data), size):
            yield data[start : start + size]

    for content in (export, chunks(export)):  # with Content-Length, and chunked
        response = await gw.post(f"/api/projects/{pid}/imports", headers=tok, content=content)
        assert response.status_code == 201, response.text
        assert response.json()["body_sha256"] == hashlib.sha256(export).hexdigest()
    # Only POST .../imports: the same body elsewhere, or with another method, is over the limit.
    for method, path in [
        ("POST", f"/api/projects/{pid}/sources"),
        ("POST", f"/api/projects/{pid}/imports/1"),
        ("PUT", f"/api/projects/{pid}/imports"),
    ]:
        refused = await gw.request(method, path, headers=tok, content=export)
        assert refused.status_code == 413, (method, path)
        assert refused.json()["error"]["code"] == "payload_too_large"
    too_big = export * 2
    for content in (too_big, chunks(too_big)):
        refused = await gw.post(f"/api/projects/{pid}/imports", headers=tok, content=content)
        assert refused.status_code == 413
        assert refused.json()["error"]["message"] == "body over 2000000 bytes"


async def test_upstream_timeout_is_504(gw, project_ids):
    pid = next(project_ids)
    response = await gw.get(f"/api/projects/{pid}/runs/slow", headers=auth(token({pid: "pm"})))
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"


async def test_upstream_down_is_503(nats_url, js, project_ids):
    pid = next(project_ids)
    nowhere = f"http://127.0.0.1:{free_port()}"
    async with (
        running_gateway(gateway_settings(nats_url, nowhere)) as served,
        httpx.AsyncClient(base_url=served.http) as client,
    ):
        response = await client.get(
            f"/api/projects/{pid}/runs", headers=auth(token({pid: "viewer"}))
        )
    assert response.status_code == 503
    assert response.json()["error"] == {
        "code": "unavailable",
        "message": "upstream service unavailable",
        "details": None,
    }
    assert response.headers["x-request-id"]
