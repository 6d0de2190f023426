"""Sessions in the database, written when they change, not on every page.

A session ends SESSION_COOKIE_AGE (RELAIS_SESSION_IDLE_MINUTES) after it was last
written: its row's `expire_date`, which every load checks (the cookie itself lasts
until the browser closes). Writing it on every request kept that date exact, at the
cost of an UPDATE and a durable commit per page. Here a session is written when its
data changed, or when a request finds it last written more than REFRESH_FRACTION of
the idle time ago. So an idle session still ends at most SESSION_COOKIE_AGE after the
last request, never later; it may end earlier, by less than REFRESH_FRACTION of it
(a minute at the default 15). `seconds_left` tells the page when, for its warning.

Changing the key (login, a patient's right date of birth) writes the session once, at
the end of the request, under a key chosen at once (the login's session index needs
it), instead of once at the change and again at the end.

Removing a member still ends their sessions at once (relais.accounts.acting.end_sessions
deletes the rows; a session without its row is empty at its next request).
"""

import datetime

from django.contrib.sessions.backends import db
from django.db import router
from django.utils import timezone
from django.utils.crypto import get_random_string

# Of the idle time: how long after its last write a session is written again.
REFRESH_FRACTION = 1 / 15
KEY_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"


class SessionStore(db.SessionStore):
    def __init__(self, session_key=None):
        super().__init__(session_key)
        self.stored_expiry: datetime.datetime | None = None
        self.insert_on_save = False

    def load(self):
        stored = self._get_session_from_db()  # type: ignore[attr-defined]  # not in the stubs
        if stored is None:
            return {}
        self.stored_expiry = stored.expire_date
        if self.refresh_due():
            self.modified = True
        return self.decode(stored.session_data)

    def refresh_due(self) -> bool:
        """Written long enough ago, or ending later than the idle time now allows (it was
        lowered since: it applies from the next request, as it did when every request
        wrote the session)."""
        if self.stored_expiry is None:
            return False
        age = datetime.timedelta(seconds=self.get_session_cookie_age())
        left = self.stored_expiry - timezone.now()
        return left > age or age - left > age * REFRESH_FRACTION

    def seconds_left(self) -> int:
        """Seconds until this session ends if no request comes: the full idle time when
        this request writes it."""
        if self.modified or self.stored_expiry is None:
            return self.get_session_cookie_age()
        return max(1, int((self.stored_expiry - timezone.now()).total_seconds()))

    def _get_new_session_key(self) -> str:
        # No look-up first: a taken key (32 random characters) fails the INSERT, which
        # create() then retries with another.
        return get_random_string(32, KEY_CHARS)

    def cycle_key(self) -> None:
        """A new key now, written once with the session's data when the request ends;
        the old one is deleted at once."""
        data = self._session  # type: ignore[attr-defined]  # not in the stubs
        old_key = self.session_key
        self._session_key = self._get_new_session_key()
        self._session_cache = data
        self.insert_on_save = True
        self.modified = True
        if old_key:
            self.delete(old_key)

    def delete(self, session_key: str | None = None) -> None:
        """One DELETE: Django's get() then delete() reads the row first, and a queryset's
        delete() wraps it in a transaction of its own (a session row has no dependants)."""
        key = session_key or self.session_key
        if key is not None:
            sessions = self.model.objects.filter(session_key=key)
            sessions._raw_delete(router.db_for_write(self.model))

    def save(self, must_create: bool = False) -> None:
        if self.insert_on_save and self.session_key is not None:
            super().save(must_create=True)
            self.insert_on_save = False
            return
        super().save(must_create=must_create)
