import pytest

from smtpsink import SmtpSinkContainer


@pytest.fixture(scope="session")
def sink():
    """ONE smtpsink container for the whole session; tests isolate themselves
    by using their own recipient addresses and filtering on them."""
    with SmtpSinkContainer() as c:
        yield c
