"""TLS: the self-signed certificate's names, the TLS 1.2 floor, and certificate files reloaded
when they change (a rotated Secret) while a bad replacement keeps the previous pair."""

from __future__ import annotations

import datetime
import io
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from loguru import logger

from ray_exporter.tls import (
    CertificatePair,
    TLSContextSource,
    fingerprint,
    self_signed,
    server_context,
    subject_alternative_names,
)


def names_in(pair: CertificatePair) -> tuple[set[str], set[str]]:
    cert = x509.load_pem_x509_certificate(pair.cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = set(san.get_values_for_type(x509.DNSName))
    ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return dns, ips


def test_self_signed_names_are_dns_names_and_ip_addresses() -> None:
    names = subject_alternative_names(["svc.ns.svc", "10.0.0.7", "svc.ns.svc"])
    assert names.count("svc.ns.svc") == 1
    assert socket.gethostname() in names
    dns, ips = names_in(self_signed(names))
    assert {"svc.ns.svc", "localhost", socket.gethostname()} <= dns
    assert ips == {"10.0.0.7", "127.0.0.1", "::1"}


def test_self_signed_is_a_server_certificate_valid_now() -> None:
    now = datetime.datetime.now(datetime.UTC)
    cert = x509.load_pem_x509_certificate(self_signed(["localhost"]).cert_pem)
    assert cert.not_valid_before_utc < now < cert.not_valid_after_utc
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in usage
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_fingerprint_is_sha256_of_the_der() -> None:
    pair = self_signed(["localhost"])
    text = fingerprint(pair.cert_pem)
    assert len(text.split(":")) == 32
    assert text == fingerprint(pair.cert_pem)
    assert text != fingerprint(self_signed(["localhost"]).cert_pem)


class TLSListener:
    """A loopback TLS server that completes handshakes with contexts from a source."""

    def __init__(self, source: TLSContextSource) -> None:
        self.source = source
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            try:
                with self.source.context().wrap_socket(connection, server_side=True) as tls:
                    tls.recv(1)
            except OSError:
                pass

    def peer_fingerprint(self, **options: object) -> str:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        for name, option in options.items():
            setattr(context, name, option)
        with (
            socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw,
            context.wrap_socket(raw) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        pem = ssl.DER_cert_to_PEM_cert(der).encode()
        return fingerprint(pem)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "tls.crt", tmp_path / "tls.key"


def write(files: tuple[Path, Path], pair: CertificatePair) -> None:
    """Replace both files the way a Secret volume does: new inodes via rename."""
    for path, data in zip(files, (pair.cert_pem, pair.key_pem), strict=True):
        staged = path.with_suffix(".new")
        staged.write_bytes(data)
        os.replace(staged, path)


@pytest.fixture
def listener(files: tuple[Path, Path]) -> Iterator[tuple[TLSListener, CertificatePair]]:
    first = self_signed(["localhost"])
    write(files, first)
    server = TLSListener(TLSContextSource(*files, names=[]))
    yield server, first
    server.close()


def test_files_are_served_and_reloaded_after_rotation(
    listener: tuple[TLSListener, CertificatePair], files: tuple[Path, Path]
) -> None:
    server, first = listener
    assert server.peer_fingerprint() == fingerprint(first.cert_pem)
    second = self_signed(["localhost"])
    write(files, second)
    assert server.peer_fingerprint() == fingerprint(second.cert_pem)


def test_a_broken_replacement_keeps_the_previous_certificate_until_fixed(
    listener: tuple[TLSListener, CertificatePair], files: tuple[Path, Path]
) -> None:
    server, first = listener
    other = self_signed(["localhost"])
    write(files, CertificatePair(other.cert_pem, first.key_pem))  # key does not match
    assert server.peer_fingerprint() == fingerprint(first.cert_pem)
    files[0].unlink()  # mid-rotation: a file missing
    assert server.peer_fingerprint() == fingerprint(first.cert_pem)
    write(files, other)
    assert server.peer_fingerprint() == fingerprint(other.cert_pem)


def test_tls_1_2_clients_are_served_and_nothing_older_is_offered(
    listener: tuple[TLSListener, CertificatePair],
) -> None:
    server, first = listener
    only_1_2 = server.peer_fingerprint(maximum_version=ssl.TLSVersion.TLSv1_2)
    assert only_1_2 == fingerprint(first.cert_pem)
    assert server.source.context().minimum_version is ssl.TLSVersion.TLSv1_2


def test_unreadable_files_fail_at_start(files: tuple[Path, Path]) -> None:
    with pytest.raises(FileNotFoundError):
        TLSContextSource(*files, names=[])
    files[0].write_text("not a certificate")
    files[1].write_text("not a key")
    with pytest.raises(ssl.SSLError):
        TLSContextSource(*files, names=[])


def test_server_context_floor_and_self_signed_source() -> None:
    assert server_context(self_signed(["localhost"])).minimum_version is ssl.TLSVersion.TLSv1_2
    source = TLSContextSource(None, None, names=["localhost", "127.0.0.1"])
    assert source.context() is source.context()


def test_missing_files_are_reported_once_until_they_return(
    listener: tuple[TLSListener, CertificatePair], files: tuple[Path, Path]
) -> None:
    server, first = listener
    stream = io.StringIO()
    sink = logger.add(stream, level="WARNING", format="{message}")
    try:
        files[1].unlink()
        for _ in range(3):
            assert server.peer_fingerprint() == fingerprint(first.cert_pem)
        write(files, first)
        assert server.peer_fingerprint() == fingerprint(first.cert_pem)
        files[1].unlink()
        server.peer_fingerprint()
    finally:
        logger.remove(sink)
    assert stream.getvalue().count("cannot stat the TLS files") == 2
