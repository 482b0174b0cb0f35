"""What a SwarmTopic's pod templates may do: what their author could do with a Deployment of their own
in that namespace, under the restricted Pod Security profile, and no more (docs/security.md).

The same rules are the chart's ValidatingAdmissionPolicy (`templates/admission-policy.yaml`, CEL,
decided by the API server before the operator sees the topic); here they are checked again by the
operator, for clusters without the policy. A template that breaks one is `InvalidSpec`, with a
message naming the field, and nothing is created.

- **Not the operator's rights**: no topic in the operator's own namespace unless the chart allows
  it (`topics.allowInOperatorNamespace`), and no pod of a topic as the operator's ServiceAccount.
- **Not another topic's Secrets**: no template names a Secret named like a topic's
  (`*-identity`, `*-member`, `*-encryption`, `*-hosts`) in a volume (plain or projected), an env
  `secretKeyRef` or an `envFrom`: the operator gives each pod its own topic's Secrets itself. Only
  the host container reads the host's Secret volumes (not an initContainer of the host template).
- **Restricted Pod Security**: no host namespaces, host ports, privileged containers, privilege
  escalation, root, added capabilities (NET_BIND_SERVICE aside), unconfined seccomp/AppArmor,
  other SELinux types, unsafe sysctls, unmasked /proc or volume types beyond the restricted set.
  The operator fills in what a template leaves unset (`restricted_defaults`); what it sets
  against the profile is refused. Namespaces the chart names (`topics.podSecurityExemptNamespaces`)
  are trusted: their templates are not held to the profile (the rules above still hold).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from . import names
from .models import SwarmTopicSpec

Obj = dict[str, Any]

# The restricted profile's lists (Kubernetes' Pod Security Standards, v1.35).
ALLOWED_VOLUMES = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                             "projected", "secret"})
ALLOWED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes"})
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
# The host's Secret volumes: only the operator's host container mounts them.
HOST_SECRET_VOLUMES = (names.IDENTITY_VOLUME, names.MEMBER_VOLUME, names.ENCRYPTION_VOLUME, names.HOSTS_VOLUME)
MAX_SHOWN = 4  # violations named in one message


@dataclass(frozen=True)
class TopicRules:
    """Where topics may be and whose rights their pods may not take (the chart's values)."""

    operator_namespace: str | None = None  # the operator's own namespace (None: unknown)
    operator_service_account: str | None = None  # the operator's ServiceAccount there
    allow_operator_namespace: bool = False  # topics in the operator's namespace (the chart says so)
    exempt_namespaces: frozenset[str] = field(default_factory=frozenset)  # not held to the restricted profile


def topic_secret(secret: str) -> bool:
    """Whether a Secret name is one a SwarmTopic's Secrets take (any topic's)."""
    return any(secret.endswith(f"-{suffix}") for suffix in names.TOPIC_SECRET_SUFFIXES)


def templates(spec: SwarmTopicSpec) -> list[tuple[str, Obj]]:
    """The topic's pod templates, with where each is in the SwarmTopic."""
    out = [(f"spec.clients[{g.name}].template", g.template) for g in spec.clients]
    return [*out, ("spec.bootstrapHost.template", spec.bootstrapHost.template)]


def containers(at: str, template: Obj) -> Iterator[tuple[str, Obj]]:
    pod = template.get("spec") or {}
    for key in CONTAINER_LISTS:
        for container in pod.get(key) or []:
            if isinstance(container, dict):
                yield f"{at}.spec.{key}[{container.get('name')}]", container


def _placement(namespace: str, rules: TopicRules) -> Iterator[str]:
    if rules.operator_namespace and namespace == rules.operator_namespace and not rules.allow_operator_namespace:
        yield (f"metadata.namespace: {namespace} is the operator's own namespace, where SwarmTopics are not made "
               "(the chart's topics.allowInOperatorNamespace)")


def _service_account(namespace: str, at: str, template: Obj, rules: TopicRules) -> Iterator[str]:
    pod = template.get("spec") or {}
    if not rules.operator_service_account or namespace != rules.operator_namespace:
        return
    for key in ("serviceAccountName", "serviceAccount"):
        if pod.get(key) == rules.operator_service_account:
            yield f"{at}.spec.{key}: {pod[key]} is the operator's ServiceAccount: a topic's pods never run as it"


def secret_references(at: str, template: Obj) -> Iterator[tuple[str, str]]:
    """(field, Secret name) for every Secret a template names: volumes (plain, projected), env, envFrom."""
    for volume in (template.get("spec") or {}).get("volumes") or []:
        where = f"{at}.spec.volumes[{volume.get('name')}]"
        if (volume.get("secret") or {}).get("secretName"):
            yield f"{where}.secret.secretName", str(volume["secret"]["secretName"])
        for source in (volume.get("projected") or {}).get("sources") or []:
            if (source.get("secret") or {}).get("name"):
                yield f"{where}.projected.sources.secret.name", str(source["secret"]["name"])
    for where, container in containers(at, template):
        for env in container.get("env") or []:
            ref = ((env.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name")
            if ref:
                yield f"{where}.env[{env.get('name')}].valueFrom.secretKeyRef.name", str(ref)
        for source in container.get("envFrom") or []:
            ref = (source.get("secretRef") or {}).get("name")
            if ref:
                yield f"{where}.envFrom.secretRef.name", str(ref)


def _topic_secrets(at: str, template: Obj) -> Iterator[str]:
    for where, secret in secret_references(at, template):
        if topic_secret(secret):
            yield (f"{where}: {secret} is named like a SwarmTopic's Secret: a topic's pods get only their own "
                   "topic's Secrets, from the operator")


def _host_volumes(template: Obj) -> Iterator[str]:
    """Containers the host template adds (initContainers) may not mount the host's Secret volumes."""
    for where, container in containers("spec.bootstrapHost.template", template):
        for mount in container.get("volumeMounts") or []:
            if mount.get("name") in HOST_SECRET_VOLUMES:
                yield f"{where}.volumeMounts[{mount['name']}]: only the host container reads the host's Secrets"


def _context(at: str, sc: Obj, container: bool) -> Iterator[str]:
    """A securityContext (pod or container) against the restricted profile."""
    if sc.get("runAsNonRoot") is False:
        yield f"{at}.runAsNonRoot: must not be false"
    if sc.get("runAsUser") == 0:
        yield f"{at}.runAsUser: must not be 0 (root)"
    if (sc.get("seccompProfile") or {}).get("type") == "Unconfined":
        yield f"{at}.seccompProfile.type: must be RuntimeDefault or Localhost"
    if (sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
        yield f"{at}.appArmorProfile.type: must not be Unconfined"
    selinux = sc.get("seLinuxOptions") or {}
    if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
        yield f"{at}.seLinuxOptions: only the container types, no user or role"
    if (sc.get("windowsOptions") or {}).get("hostProcess") is True:
        yield f"{at}.windowsOptions.hostProcess: must not be true"
    if not container:
        return
    if sc.get("privileged") is True:
        yield f"{at}.privileged: must not be true"
    if sc.get("allowPrivilegeEscalation") is True:
        yield f"{at}.allowPrivilegeEscalation: must not be true"
    caps = sc.get("capabilities") or {}
    added = [str(c) for c in caps.get("add") or [] if c not in ALLOWED_CAPABILITIES]
    if added:
        yield f"{at}.capabilities.add: {', '.join(added)} may not be added (only NET_BIND_SERVICE)"
    if caps.get("drop") is not None and "ALL" not in caps["drop"]:
        yield f"{at}.capabilities.drop: must include ALL"
    if sc.get("procMount") not in (None, "Default"):
        yield f"{at}.procMount: must be Default"


def _pod(at: str, template: Obj) -> Iterator[str]:
    pod = template.get("spec") or {}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key) is True:
            yield f"{at}.spec.{key}: must not be true"
    sc = pod.get("securityContext") or {}
    yield from _context(f"{at}.spec.securityContext", sc, container=False)
    for sysctl in sc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            yield f"{at}.spec.securityContext.sysctls[{sysctl.get('name')}]: not a safe sysctl"
    for volume in pod.get("volumes") or []:
        for kind in sorted(set(volume) - {"name"} - ALLOWED_VOLUMES):
            yield f"{at}.spec.volumes[{volume.get('name')}].{kind}: a volume type the restricted profile does not allow"
    for key, value in ((template.get("metadata") or {}).get("annotations") or {}).items():
        if key.startswith(APPARMOR_ANNOTATION) and value == "unconfined":
            yield f"{at}.metadata.annotations[{key}]: must not be unconfined"


def _restricted(at: str, template: Obj) -> Iterator[str]:
    yield from _pod(at, template)
    for where, container in containers(at, template):
        yield from _context(f"{where}.securityContext", container.get("securityContext") or {}, container=True)
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                yield f"{where}.ports[{port.get('containerPort')}].hostPort: host ports are not allowed"


def violations(namespace: str, spec: SwarmTopicSpec, rules: TopicRules) -> list[str]:
    """Everything in a topic's placement and pod templates that these rules refuse, by field."""
    found = list(_placement(namespace, rules))
    for at, template in templates(spec):
        found += _service_account(namespace, at, template, rules)
        found += _topic_secrets(at, template)
        if namespace not in rules.exempt_namespaces:
            found += (f"{v} (restricted Pod Security profile)" for v in _restricted(at, template))
    found += _host_volumes(spec.bootstrapHost.template)
    return found


def message(found: list[str]) -> str:
    shown = "; ".join(found[:MAX_SHOWN])
    return shown + (f"; and {len(found) - MAX_SHOWN} more" if len(found) > MAX_SHOWN else "")


def _contradicts_root(pod: Obj) -> bool:
    return any((c.get("securityContext") or {}).get("runAsNonRoot") is False
               or (c.get("securityContext") or {}).get("runAsUser") == 0
               for key in CONTAINER_LISTS for c in pod.get(key) or [] if isinstance(c, dict))


def restricted_defaults(pod: Obj) -> None:
    """Fill in, in place, what the restricted profile wants and a pod spec leaves unset; a default
    never contradicts what the template says (a trusted namespace's privileged container keeps its
    privilege escalation, a container running as root keeps its pod's runAsNonRoot unset)."""
    sc = pod.setdefault("securityContext", {})
    if "runAsNonRoot" not in sc and sc.get("runAsUser") != 0 and not _contradicts_root(pod):
        sc["runAsNonRoot"] = True
    sc.setdefault("seccompProfile", {"type": "RuntimeDefault"})
    for key in CONTAINER_LISTS:
        for container in pod.get(key) or []:
            if isinstance(container, dict):
                _container_defaults(container)


def _container_defaults(container: Obj) -> None:
    sc = container.setdefault("securityContext", {})
    caps = sc.setdefault("capabilities", {})
    caps.setdefault("drop", ["ALL"])
    if "allowPrivilegeEscalation" not in sc and sc.get("privileged") is not True \
            and "SYS_ADMIN" not in (caps.get("add") or []):
        sc["allowPrivilegeEscalation"] = False
