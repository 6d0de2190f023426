"""What transmission tells the other apps (they connect through relais.transmission.services)."""

import datetime
import uuid
from dataclasses import dataclass

from django.dispatch import Signal


@dataclass(frozen=True)
class Settled:
    """A message whose fate is known: acknowledged, rejected, or given up on (dead).
    Ids and a state only: nothing about the patient."""

    test_id: uuid.UUID
    pharmacy_id: uuid.UUID
    recorded_by_id: object  # the user who recorded the test (an API credential's own user)
    state: str
    occurred_at: datetime.datetime


# Sent inside the database transaction that records the new states (args: settled, a list
# of Settled), so that what receivers write (the API's webhook deliveries) commits or rolls
# back with them.
transmissions_settled = Signal()
