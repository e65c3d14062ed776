import os

import pytest

from smtpsink import SmtpSinkContainer

# runs inner pytest sessions (tests/test_pytest_plugin.py)
pytest_plugins = ["pytester"]


def run_labels():
    """dev.smtpsink.run=$SMTPSINK_CI_RUN when .ci/lib.sh runs the tests: the
    label by which that CI run removes its containers (and only its own)."""
    run = os.environ.get("SMTPSINK_CI_RUN")
    return {"dev.smtpsink.run": run} if run else {}


@pytest.fixture(scope="session")
def sink():
    """ONE smtpsink container for the whole session; tests isolate themselves
    by using their own recipient addresses and filtering on them."""
    with SmtpSinkContainer(labels=run_labels()) as c:
        yield c
