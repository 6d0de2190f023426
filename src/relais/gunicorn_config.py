"""gunicorn's settings for Relais: `gunicorn -c python:relais.gunicorn_config relais.wsgi`
(`relais demo` runs the same; production adds `--bind` and `--workers`).

The access log goes to standard output, one line per request, without any link token or
query string (see relais.lib.access_log): the method, the path with `/r/<token>` shown
as `/r/[link]`, the status, the size and the time taken.
"""

logger_class = "relais.lib.access_log.RedactingLogger"
accesslog = "-"
access_log_format = '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms'

# gunicorn's maximum (its default is 4094): a longer URL than the application's limit
# (relais.api.middleware.MAX_URL_BYTES) reaches Django, which answers a problem under
# /api/ instead of gunicorn's HTML error page.
limit_request_line = 8190
