"""Retry policy: which failures are tried again and which are rejected.

Transport errors, timeouts, 5xx answers and unreadable acknowledgements are SI-DEP's
or the network's trouble: the same message is sent again later (same MSH-10, so the
receiver keeps one copy). A 4xx answer or an AE/AR acknowledgement means SI-DEP read the
message and refused it: sending it again unchanged would fail again, so it becomes
"rejected" and waits for the pharmacist's correction. When a retried row is due again
(backoff with full jitter, dead letter after TRANSMISSION_MAX_ATTEMPTS) is the queue
engine's rule: relais.lib.queue.
"""

from relais.transmission import transport

RETRY = "retry"
REJECT = "reject"

# Failures tried again; anything else is a bug of ours and propagates (the row's lease
# then expires and it is tried again, counted as an attempt).
RETRYABLE_ERRORS = (transport.TransportError, transport.ServerError, transport.AckError)
REJECTING_ERRORS = (transport.ClientError,)


def classify(error: Exception) -> str | None:
    if isinstance(error, REJECTING_ERRORS):
        return REJECT
    if isinstance(error, RETRYABLE_ERRORS):
        return RETRY
    return None
