"""The StatefulSet and Deployment controllers, reduced to what the operator's children need.

Both create pods from their template (owned by them, so garbage collection removes them), replace
pods whose template changed, scale up and down, and report replicas/readyReplicas/
updatedReplicas/availableReplicas/observedGeneration. StatefulSets also create the PVCs of their
volumeClaimTemplates (protected by a finalizer while a pod uses them) and honour
`persistentVolumeClaimRetentionPolicy.whenDeleted`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
from typing import Any

from .store import ApiError, ResourceType, Store

HASH_LABEL = "pod-template-hash"
REVISION_LABEL = "controller-revision-hash"
PVC_PROTECTION = "kubernetes.io/pvc-protection"


def template_hash(template: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def pod_ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions", []))


def owner_ref(owner: dict[str, Any], kind: str, api_version: str) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def owned_by(obj: dict[str, Any], owner: dict[str, Any]) -> bool:
    return any(r.get("uid") == owner["metadata"]["uid"] for r in obj["metadata"].get("ownerReferences") or [])


class Controllers:
    def __init__(self, store: Store) -> None:
        self.store = store
        t = store.types
        self.pods: ResourceType = t["/v1/pods"]
        self.pvcs: ResourceType = t["/v1/persistentvolumeclaims"]
        self.statefulsets: ResourceType = t["apps/v1/statefulsets"]
        self.deployments: ResourceType = t["apps/v1/deployments"]

    def sync(self) -> None:
        for sts in self.store.list(self.statefulsets, None, lambda o: True):
            self._sync_statefulset(sts)
        for deployment in self.store.list(self.deployments, None, lambda o: True):
            self._sync_deployment(deployment)

    def _new_pod(self, owner: dict[str, Any], kind: str, name: str, labels: dict[str, str]) -> dict[str, Any]:
        template = copy.deepcopy(owner["spec"]["template"])
        meta = template.get("metadata") or {}
        return {
            "metadata": {"name": name, "labels": {**(meta.get("labels") or {}), **labels},
                         "annotations": meta.get("annotations") or {},
                         "ownerReferences": [owner_ref(owner, kind, "apps/v1")]},
            "spec": template.get("spec") or {},
        }

    def _status(self, rtype: ResourceType, owner: dict[str, Any], pods: list[dict[str, Any]],
                current: str, label: str) -> None:
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        ready = [p for p in live if pod_ready(p)]
        updated = [p for p in live if p["metadata"]["labels"].get(label) == current]
        status = {
            "observedGeneration": owner["metadata"].get("generation", 1),
            "replicas": len(live),
            "readyReplicas": len(ready),
            "availableReplicas": len(ready),
            "updatedReplicas": len(updated),
        }
        if rtype.kind == "StatefulSet":
            status.update(currentReplicas=len(updated), currentRevision=current, updateRevision=current)
        if {k: (owner.get("status") or {}).get(k) for k in status} != status:
            meta = owner["metadata"]
            try:
                self.store.patch(rtype, meta["namespace"], meta["name"], "application/merge-patch+json",
                                 {"status": status}, "status")
            except ApiError:
                pass  # gone or changed meanwhile: the next pass recomputes

    def _owned_pods(self, owner: dict[str, Any]) -> list[dict[str, Any]]:
        ns = owner["metadata"]["namespace"]
        return [p for p in self.store.list(self.pods, ns, lambda o: True) if owned_by(p, owner)]

    def _sync_statefulset(self, sts: dict[str, Any]) -> None:
        meta, spec = sts["metadata"], sts["spec"]
        if meta.get("deletionTimestamp"):
            return
        ns, name = meta["namespace"], meta["name"]
        replicas = int(spec.get("replicas", 1))
        revision = f"{name}-{template_hash(spec['template'])}"
        pods = {p["metadata"]["name"]: p for p in self._owned_pods(sts)}
        existing = {p["metadata"]["name"] for p in self.store.list(self.pods, ns, lambda o: True)}
        for ordinal in range(replicas):
            pod_name = f"{name}-{ordinal}"
            pod = pods.get(pod_name)
            if pod is not None:
                if pod["metadata"]["labels"].get(REVISION_LABEL) != revision and not pod["metadata"].get(
                        "deletionTimestamp"):
                    self._delete_pod(ns, pod_name)  # replaced by the new revision once it is gone
                continue
            if pod_name in existing:
                continue  # a pod of that name not owned by us (or still terminating)
            if not self._claims_ready(sts, ordinal):
                continue
            pod = self._new_pod(sts, "StatefulSet", pod_name, {
                REVISION_LABEL: revision, "statefulset.kubernetes.io/pod-name": pod_name})
            pod["spec"]["hostname"] = pod_name
            pod["spec"]["subdomain"] = spec.get("serviceName", "")
            volumes = [v for v in pod["spec"].get("volumes", [])]
            for claim in spec.get("volumeClaimTemplates", []):
                claim_name = claim["metadata"]["name"]
                volumes = [v for v in volumes if v["name"] != claim_name]
                volumes.append({"name": claim_name,
                                "persistentVolumeClaim": {"claimName": f"{claim_name}-{name}-{ordinal}"}})
            pod["spec"]["volumes"] = volumes
            self._create(self.pods, ns, pod)
        for pod_name, pod in pods.items():
            ordinal = pod_name.rsplit("-", 1)[-1]
            if ordinal.isdigit() and int(ordinal) >= replicas and not pod["metadata"].get("deletionTimestamp"):
                self._delete_pod(ns, pod_name)
        self._status(self.statefulsets, sts, list(self._owned_pods(sts)), revision, REVISION_LABEL)

    def _claims_ready(self, sts: dict[str, Any], ordinal: int) -> bool:
        """Create missing PVCs; a pod waits while one of its claims is still being deleted."""
        meta, spec = sts["metadata"], sts["spec"]
        ns, name = meta["namespace"], meta["name"]
        ready = True
        for claim in spec.get("volumeClaimTemplates", []):
            claim_name = f"{claim['metadata']['name']}-{name}-{ordinal}"
            try:
                existing = self.store.get(self.pvcs, ns, claim_name)
            except ApiError:
                existing = None
            if existing is not None:
                ready = ready and not existing["metadata"].get("deletionTimestamp")
                continue
            pvc = {"metadata": {"name": claim_name, "labels": (claim.get("metadata") or {}).get("labels") or {},
                                "finalizers": [PVC_PROTECTION]},
                   "spec": copy.deepcopy(claim.get("spec") or {})}
            policy = (spec.get("persistentVolumeClaimRetentionPolicy") or {}).get("whenDeleted", "Retain")
            if policy == "Delete":
                pvc["metadata"]["ownerReferences"] = [owner_ref(sts, "StatefulSet", "apps/v1")]
            self._create(self.pvcs, ns, pvc)
            created = self.store.get(self.pvcs, ns, claim_name)
            self.store.patch(self.pvcs, ns, claim_name, "application/merge-patch+json",
                             {"status": {"phase": "Bound", "accessModes": pvc["spec"].get("accessModes", []),
                                         "capacity": ((pvc["spec"].get("resources") or {}).get("requests") or {})}},
                             "status")
            del created
        return ready

    def _sync_deployment(self, deployment: dict[str, Any]) -> None:
        meta, spec = deployment["metadata"], deployment["spec"]
        if meta.get("deletionTimestamp"):
            return
        ns, name = meta["namespace"], meta["name"]
        replicas = int(spec.get("replicas", 1))
        current = template_hash(spec["template"])
        pods = [p for p in self._owned_pods(deployment) if not p["metadata"].get("deletionTimestamp")]
        new = [p for p in pods if p["metadata"]["labels"].get(HASH_LABEL) == current]
        old = [p for p in pods if p["metadata"]["labels"].get(HASH_LABEL) != current]
        for pod in old:  # Recreate-like: old pods go at once, new ones start below
            self._delete_pod(ns, pod["metadata"]["name"])
        for _ in range(replicas - len(new)):
            pod_name = f"{name}-{current}-{secrets.token_hex(3)[:5]}"
            self._create(self.pods, ns, self._new_pod(deployment, "Deployment", pod_name, {HASH_LABEL: current}))
        if len(new) > replicas:
            # Scale down: not-ready pods first, then the newest.
            victims = sorted(new, key=lambda p: (pod_ready(p), p["metadata"]["creationTimestamp"],
                                                 p["metadata"]["name"]))
            for pod in victims[: len(new) - replicas]:
                self._delete_pod(ns, pod["metadata"]["name"])
        self._status(self.deployments, deployment, self._owned_pods(deployment), current, HASH_LABEL)

    def _create(self, rtype: ResourceType, ns: str, obj: dict[str, Any]) -> None:
        try:
            self.store.create(rtype, ns, obj)
        except ApiError as exc:
            if exc.code not in (404, 409):
                raise

    def _delete_pod(self, ns: str, name: str) -> None:
        try:
            current = self.store.get(self.pods, ns, name)
            self.store.delete(self.pods, ns, name, graceful=bool(current["spec"].get("nodeName")))
        except ApiError:
            pass
