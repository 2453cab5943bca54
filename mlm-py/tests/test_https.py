"""`mlm serve` with TLS (a certificate from a private CA made here) reached from Python:
``mlm.Client.http("https://…", ca_certificate=…)`` works, and without the CA the certificate is
refused."""

import datetime
import ipaddress
import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Iterator, Tuple

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import mlm
from conftest import mlm_binary

TOKEN = "https-operator-token-0123456789"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_pki(directory: Path) -> Tuple[Path, Path, Path]:
    """A CA and a server certificate it signed for localhost and 127.0.0.1: (ca, cert, key)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("mlm test CA"))
        .issuer_name(_name("mlm test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(_pem(ca))
    paths[1].write_bytes(_pem(cert))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("https")
    ca, cert, key = make_pki(tmp)
    config = tmp / "mlm.toml"
    config.write_text(
        f"[server]\ntls_cert = {str(cert)!r}\ntls_key = {str(key)!r}\n"
        f"[local]\ndata_dir = {str(tmp / 'data')!r}\n"
    )
    log = open(tmp / "server.log", "w")
    process = subprocess.Popen(
        [str(mlm_binary()), "serve", "--bind", "127.0.0.1:0", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=dict(os.environ, MLM_TOKENS=f"{TOKEN}:operator", RUST_LOG="warn"),
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"listening on (https://\S+)", line)
    try:
        assert match is not None, f"{line!r}\n{(tmp / 'server.log').read_text()}"
        yield match.group(1), ca
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def test_https_with_a_private_ca(https_server: Tuple[str, Path]) -> None:
    url, ca = https_server
    with mlm.Client.http(url, token=TOKEN, ca_certificate=ca) as client:
        client.create_model("over-tls", description="reached over HTTPS")
    # The certificate also names localhost; the CA may be a str path too.
    local_url = url.replace("127.0.0.1", "localhost")
    with mlm.Client.http(local_url, token=TOKEN, ca_certificate=str(ca)) as client:
        assert client.get_model("over-tls").description == "reached over HTTPS"
        client.delete_model("over-tls")


def test_without_the_ca_the_certificate_is_refused(https_server: Tuple[str, Path]) -> None:
    url, _ = https_server
    with pytest.raises(mlm.MlmError) as info:
        mlm.Client.http(url, token=TOKEN)
    assert "certificate" in str(info.value).lower(), info.value


def test_a_missing_ca_file_is_a_clear_error(tmp_path: Path, https_server: Tuple[str, Path]) -> None:
    url, _ = https_server
    with pytest.raises(mlm.InvalidArgumentError, match="ca_certificate"):
        mlm.Client.http(url, token=TOKEN, ca_certificate=tmp_path / "nope.pem")
