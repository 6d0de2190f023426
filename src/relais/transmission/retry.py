"""Retry policy: which failures are tried again, which split the batch, which reject.

A message is rejected only on SI-DEP's verdict about that message: an AE/AR
acknowledgement, or a 413 for a batch of that one message. Such a message waits for the
pharmacist's correction. Every failure of the request as a whole is retried with the same
message (same MSH-10, so SI-DEP keeps one copy even when it stored the batch before the
failure): transport and TLS errors, timeouts, 408/425/429 (honouring Retry-After), 5xx,
unreadable acknowledgements, and any other 4xx (SI-DEP refusing the request itself is
ours or the operator's to fix, never the pharmacist's: it ends as a dead letter the
operator is alerted to). A 413 for several messages splits the batch. When a retried row
is due again (backoff with full jitter, dead letter after TRANSMISSION_MAX_ATTEMPTS) is
the queue engine's rule: relais.lib.queue.
"""

from relais.transmission import transport

RETRY = "retry"
SPLIT = "split"

# Failures tried again; anything else is a bug of ours (logged with its traceback) and
# is retried the same way.
RETRYABLE_ERRORS = (
    transport.TransportError,
    transport.ServerError,
    transport.TryLater,
    transport.AckError,
    transport.ClientError,
)


def classify(error: Exception) -> str | None:
    if isinstance(error, transport.BatchTooLarge):
        return SPLIT
    if isinstance(error, RETRYABLE_ERRORS):
        return RETRY
    return None
