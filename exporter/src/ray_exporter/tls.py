"""HTTPS for the exporter: the server's TLS context, from PEM files or a self-signed certificate.

`TLSContextSource.context()` is asked once per accepted connection. With files
(a mounted kubernetes.io/tls Secret), it compares their stat signature (inode,
size, mtime) with the one last loaded and rebuilds the context when they
changed, so a rotated Secret is served from the next connection on without a
restart. A pair that fails to load (half-written, key not matching) keeps the
previous context and is retried once the files change again.

Without files, `self_signed()` makes an ECDSA P-256 certificate for the given
names at start; it lives as long as the process. Only its SHA-256 fingerprint
is logged, never key material. Every context refuses protocols older than TLS 1.2.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from loguru import logger

SELF_SIGNED_DAYS = 365
ALWAYS_IN_SELF_SIGNED = ("localhost", "127.0.0.1", "::1")

_Signature = tuple[tuple[int, int, int], ...]


@dataclass(frozen=True)
class CertificatePair:
    """A PEM certificate (chain) and its PEM private key, in memory."""

    cert_pem: bytes
    key_pem: bytes


def fingerprint(cert_pem: bytes) -> str:
    """The SHA-256 fingerprint of the first certificate in `cert_pem`, as colon-separated hex."""
    digest = x509.load_pem_x509_certificate(cert_pem).fingerprint(hashes.SHA256())
    return ":".join(f"{byte:02X}" for byte in digest)


def subject_alternative_names(extra: Iterable[str]) -> list[str]:
    """The names of a self-signed certificate: `extra`, the hostname and the loopback names."""
    return list(dict.fromkeys([*extra, socket.gethostname(), *ALWAYS_IN_SELF_SIGNED]))


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def self_signed(names: list[str], now: datetime.datetime | None = None) -> CertificatePair:
    """A self-signed ECDSA P-256 server certificate valid for `names` (DNS names or IPs)."""
    now = now or datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(
            x509.SubjectAlternativeName([_general_name(name) for name in names]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return CertificatePair(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def server_context(pair: CertificatePair) -> ssl.SSLContext:
    """A server-side context (TLS 1.2 or newer) serving `pair`.

    `ssl` loads chains from files only, so the pair goes through a private
    temporary directory that is removed before this returns.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with tempfile.TemporaryDirectory(prefix="ray-exporter-tls-") as directory:
        cert_path, key_path = Path(directory, "tls.crt"), Path(directory, "tls.key")
        cert_path.write_bytes(pair.cert_pem)
        descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as key_file:
            key_file.write(pair.key_pem)
        context.load_cert_chain(cert_path, key_path)
    return context


def _signature(paths: Iterable[Path]) -> _Signature:
    stats = [path.stat() for path in paths]
    return tuple((stat.st_ino, stat.st_size, stat.st_mtime_ns) for stat in stats)


class TLSContextSource:
    """The current server TLS context; reloads certificate files when they change on disk."""

    def __init__(self, cert_file: Path | None, key_file: Path | None, names: list[str]) -> None:
        """Load the files, or make a self-signed certificate for `names` when there are none.

        Raises OSError or ssl.SSLError when the files cannot be read or do not match.
        """
        self._files = (cert_file, key_file) if cert_file and key_file else None
        self._lock = threading.Lock()
        self._missing = False
        if self._files is None:
            pair = self_signed(names)
            self._context = server_context(pair)
            self._signature: _Signature = ()
            logger.info(
                "serving HTTPS with a self-signed certificate",
                names=names,
                sha256=fingerprint(pair.cert_pem),
            )
        else:
            self._signature = _signature(self._files)
            self._context = self._load(self._files)

    def _load(self, files: tuple[Path, Path]) -> ssl.SSLContext:
        pair = CertificatePair(files[0].read_bytes(), files[1].read_bytes())
        context = server_context(pair)
        logger.info(
            "serving HTTPS with the certificate from files",
            cert_file=str(files[0]),
            sha256=fingerprint(pair.cert_pem),
        )
        return context

    def context(self) -> ssl.SSLContext:
        """The context for a new connection, rebuilt first if the files changed since."""
        if self._files is None:
            return self._context
        with self._lock:
            try:
                signature = _signature(self._files)
            except OSError as error:  # mid-rotation: keep serving the previous certificate
                if not self._missing:  # say it once, not on every connection
                    logger.warning(
                        "cannot stat the TLS files; keeping the loaded ones", error=str(error)
                    )
                self._missing = True
                return self._context
            self._missing = False
            if signature != self._signature:
                self._signature = signature
                try:
                    self._context = self._load(self._files)
                except (OSError, ssl.SSLError, ValueError) as error:
                    logger.warning(
                        "cannot load the changed TLS files; keeping the previous certificate",
                        cert_file=str(self._files[0]),
                        error=str(error),
                    )
            return self._context
