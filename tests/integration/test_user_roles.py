"""Namespace users get SwarmTopics through Kubernetes' built-in roles: the chart's ClusterRoles are
aggregated (by kube-controller-manager's clusterrole-aggregation controller) into `admin`, `edit`
and `view`, and the real API server's authorizer answers `kubectl auth can-i --as` for users bound
to those roles in one namespace. Nobody but the operator may write a topic's status: a status
writer could point the members at another base."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from integration_support import Api, wait_for
from localcluster.controlplane import BIN, ControlPlane
from localcluster.testing import kubectl

NAMESPACE = "apps"
OTHER = "elsewhere"
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
READ = {"get", "list", "watch"}
USERS = {"ada": "admin", "eddie": "edit", "vic": "view"}  # user -> built-in ClusterRole bound in NAMESPACE


def expected(role: str | None, resource: str, verb: str) -> bool:
    if role is None:
        return False
    if resource == "swarmtopics/status":
        return verb in READ  # read with the topic; written only by the operator
    return verb in READ or role in ("admin", "edit")


def can_i(plane: ControlPlane, user: str, verb: str, resource: str, namespace: str) -> bool:
    name, _, sub = resource.partition("/")
    args = ["auth", "can-i", verb, f"{name}.swarm-operator.dev", "-n", namespace, "--as", user]
    if sub:
        args.append(f"--subresource={sub}")
    proc = subprocess.run([*_kubectl_base(plane), *args], capture_output=True, text=True, timeout=60)
    answer = proc.stdout.strip()
    assert answer in ("yes", "no"), f"kubectl {' '.join(args)}: {proc.returncode} {answer!r} {proc.stderr}"
    return answer == "yes"


def _kubectl_base(plane: ControlPlane) -> list[str]:
    return [str(BIN / "kubectl"), "--kubeconfig", str(plane.kubeconfig)]


def matrix(plane: ControlPlane) -> dict[tuple[str, str, str, str], bool]:
    """(user, namespace, resource, verb) -> the server's answer, for every bound user, one unbound
    user, in the bound namespace and in another one."""
    out = {}
    for user in [*USERS, "nobody"]:
        for namespace in (NAMESPACE, OTHER):
            for resource in ("swarmtopics", "swarmtopics/status"):
                for verb in VERBS:
                    out[(user, namespace, resource, verb)] = can_i(plane, user, verb, resource, namespace)
    return out


def want(user: str, namespace: str, resource: str, verb: str) -> bool:
    return expected(USERS.get(user) if namespace == NAMESPACE else None, resource, verb)


@pytest.fixture
def bound_users(api_server: ControlPlane, api: Api) -> Iterator[None]:
    """RoleBindings of the built-in roles in `apps`, as a namespace owner hands them out."""
    if api.get(f"/api/v1/namespaces/{OTHER}") is None:
        api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OTHER}})
    for user, role in USERS.items():
        kubectl(api_server.kubeconfig, "create", "rolebinding", f"{user}-{role}", f"--clusterrole={role}",
                f"--user={user}", "-n", NAMESPACE)
    yield
    for user, role in USERS.items():
        kubectl(api_server.kubeconfig, "delete", "rolebinding", f"{user}-{role}", "-n", NAMESPACE,
                "--ignore-not-found")


def test_admin_edit_view_can_use_swarmtopics_as_the_matrix_says(api_server: ControlPlane, bound_users: None) -> None:
    # Aggregation is asynchronous: wait until the built-in roles carry the chart's rules.
    wait_for("edit aggregating the chart's rules",
             lambda: can_i(api_server, "eddie", "create", "swarmtopics", NAMESPACE), timeout=60)
    answers = matrix(api_server)
    wrong = {key: answer for key, answer in answers.items() if answer != want(*key)}
    assert not wrong, "can-i answers against the matrix (user, namespace, resource, verb): answer\n" + \
        "\n".join(f"{key}: {answer}" for key, answer in sorted(wrong.items()))
    # What the matrix promises, spelled out: edit creates, view does not, nobody writes status.
    assert answers[("eddie", NAMESPACE, "swarmtopics", "create")]
    assert answers[("ada", NAMESPACE, "swarmtopics", "delete")]
    assert answers[("vic", NAMESPACE, "swarmtopics", "list")] and not answers[("vic", NAMESPACE, "swarmtopics",
                                                                                   "create")]
    assert not any(answers[(user, NAMESPACE, "swarmtopics/status", verb)]
                   for user in USERS for verb in ("update", "patch"))


def test_an_edit_user_creates_a_topic_and_cannot_write_its_status(
        api_server: ControlPlane, api: Api, bound_users: None) -> None:
    """The answers hold for real requests: as `eddie` (edit), kubectl creates a SwarmTopic, and a
    status patch is refused by the authorizer."""
    wait_for("edit aggregating the chart's rules",
             lambda: can_i(api_server, "eddie", "create", "swarmtopics", NAMESPACE), timeout=60)
    topic = ('{"apiVersion": "swarm-operator.dev/v1beta1", "kind": "SwarmTopic", "metadata": {"name": "mine"},'
             ' "spec": {"topic": "mine"}}')
    kubectl(api_server.kubeconfig, "apply", "-n", NAMESPACE, "--as", "eddie", "-f", "-", input=topic)
    assert api.topic(NAMESPACE, "mine")["spec"]["topic"] == "mine"
    patch = '{"status": {"baseKey": "' + "ab" * 32 + '"}}'
    refused = subprocess.run([*_kubectl_base(api_server), "patch", "swarmtopic", "mine", "-n", NAMESPACE, "--as",
                              "eddie", "--subresource=status", "--type=merge", "-p", patch],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "forbidden" in refused.stderr, refused.stderr
    assert "baseKey" not in (api.topic(NAMESPACE, "mine").get("status") or {})
