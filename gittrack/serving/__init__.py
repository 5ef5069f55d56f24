"""Model serving: ``gittrack serve`` and ``gittrack predict`` (MLflow's scoring protocol).

``gittrack.serving.app("models:/forecaster/prod")`` returns the ASGI app (Starlette) to run
with uvicorn or to mount in your own service; a stage URI is followed as tags change.
"""

from __future__ import annotations

from typing import Any


def app(model_uri: str, **options: Any) -> Any:
    """The scoring app (ASGI) for a model URI: ``/invocations``, ``/ping``, ``/health``,
    ``/version``, ``/metrics``. Options as ``gittrack serve``'s: ``repo``, ``poll_interval``,
    ``batching``, ``max_batch_rows``, ``predict_threads``, ``log_requests``, ...

    >>> app = gittrack.serving.app("models:/forecaster/prod", log_requests="logs/")
    >>> uvicorn.run(app, host="127.0.0.1", port=5001)
    """
    from gittrack.serving import server  # lazy: starlette and pandas only for a server


    return server.create_app(model_uri, server.Options(**options))
