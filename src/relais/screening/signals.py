from django.dispatch import Signal

# Sent inside the database transaction that saves a validated test (args: test),
# so that receivers (the transmission outbox) commit or roll back with it.
test_validated = Signal()
