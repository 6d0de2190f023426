"""Activation, password-reset and result links carry a secret token. Followed for real
against the live server, each must leave the address at once (a redirect to a token-free
page, no Referer from either page), and gunicorn's access log (the shipped command's
own) must hold no token afterwards: an activation was once completed from a log."""

import email
import email.policy
import re
import time

from tests.support.live import PYTHON, finish, start

IN_THE_LOG = "link tokens in the web server's access log"
IN_THE_ADDRESS = "link tokens kept in the address bar or sent as Referer"
ACCOUNT_LINK = re.compile(r"https?://\S+?(/accounts/[\w/-]+/\?t=([A-Za-z0-9_-]+))")
SOURCE = "127.0.0.40"
LOG_DEADLINE_SECONDS = 5


def creating_platform_admin(live):
    """`relais create-platform-admin`, started (it prints an activation link)."""
    return start([PYTHON, "-m", "relais", "create-platform-admin", "tokens-in-logs@attack.test",
                  "--name", "Admin Logs"], live.env, live.root / "run")  # fmt: skip


def activation_link(command) -> tuple[str, str]:
    match = ACCOUNT_LINK.search(finish(command))
    assert match, "the command printed no activation link"
    return match.group(1), match.group(2)


def reset_link(live, browser) -> tuple[str, str]:
    """A password-reset link, asked for on the page and read from the e-mail sent."""
    address = live.user("a_spare3")["email"]
    before = len(live.inbox.raw)
    response = browser.post_form("/accounts/password-reset/", {"email": address})
    assert response.status_code == 302, response.status_code
    live.send_queued_email()
    # The newest e-mail to that address: earlier attacks may have left reset e-mails to
    # it in the queue (each new request supersedes their links), sent by these rounds too.
    for raw in reversed(live.inbox.raw[before:]):
        message = email.message_from_bytes(raw, policy=email.policy.default)
        if message["To"] == address:
            match = ACCOUNT_LINK.search(message.get_body(("plain",)).get_content())
            assert match, "the reset e-mail holds no link"
            return match.group(1), match.group(2)
    raise AssertionError("no reset e-mail was sent")


def follow(live, attacks, browser, path: str, token: str):
    """Follow a link as a browser does; the address it ends at, and both pages' answers."""
    link = browser.get(path)
    assert link.status_code == 302, f"{path[:20]}…: {link.status_code}"
    page = browser.get(link.headers["location"])
    assert page.status_code == 200, f"{link.headers['location']}: {page.status_code}"
    attacks.attempt(IN_THE_ADDRESS, token in link.headers["location"], "redirected with it")
    attacks.attempt(IN_THE_ADDRESS, token in page.text, "the page repeats it (form action)")
    policy = link.headers.get("referrer-policy")
    attacks.attempt(IN_THE_ADDRESS, policy != "no-referrer", f"the link's answer: {policy}")
    # The token-free page may name itself to Relais (its forms need an Origin), no further.
    policy = page.headers.get("referrer-policy")
    leaves = policy not in ("no-referrer", "same-origin")
    attacks.attempt(IN_THE_ADDRESS, leaves, f"the page's Referrer-Policy: {policy}")
    return page


def test_followed_links_leave_no_token_in_the_address_or_the_access_log(live, attacks):
    browser = live.browser(SOURCE)
    command = creating_platform_admin(live)  # meanwhile, the reset e-mail
    reset_path, reset_token = reset_link(live, browser)
    activation_path, activation_token = activation_link(command)
    result_token = live.seeded["links"]["b1"]
    followed = {
        "activation": (activation_path, activation_token),
        "reset": (reset_path, reset_token),
        "result": (f"/r/{result_token}", result_token),
    }
    for path, token in followed.values():
        follow(live, attacks, live.browser(SOURCE), path, token)
    # The result link opens with the birth date, from the token-free page.
    patient = live.browser(SOURCE)
    patient.follow_result_link(result_token)
    opened = patient.send_birth_date(live.personal_data[2]["birth_date"])
    assert opened.status_code == 302 and opened.headers["location"] == "/r/result/"
    assert patient.get("/r/result/").status_code == 200
    # gunicorn's output (the access log) logged each request, with its token masked.
    log = live.log_files[0]
    expected = ("/r/[link]", "/accounts/activate/?[query]", "/accounts/password-reset/new/?[query]")
    deadline = time.monotonic() + LOG_DEADLINE_SECONDS
    while not all(line.encode() in log.read_bytes() for line in expected):
        assert time.monotonic() < deadline, f"the access log misses one of {expected}"
        time.sleep(0.1)
    content = log.read_bytes()
    for kind, (_, token) in followed.items():
        attacks.attempt(IN_THE_LOG, token.encode() in content, f"the {kind} token is logged")
    attacks.assert_none(IN_THE_ADDRESS)
    attacks.assert_none(IN_THE_LOG)
