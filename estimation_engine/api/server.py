"""Running the app under uvicorn: bind, serve, shut down gracefully, exit with a meaningful code.

uvicorn handles SIGTERM/SIGINT by closing the listening socket, letting in-flight requests finish (up to
``ENGINE_SHUTDOWN_GRACE_SECONDS``) and then running the app's shutdown. uvloop and httptools are used when
installed (``uvicorn[standard]``). With ``ENGINE_ON_LOAD_FAILURE=exit`` a failed model load stops the
server the same graceful way and the process exits with EXIT_LOAD_FAILED.
"""

from __future__ import annotations

import logging
import os

import uvicorn

from estimation_engine.api.app import create_app
from estimation_engine.api.logs import configure_logging
from estimation_engine.malloc_tunables import in_force
from estimation_engine.model.model_loading import ModelLoadError
from estimation_engine.settings import EngineSettings, LoadFailurePolicy, unknown_engine_variables

EXIT_LOAD_FAILED = 3
log = logging.getLogger(__name__)


def serve(settings: EngineSettings, host: str | None = None, port: int | None = None) -> int:
    """Serve until stopped; returns the process exit code."""
    configure_logging(settings.log_level)
    log.info("malloc: %s", in_force(os.environ))
    for variable in unknown_engine_variables():
        log.warning(
            "%s is not an engine setting and is ignored (see estimation_engine/settings.py)", variable
        )
    outcome = {"exit_code": 0}
    server: uvicorn.Server | None = None

    def on_load_failure(_: ModelLoadError) -> None:
        if settings.on_load_failure is LoadFailurePolicy.EXIT and server is not None:
            outcome["exit_code"] = EXIT_LOAD_FAILED
            server.should_exit = True

    app = create_app(settings, on_load_failure=on_load_failure)
    config = uvicorn.Config(
        app,
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        lifespan="on",
        limit_concurrency=settings.max_concurrency,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )
    server = uvicorn.Server(config)
    server.run()
    if not server.started and outcome["exit_code"] == 0:
        return 1  # could not bind, or the lifespan failed: uvicorn logged why
    return outcome["exit_code"]
