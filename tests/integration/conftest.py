from integration_support import api, api_server, operator  # noqa: F401 - fixtures, for pytest to find
