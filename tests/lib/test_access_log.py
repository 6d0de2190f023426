"""gunicorn's access and error logs, through the shipped logger (relais.gunicorn_config):
whatever atoms a format uses, no link token, query string or credential is written."""

import datetime
import secrets
import types

from gunicorn.config import Config

from relais import gunicorn_config
from relais.lib.access_log import RedactingLogger

# Every atom that can carry a URL or a credential, in one format.
EVERY_RISKY_ATOM = (
    '"%(r)s" %(U)s %(q)s "%(f)s" "%({referer}i)s" %({raw_uri}e)s %({query_string}e)s '
    '"%({http_referer}e)s" "%({authorization}i)s" "%({cookie}i)s" "%({set-cookie}o)s" %(s)s'
)


def gunicorn_logger(tmp_path, access_format: str) -> RedactingLogger:
    config = Config()
    config.set("logger_class", gunicorn_config.logger_class)
    config.set("accesslog", str(tmp_path / "access.log"))
    config.set("errorlog", str(tmp_path / "error.log"))
    config.set("access_log_format", access_format)
    logger = config.logger_class(config)
    assert isinstance(logger, RedactingLogger)
    return logger


def one_request(logger: RedactingLogger, path: str, query: str, secret: str) -> None:
    uri = f"{path}?{query}" if query else path
    referer = f"https://relais.example/accounts/activate/?t={secret}"
    environ = {
        "REQUEST_METHOD": "GET", "RAW_URI": uri, "SERVER_PROTOCOL": "HTTP/1.1",
        "PATH_INFO": path, "QUERY_STRING": query, "REMOTE_ADDR": "192.0.2.7",
        "HTTP_REFERER": referer, "HTTP_AUTHORIZATION": f"Bearer rl_abcdefgh_{secret}",
    }  # fmt: skip
    request = types.SimpleNamespace(
        headers=[
            ("REFERER", referer),
            ("AUTHORIZATION", f"Bearer rl_abcdefgh_{secret}"),
            ("COOKIE", f"sessionid={secret}"),
        ]  # fmt: skip
    )
    response = types.SimpleNamespace(
        status="302 Found", sent=0, headers=[("Set-Cookie", f"sessionid={secret}")]
    )
    logger.access(response, request, environ, datetime.timedelta(milliseconds=3))


def test_no_atom_of_any_format_writes_a_token(tmp_path):
    logger = gunicorn_logger(tmp_path, EVERY_RISKY_ATOM)
    secrets_sent = []
    requests = [("/r/{}", ""), ("/accounts/activate/", "t={}"),
                ("/accounts/password-reset/new/", "t={}&x=1"), ("/r/{}/", "lang=fr")]  # fmt: skip
    for path, query in requests:
        secret = secrets.token_urlsafe(32)
        secrets_sent.append(secret)
        one_request(logger, path.format(secret), query.format(secret), secret)
    logger.error("Error handling request %s", f"/r/{secrets_sent[0]}?t={secrets_sent[1]}")
    for handler in [*logger.access_log.handlers, *logger.error_log.handlers]:
        handler.flush()
    written = (tmp_path / "access.log").read_text() + (tmp_path / "error.log").read_text()
    assert [secret for secret in secrets_sent if secret in written] == []
    lines = (tmp_path / "access.log").read_text().splitlines()
    assert len(lines) == 4  # every request was logged, masked
    assert lines[0].startswith('"GET /r/[link] HTTP/1.1" /r/[link] ')
    assert lines[1].startswith('"GET /accounts/activate/?[query] HTTP/1.1" /accounts/activate/ ')
    assert all(line.endswith(" 302") for line in lines)
    assert "Error handling request /r/[link]?[query]" in written


def test_the_shipped_format_logs_the_request_without_its_secret(tmp_path):
    logger = gunicorn_logger(tmp_path, gunicorn_config.access_log_format)
    secret = secrets.token_urlsafe(32)
    one_request(logger, "/accounts/password-reset/new/", f"t={secret}", secret)
    one_request(logger, "/api/v1/tests", "limit=5", secret)
    for handler in logger.access_log.handlers:
        handler.flush()
    written = (tmp_path / "access.log").read_text()
    assert secret not in written
    assert '"GET /accounts/password-reset/new/?[query] HTTP/1.1" 302' in written
    assert '"GET /api/v1/tests?[query] HTTP/1.1" 302' in written
