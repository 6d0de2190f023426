from django.dispatch import Signal

# Sent inside the database transaction that saves validated tests (args: tests, a list:
# one test from the web form, many from a file), so that receivers (the transmission
# outbox, the result links) commit or roll back with them.
tests_validated = Signal()

# Sent inside the transaction that corrects a test's data (args: test).
test_corrected = Signal()

# Sent inside the transaction that cancels a test (args: test, reason).
test_cancelled = Signal()

# Sent inside the transaction that changes a patient's identity or contact details
# (args: patient, fields): every result of theirs SI-DEP may hold must follow.
patient_corrected = Signal()

# Sent inside the transaction that erases purged patients' identity (args: patient_ids),
# so that what other apps keep about those patients' tests goes with it.
patients_purged = Signal()
