"""``GET /metrics``: the server's counters in Prometheus' text format (prometheus-client).

Each app has its own registry, so several apps in one process (tests, a user's service that
mounts two models) never share or clash over metric names. With ``--workers N`` every worker
process counts its own requests; scrape each, or run one worker per container.
"""

from __future__ import annotations

from typing import Any

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)


class Metrics:
    """The serving metrics of one app."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        kw: dict[str, Any] = {"registry": self.registry}
        self.requests = Counter("gittrack_serve_requests", "Scoring requests answered, by HTTP "
                                "status and the model version that answered.",
                                ["status", "version"], **kw)
        self.errors = Counter("gittrack_serve_errors", "Scoring requests that failed, by MLflow "
                              "error code.", ["error_code"], **kw)
        self.latency = Histogram("gittrack_serve_request_seconds", "Time from a scoring request's "
                                 "arrival to its answer.", buckets=LATENCY_BUCKETS, **kw)
        self.batch_rows = Histogram("gittrack_serve_batch_rows", "Rows per predict call "
                                    "(micro-batching merges concurrent requests).",
                                    buckets=ROW_BUCKETS, **kw)
        self.queued = Gauge("gittrack_serve_queued_rows", "Rows of requests waiting for a "
                            "predict call.", **kw)
        self.version = Gauge("gittrack_serve_model_version", "The registry version being served "
                             "(0 when the URI is not a registry version).", ["model_uri"], **kw)
        self.swaps = Gauge("gittrack_serve_model_swaps", "Versions swapped in since start "
                           "(promotions and rollbacks followed).", **kw)
        self.load_failures = Gauge("gittrack_serve_model_load_failures", "Versions refused since "
                                   "start (failed to load or to predict their input example).",
                                   **kw)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
