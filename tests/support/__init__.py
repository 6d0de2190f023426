"""What tests and benchmarks share: free ports, the processes they start (gunicorn, the
SI-DEP simulator, workers), throwaway PostgreSQL databases, an SMTP inbox, and factories
of everything they create. Nothing here is a fixture: conftest.py files wrap these."""
