"""swarm-operator: bootstraps Hyperswarm/Autobase topics on Kubernetes in the right order."""

__version__ = "0.2.0"
