"""Generic Kubernetes plumbing, below the domain (kopf's `_cogs`): the async API client
(`client.py`) and its typed errors (`errors.py`), REST paths (`paths.py`), the watch-fed cache of
one collection (`informer.py`), the keyed work queue (`workqueue.py`) and Lease leader election
(`leader.py`). Nothing here knows what a SwarmTopic is."""
