"""Moved to relais.transmission.services, the module other apps call.

screening.views and api.v1 still import these names from here; once they import them from
services, this file goes.
"""

from relais.transmission.services import describe, with_transmissions  # noqa: F401
