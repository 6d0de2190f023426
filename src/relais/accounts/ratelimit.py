"""Fixed-window request counters in the shared cache (Redis beyond one machine)."""

import hashlib

from django.core.cache import cache

from relais.audit.events import client_address


def allow(request, scope: str, limit: int, window_seconds: int = 3600) -> bool:
    """Count one hit for the request's source address; False once over `limit`."""
    source = hashlib.sha256(client_address(request).encode()).hexdigest()[:32]
    key = f"ratelimit:{scope}:{source}"
    if cache.add(key, 1, window_seconds):
        return True
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, window_seconds)
        count = 1
    return count <= limit
