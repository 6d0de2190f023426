"""gunicorn's logger for Relais: no secret of a URL reaches the access or error log.

Activation and password-reset links carry their token in the query string, result links
in the path (`/r/<token>`); a log line holding one would let its reader open the link.
This logger masks both in every atom an access-log format may use (request line, path,
query, Referer, any header or environ variable; credential headers whole), then filters
each finished line of both logs again (UrlSecretFilter), so an operator's own
`--access-logformat` stays safe too.
"""

from gunicorn import glogging  # type: ignore[import-untyped]  # no stubs in the lock

from relais.lib.logging import MASK, QUERY_MASK, UrlSecretFilter, scrub_urls

# Atoms that hold credentials whatever the URL: API bearer tokens, session cookies.
CREDENTIAL_ATOMS = ("authorization", "cookie", "set-cookie", "proxy-authorization")


class RedactingLogger(glogging.Logger):
    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, UrlSecretFilter) for f in log.filters):
                log.addFilter(UrlSecretFilter())

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        masked = {
            name: scrub_urls(value) if isinstance(value, str) else value
            for name, value in atoms.items()
        }
        # The query string alone (%(q)s, {query_string}e) has no "?" to be found by.
        for name in ("q", "{query_string}e"):
            if masked.get(name):
                masked[name] = QUERY_MASK
        for header in CREDENTIAL_ATOMS:
            environ_name = "{http_" + header.replace("-", "_") + "}e"
            for name in ("{" + header + "}i", "{" + header + "}o", environ_name):
                if name in masked:
                    masked[name] = MASK
        return masked
