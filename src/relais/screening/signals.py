from django.dispatch import Signal

# Sent inside the database transaction that saves a validated test (args: test),
# so that receivers (the transmission outbox) commit or roll back with it.
test_validated = Signal()

# Sent inside the transaction that corrects a test's data (args: test).
test_corrected = Signal()

# Sent inside the transaction that cancels a test (args: test, reason).
test_cancelled = Signal()
