"""Request metrics by endpoint: how many, by status, and latency over each endpoint's recent
requests. Counted in an ASGI middleware around everything, so refusals count too.

The figures live on the event loop's thread (the middleware runs there), and `snapshot` must be
called there too (an `async` route), so no lock is needed.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from datetime import UTC, datetime

import numpy as np
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WINDOW = 2048  # latencies kept per endpoint
UNMATCHED = "unmatched"  # requests no route takes: one bucket, so made-up paths cannot grow the table


class Endpoint:
    def __init__(self):
        self.count = 0
        self.by_status = Counter()
        self.latencies = deque(maxlen=WINDOW)


class RequestMetrics:
    def __init__(self):
        self.since = datetime.now(UTC).isoformat(timespec="seconds")
        self.endpoints: dict[str, Endpoint] = {}

    def record(self, endpoint: str, status: int, seconds: float) -> None:
        entry = self.endpoints.setdefault(endpoint, Endpoint())
        entry.count += 1
        entry.by_status[str(status)] += 1
        entry.latencies.append(seconds * 1000)

    def snapshot(self) -> dict:
        endpoints = []
        for name, entry in sorted(self.endpoints.items()):
            ms = np.fromiter(entry.latencies, dtype=np.float64)
            p50, p90, p99 = np.percentile(ms, [50, 90, 99]) if len(ms) else (0.0, 0.0, 0.0)
            endpoints.append({"endpoint": name, "count": entry.count, "by_status": dict(entry.by_status),
                              "window": len(ms), "latency_ms": {
                                  "mean": round(float(ms.mean()) if len(ms) else 0.0, 3), "p50": round(float(p50), 3),
                                  "p90": round(float(p90), 3), "p99": round(float(p99), 3),
                                  "max": round(float(ms.max()) if len(ms) else 0.0, 3)}})
        return {"since": self.since, "requests": sum(e.count for e in self.endpoints.values()), "endpoints": endpoints}


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: RequestMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_counting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counting)
        finally:
            self.metrics.record(endpoint_of(scope), status, time.perf_counter() - started)


def endpoint_of(scope: Scope) -> str:
    """'METHOD /path/{template}' of the route that answered; UNMATCHED for no route, or for a method
    the route does not take (a client may send any method name: they must not grow the table)."""
    route = scope.get("route")
    if route is None or scope["method"] not in (getattr(route, "methods", None) or ()):
        return UNMATCHED
    return f"{scope['method']} {route.path}"
