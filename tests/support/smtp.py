"""A real SMTP server (aiosmtpd) on a free loopback port, keeping what it receives."""

import email
import email.policy
import threading
import time
from contextlib import contextmanager

from tests.support.ports import free_port


class SmtpInbox:
    """Messages received by the SMTP server: `messages` parsed, `raw` as received."""

    def __init__(self):
        self.port = 0
        self.messages = []
        self.raw: list[bytes] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.raw.append(envelope.content)
            self.messages.append(message)
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 5.0):
        """The first `count` messages, waiting for slow senders (background threads)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.messages) >= count, f"expected {count} e-mails, got {len(self.messages)}"
        return self.messages[:count]

    def body(self, index: int = -1) -> str:
        return self.messages[index].get_content()


@contextmanager
def smtp_inbox():
    """Runs an SMTP server on 127.0.0.1 until the block ends; yields its inbox (`.port`)."""
    from aiosmtpd.controller import Controller

    inbox = SmtpInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.port = controller.port
    try:
        yield inbox
    finally:
        controller.stop()
