"""Real HTTP servers on 127.0.0.1 for tests: any ASGI app (Starlette, FastAPI, an MCP SDK app) under uvicorn."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve_asgi(app, *, port: int | None = None, startup_timeout: float = 10.0,
               date_header: bool = True) -> Iterator[str]:
    """Run ``app`` on 127.0.0.1 in a background thread; yields its base URL; stops it on exit.

    ``date_header=False`` when the app sends its own ``Date`` (a fake with a movable clock).
    """
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="auto",
                            date_header=date_header)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"test server on port {port} did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
