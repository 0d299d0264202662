"""A throwaway PKI for TLS tests, made with the openssl CLI: a CA, a server cert for 127.0.0.1/localhost,
a client cert signed by the CA, and a second client cert signed by an unrelated CA."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class PKI:
    dir: Path

    @property
    def ca(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def server_cert(self) -> Path:
        return self.dir / "server-cert.pem"

    @property
    def server_key(self) -> Path:
        return self.dir / "server-key.pem"

    @property
    def client_dir(self) -> Path:
        """ca.pem, cert.pem, key.pem as the docker CLI expects them under DOCKER_CERT_PATH."""
        return self.dir / "client"

    @property
    def rogue_client_dir(self) -> Path:
        """A client cert from another CA (with our CA as its ca.pem, so the server itself is trusted)."""
        return self.dir / "rogue"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _ca(d: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}-key.pem", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             cwd=d)


def _leaf(d: Path, name: str, ca: str, cn: str, ext: str) -> None:
    (d / f"{name}.ext").write_text(ext + "\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}-key.pem", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}-key.pem",
             "-CAcreateserial", "-out", f"{name}-cert.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)


def make_pki(d: Path) -> PKI:
    """Create the PKI under `d` (which must exist)."""
    _ca(d, "ca")
    _ca(d, "rogue-ca")
    _leaf(d, "server", "ca", "127.0.0.1",
          "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth")
    _leaf(d, "client", "ca", "client", "extendedKeyUsage=clientAuth")
    _leaf(d, "rogue", "rogue-ca", "client", "extendedKeyUsage=clientAuth")
    pki = PKI(d)
    for sub, leaf in ((pki.client_dir, "client"), (pki.rogue_client_dir, "rogue")):
        sub.mkdir()
        (sub / "ca.pem").write_bytes(pki.ca.read_bytes())
        (sub / "cert.pem").write_bytes((d / f"{leaf}-cert.pem").read_bytes())
        (sub / "key.pem").write_bytes((d / f"{leaf}-key.pem").read_bytes())
    return pki
