"""A closed loop of concurrent HTTP clients, each sending its next request as soon as the
last one is answered, with every latency and every unexpected answer kept."""

import statistics
import threading
import time
from dataclasses import dataclass

import httpx


@dataclass
class Load:
    latencies: list[float]  # seconds, sorted
    unexpected: list  # status codes, or the names of transport errors
    wall: float  # seconds from the first request to the last answer

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def p99_ms(self) -> float:
        return self.latencies[min(len(self.latencies) - 1, int(len(self.latencies) * 0.99))] * 1000

    def unexpected_text(self) -> str:
        """How many unexpected answers, and which."""
        kinds = f" {sorted(set(map(str, self.unexpected)))}" if self.unexpected else ""
        return f"{len(self.unexpected)}{kinds}"


def closed_loop(base, clients, send, expected, seconds, budget=None, **client_options) -> Load:
    """`clients` threads, each with its own httpx client to `base`, call `send(client)` (it
    returns the response) for `seconds`, or until `budget` requests in all were sent."""
    latencies, unexpected = [], []
    lock = threading.Lock()
    remaining = [budget]
    stop_at = time.monotonic() + seconds

    def client_loop():
        with httpx.Client(base_url=base, timeout=30, **client_options) as client:
            while time.monotonic() < stop_at:
                with lock:
                    if remaining[0] == 0:
                        return
                    if remaining[0] is not None:
                        remaining[0] -= 1
                started = time.perf_counter()
                try:
                    status = send(client).status_code
                except httpx.HTTPError as error:
                    status = type(error).__name__
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if status != expected:
                        unexpected.append(status)

    started = time.perf_counter()
    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Load(sorted(latencies), unexpected, time.perf_counter() - started)
