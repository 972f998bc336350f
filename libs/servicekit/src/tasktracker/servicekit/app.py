"""The FastAPI app every service builds the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.servicekit import heap
from tasktracker.servicekit.actor import ActorGuard, ActorTokenVerifier, actor_key
from tasktracker.servicekit.direct import DirectRoutes
from tasktracker.servicekit.errors import install_error_handlers
from tasktracker.servicekit.health import health_router
from tasktracker.servicekit.logs import bind_log_context
from tasktracker.servicekit.metrics import HttpMetrics, metrics_endpoint
from tasktracker.servicekit.openapi import document_validation_errors, error_responses
from tasktracker.servicekit.runtime import ServiceRuntime
from tasktracker.servicekit.tracing import FASTAPI_TELEMETRY, instrument_app


def service_app(
    title: str,
    runtime: ServiceRuntime,
    routers: Sequence[APIRouter] = (),
    open_paths: Sequence[str] = (),
    direct_routes: Sequence[APIRoute] = (),
) -> FastAPI:
    """`/metrics` is served as the health probes are, without a caller (the port is internal).
    Every route but the health probes, `/metrics` and `open_paths` needs the gateway's signed caller
    (`actor.ActorGuard`); without `internal_actor_key` the app is not built."""
    key = runtime.settings.internal_actor_key
    verifier = ActorTokenVerifier(actor_key(key.get_secret_value() if key else None))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        heap.freeze_startup_heap()
        try:
            yield
        finally:
            await runtime.stop()

    # No slash redirects: behind the gateway, a redirect would point at this service's own
    # (internal) address.
    # Operation ids are the route functions' names: what a generated client calls its methods.
    app = FastAPI(
        title=title,
        lifespan=lifespan,
        redirect_slashes=False,
        generate_unique_id_function=lambda route: route.name,
        dependencies=[Depends(bind_request_ids)],
        telemetry=FASTAPI_TELEMETRY,
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    app.include_router(health_router(runtime.readiness_checks, optional=runtime.optional_checks))
    app.add_api_route("/metrics", metrics_endpoint, include_in_schema=False)
    # The guard's 401 may answer any of these routes (an open one answers 401 itself: the
    # webhook's secret), so every route documents it.
    for router in routers:
        app.include_router(router, responses=error_responses(401))
    if direct_routes:
        app.add_middleware(DirectRoutes, routes=direct_routes)
    app.add_middleware(ActorGuard, verifier=verifier, open_paths=open_paths)
    document_validation_errors(app)
    instrument_app(app)
    # outermost: refused callers are counted too (as `unmatched`: no route was reached)
    app.add_middleware(HttpMetrics, service=runtime.settings.service_name)
    return app


async def bind_request_ids(request: Request) -> None:
    """Every log line of the request carries the gateway's request id and the path's ids
    (`project_id`, `run_id`…): the route has matched when dependencies run."""
    ids = {k: v for k, v in request.path_params.items() if k.endswith("_id")}
    bind_log_context(request_id=request.headers.get("x-request-id"), **ids)


async def get_runtime(request: Request) -> ServiceRuntime:
    # async: FastAPI runs a plain `def` dependency in its thread pool, on every request.
    return request.app.state.runtime


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session in one transaction, committed when the route returns without error."""
    runtime: ServiceRuntime = request.app.state.runtime
    async with runtime.sessions() as session, session.begin():
        yield session


Runtime = Annotated[ServiceRuntime, Depends(get_runtime)]
# scope="function": the commit happens before the response is sent, so a failed commit
# is the error the client sees, never a 2xx for a change that was rolled back.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]
