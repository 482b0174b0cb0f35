"""The child objects of a SwarmTopic, as plain dicts: pure builders, one module per kind, each
taking the topic's `Inputs` (`common.py`). No API calls here; `owned.py` says which builder makes
which kind."""

from __future__ import annotations

from .common import ANNOTATION_HOST_PUBLIC_KEY, Inputs
from .configmap import swarm_configmap
from .deployment import client_deployment
from .secrets import (
    encryption_owners,
    encryption_secret,
    hosts_secret,
    identity_secret,
    identity_seeds,
    member_secret,
    seed_id_of,
)
from .service import host_service
from .statefulset import host_statefulset

__all__ = ["ANNOTATION_HOST_PUBLIC_KEY", "Inputs", "client_deployment", "encryption_owners", "encryption_secret",
           "host_service", "host_statefulset", "hosts_secret", "identity_secret",
           "identity_seeds", "member_secret", "seed_id_of", "swarm_configmap"]
