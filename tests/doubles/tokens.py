"""Token minting for tests: per-run RSA keys, JWKs, and a small test CA for HTTPS stand-ins.

Everything is generated in-process (no files checked in): a 2048-bit RSA key takes ~50 ms, so keys
are made once per session by the identity fixtures and reused.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

MSA_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
GRAPH_AUDIENCE = "00000003-0000-0000-c000-000000000000"
BOT_ISSUER = "https://api.botframework.com"


def _b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class SigningKey:
    """An RSA key pair with a kid, published as a JWK by the identity stand-in."""

    kid: str
    private: rsa.RSAPrivateKey
    endorsements: list[str] | None = None  # Bot Framework keys list the channels they may sign for

    @classmethod
    def generate(cls, kid: str | None = None, endorsements: list[str] | None = None) -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(kid or uuid.uuid4().hex[:16], key, endorsements)

    def jwk(self) -> dict[str, Any]:
        nums = self.private.public_key().public_numbers()
        out: dict[str, Any] = {"kty": "RSA", "use": "sig", "kid": self.kid, "n": _b64(nums.n), "e": _b64(nums.e)}
        if self.endorsements is not None:
            out["endorsements"] = self.endorsements
        return out

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: dict[str, Any], *, headers: dict[str, Any] | None = None) -> str:
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": self.kid, **(headers or {})})


@dataclass
class EntraMinter:
    """Mints Entra v2 access tokens (and deliberately wrong ones) for the add-in API tests."""

    key: SigningKey
    authority_host: str
    audience: str
    client_app: str = field(default_factory=lambda: str(uuid.uuid4()))  # the add-in's SPA (azp)

    def claims(self, tid: str, oid: str | None = None, *, name: str = "Test Partner",
               scp: str | None = "access_as_user", offset: int = 0, lifetime: int = 3600,
               **extra: Any) -> dict[str, Any]:
        now = int(time.time()) + offset
        c: dict[str, Any] = {
            "aud": self.audience, "iss": f"{self.authority_host}/{tid}/v2.0", "iat": now, "nbf": now,
            "exp": now + lifetime, "tid": tid, "oid": oid or str(uuid.uuid4()), "name": name,
            "preferred_username": "partner@example.test", "azp": self.client_app, "azpacr": "0",
            "ver": "2.0", "sub": uuid.uuid4().hex, "uti": uuid.uuid4().hex[:22],
        }
        if scp is not None:
            c["scp"] = scp
        c.update(extra)
        return {k: v for k, v in c.items() if v is not None}

    def token(self, tid: str, oid: str | None = None, *, key: SigningKey | None = None,
              headers: dict[str, Any] | None = None, **kw: Any) -> str:
        return (key or self.key).sign(self.claims(tid, oid, **kw), headers=headers)

    def id_token(self, tid: str, oid: str | None = None, client_id: str | None = None) -> str:
        """An OpenID Connect ID token: aud is the client id, no scp, a nonce, no azp."""
        c = self.claims(tid, oid, scp=None, aud=client_id or self.audience, nonce="n-0S6_WzA2Mj")
        c.pop("azp", None)
        c.pop("azpacr", None)
        return self.key.sign(c)

    def app_token(self, tid: str, oid: str | None = None) -> str:
        """An app-only (client credentials) token: idtyp=app, roles, no scp."""
        return self.token(tid, oid, scp=None, roles=["Contacts.Read.All"], idtyp="app")


def unsigned(claims: dict[str, Any], kid: str = "whatever") -> str:
    """An `alg: none` token (PyJWT can make it; it must never be accepted)."""
    return jwt.encode(claims, key=None, algorithm="none", headers={"kid": kid})


def hs256_with_public_key(claims: dict[str, Any], key: SigningKey) -> str:
    """The classic key-confusion forgery: HMAC keyed with the RSA public key's PEM."""
    header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
    import hashlib
    import hmac
    import json

    def seg(obj: Any) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).rstrip(b"=")

    signing_input = seg(header) + b"." + seg(claims)
    sig = hmac.new(key.public_pem(), signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + base64.urlsafe_b64encode(sig).rstrip(b"=")).decode()


@dataclass
class TestCA:
    """A throwaway CA and a 127.0.0.1 server certificate, written to a directory."""

    __test__ = False  # not a pytest class

    ca_path: Path
    cert_path: Path
    key_path: Path

    @classmethod
    def create(cls, directory: Path) -> TestCA:
        directory.mkdir(parents=True, exist_ok=True)
        now = dt.datetime.now(dt.UTC)
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Rapport test CA")])
        ca = (
            x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
            .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        out = cls(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
        out.ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        out.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        out.key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
        return out

    def server_context(self):
        import ssl

        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert_path, self.key_path)
        return ctx

    def client_context(self):
        import ssl

        return ssl.create_default_context(cafile=str(self.ca_path))
