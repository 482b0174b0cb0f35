from unit_support import topic  # noqa: F401 - the fixture, for pytest to find
