"""Fixtures of the fault tests: thin wrappers around tests/support/instances.py."""

import pytest

from tests.support.instances import MIGRATED_TEMPLATE, private_postgres


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    """A private PostgreSQL cluster whose database MIGRATED_TEMPLATE is migrated once; a
    module clones it (`postgres.clone(MIGRATED_TEMPLATE, name)`) and may stop, restart or
    freeze the cluster, as long as it leaves it running for the next one."""
    with private_postgres() as instance:
        instance.migrate(MIGRATED_TEMPLATE, tmp_path_factory.mktemp("template-var"))
        yield instance
