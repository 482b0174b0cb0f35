from integration_support import api, api_server, operator, operator_kubeconfig_path, without_policy  # noqa: F401 - fixtures
