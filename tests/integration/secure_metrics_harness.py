"""Accounts, RBAC and certificates for tests of the exporter's secured /metrics.

- `secure_accounts` makes ServiceAccounts in a test namespace with TokenRequest tokens:
  `prometheus` bound to a `/metrics` get rule, `stranger` with no rights, and two exporter
  identities (with and without the review rights), as kubeconfigs.
- `Authority` is a throwaway CA issuing server certificates for 127.0.0.1, written the
  way a Secret volume swaps files.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes import client

RAY_READ = client.V1PolicyRule(
    api_groups=["ray.io"],
    resources=["rayclusters", "rayjobs", "rayservices"],
    verbs=["get", "list", "watch"],
)
REVIEWS = [
    client.V1PolicyRule(
        api_groups=["authentication.k8s.io"], resources=["tokenreviews"], verbs=["create"]
    ),
    client.V1PolicyRule(
        api_groups=["authorization.k8s.io"], resources=["subjectaccessreviews"], verbs=["create"]
    ),
]
METRICS_READER = client.V1PolicyRule(non_resource_urls=["/metrics"], verbs=["get"])


@dataclass
class Accounts:
    """Tokens of the scrapers and a kubeconfig per exporter identity."""

    namespace: str
    reader: str  # bound to the /metrics reader ClusterRole
    stranger: str  # authenticated, no RBAC
    exporter_kubeconfig: Path  # ray.io reads and the review rights
    no_reviews_kubeconfig: Path  # ray.io reads only


class Rbac:
    """Cluster-scoped roles and bindings named after the test's namespace, removed at the end."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.rbac = client.RbacAuthorizationV1Api(api)
        self.namespace = namespace
        self.names: list[str] = []

    def grant(self, account: str, rules: list[client.V1PolicyRule]) -> None:
        name = f"{self.namespace}-{account}"
        self.rbac.create_cluster_role(
            client.V1ClusterRole(metadata=client.V1ObjectMeta(name=name), rules=rules)
        )
        self.names.append(name)
        self.rbac.create_cluster_role_binding(
            client.V1ClusterRoleBinding(
                metadata=client.V1ObjectMeta(name=name),
                role_ref=client.V1RoleRef(
                    api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=name
                ),
                subjects=[
                    client.RbacV1Subject(
                        kind="ServiceAccount", name=account, namespace=self.namespace
                    )
                ],
            )
        )

    def remove(self) -> None:
        for name in self.names:
            self.rbac.delete_cluster_role_binding(name)
            self.rbac.delete_cluster_role(name)


def service_account_token(api: client.ApiClient, namespace: str, account: str) -> str:
    core = client.CoreV1Api(api)
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=account))
    )
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
    )
    token = core.create_namespaced_service_account_token(account, namespace, request)
    assert token.status is not None
    return str(token.status.token)


def token_kubeconfig(admin: str, token: str, path: Path) -> Path:
    data = yaml.safe_load(Path(admin).read_text())
    data["users"] = [{"name": "exporter", "user": {"token": token}}]
    for context in data["contexts"]:
        context["context"]["user"] = "exporter"
    path.write_text(yaml.safe_dump(data))
    path.chmod(0o600)
    return path


@contextlib.contextmanager
def secure_accounts(
    api_client: client.ApiClient, kubeconfig: str, namespace: str, tmp_path: Path
) -> Iterator[Accounts]:
    """ServiceAccounts in `namespace` with tokens, their ClusterRoles removed afterwards."""
    rbac = Rbac(api_client, namespace)
    tokens = {
        name: service_account_token(api_client, namespace, name)
        for name in ("prometheus", "stranger", "exporter", "exporter-no-reviews")
    }
    try:
        rbac.grant("prometheus", [METRICS_READER])
        rbac.grant("exporter", [RAY_READ, *REVIEWS])
        rbac.grant("exporter-no-reviews", [RAY_READ])
        yield Accounts(
            namespace,
            reader=tokens["prometheus"],
            stranger=tokens["stranger"],
            exporter_kubeconfig=token_kubeconfig(
                kubeconfig, tokens["exporter"], tmp_path / "exporter.kubeconfig"
            ),
            no_reviews_kubeconfig=token_kubeconfig(
                kubeconfig, tokens["exporter-no-reviews"], tmp_path / "no-reviews.kubeconfig"
            ),
        )
    finally:
        rbac.remove()


@dataclass
class Authority:
    """A throwaway CA that signs server certificates for 127.0.0.1."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ray-exporter test CA")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def issue(self, cert_path: Path, key_path: Path) -> x509.Certificate:
        """Write a server pair for 127.0.0.1 the way a Secret volume swaps files."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ray-exporter")]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        for path, data in (
            (cert_path, cert.public_bytes(serialization.Encoding.PEM)),
            (key_path, key_pem),
        ):
            staged = path.with_name(f".{path.name}.{secrets.token_hex(3)}")
            staged.write_bytes(data)
            os.replace(staged, path)
        return cert
