"""Certificates and keys of the local cluster, made with the `openssl` command line.

One CA signs everything (as kwok and envtest do): the API server's serving certificate and a
client certificate per identity. The ServiceAccount signing key is a separate RSA key.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

SERVICE_IP = "10.0.0.1"  # first address of --service-cluster-ip-range
DAYS = "3650"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@dataclass(frozen=True)
class Identity:
    """A client certificate: `user` (CN) in `groups` (O)."""

    name: str
    user: str
    groups: tuple[str, ...] = ()


class Pki:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.ca_crt = directory / "ca.crt"
        self.ca_key = directory / "ca.key"
        self.sa_key = directory / "sa.key"
        self.sa_pub = directory / "sa.pub"
        self.server_crt = directory / "apiserver.crt"
        self.server_key = directory / "apiserver.key"

    def create(self, server_ips: list[str]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self.ca_crt.exists():
            _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
                     "-out", "ca.crt", "-days", DAYS, "-subj", "/CN=swarm-local-ca", cwd=self.dir)
        if not self.sa_key.exists():
            _openssl("genrsa", "-out", "sa.key", "2048", cwd=self.dir)
            _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=self.dir)
        dns = ["kubernetes", "kubernetes.default", "kubernetes.default.svc",
               "kubernetes.default.svc.cluster.local", "localhost"]
        ips = ["127.0.0.1", SERVICE_IP, *server_ips]
        san = ",".join([*(f"DNS:{d}" for d in dns), *(f"IP:{i}" for i in dict.fromkeys(ips))])
        self._sign("apiserver", "/CN=kube-apiserver", san, "serverAuth")

    def serving(self, name: str, ips: list[str]) -> tuple[Path, Path]:
        """A serving certificate the CA signs for `ips` (e.g. a proxy in front of the API server,
        so a kubeconfig only changes its server URL)."""
        san = ",".join(f"IP:{i}" for i in dict.fromkeys(ips))
        self._sign(name, f"/CN={name}", san, "serverAuth")
        return self.dir / f"{name}.crt", self.dir / f"{name}.key"

    def client(self, ident: Identity) -> tuple[Path, Path]:
        subject = f"/CN={ident.user}" + "".join(f"/O={g}" for g in ident.groups)
        self._sign(ident.name, subject, None, "clientAuth")
        return self.dir / f"{ident.name}.crt", self.dir / f"{ident.name}.key"

    def _sign(self, name: str, subject: str, san: str | None, usage: str) -> None:
        ext = self.dir / f"{name}.ext"
        lines = ["basicConstraints=CA:FALSE", "keyUsage=digitalSignature,keyEncipherment",
                 f"extendedKeyUsage={usage}"]
        if san:
            lines.append(f"subjectAltName={san}")
        ext.write_text("\n".join(lines) + "\n")
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                 f"{name}.csr", "-subj", subject, cwd=self.dir)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.crt", "-days", DAYS, "-extfile", ext.name,
                 cwd=self.dir)


def kubeconfig(path: Path, server: str, ca: Path, crt: Path, key: Path, user: str) -> Path:
    """A kubeconfig for one client certificate (paths, not embedded data: test tooling only)."""
    import yaml

    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "local",
        "clusters": [{"name": "local", "cluster": {"server": server,
                                                    "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {"client-certificate": str(crt),
                                           "client-key": str(key)}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": user}}],
    }
    path.write_text(yaml.safe_dump(doc))
    return path
