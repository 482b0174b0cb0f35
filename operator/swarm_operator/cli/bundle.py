"""The backup bundle of a SwarmTopic: its format, and its encryption with age.

A bundle is one JSON document (`Bundle`) encrypted with age (age-encryption.org/v1) to the
recipients the user names: age X25519 keys (`age1...`, made by `age-keygen`) or SSH public keys
(`ssh-ed25519 ...`, `ssh-rsa ...`). Any age implementation opens it (`age -d -i KEY FILE` prints
the JSON); here `pyrage` does (Rust's `rage`, the `backup` extra). age authenticates what it
decrypts: a truncated or altered file fails as a whole and is never half read. It does not say
who wrote a file: anyone holding a recipient's public key can write one.

The document holds what the namespace alone holds of a topic: its spec, labels and annotations,
its recorded base key and host public keys, and every `<name>-*` Secret the topic owns (the data as
the API serves it, base64, with the Secret's labels and the operator's annotations). `Bundle`
checks that these belong together (the identity seed signs as the recorded host key, the spec
adopts no other base, the three Secrets of every topic are there) before anything is restored.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .. import names
from ..identity import public_key_of
from ..models import HEX64, TOPIC_STRING, SwarmTopicSpec
from ..validation import format_validation_error

FORMAT = "swarm-operator.dev/backup/v1"
SUFFIX = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
REQUIRED_SUFFIXES = (names.IDENTITY_SUFFIX, names.MEMBER_SUFFIX, names.ENCRYPTION_SUFFIX)
AGE_HEADER = b"age-encryption.org/v1\n"
AGE_ARMOR = b"-----BEGIN AGE ENCRYPTED FILE-----"
MAX_BUNDLE = 16 * 1024 * 1024  # bytes; a topic's bundle is a few KiB


class BundleError(Exception):
    """A bundle (or a key) that cannot be used; the message is one line for the user."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BundleSecret(_Strict):
    suffix: str = Field(..., pattern=SUFFIX, max_length=200, description="the Secret is `<topic name>-<suffix>`")
    type: str = Field("Opaque", min_length=1, max_length=253)
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    data: dict[str, str] = Field(..., description="base64, as in a Secret's `data`")

    @field_validator("data")
    @classmethod
    def _base64(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            try:
                base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError(f"data.{key} is not base64") from exc
        return value

    def value(self, key: str) -> bytes:
        return base64.b64decode(self.data[key])


class Source(_Strict):
    namespace: str
    name: str
    uid: str
    apiVersion: str


class Bundle(_Strict):
    format: Literal["swarm-operator.dev/backup/v1"]
    createdAt: str
    createdBy: str
    source: Source
    topic: str = Field(..., min_length=1, max_length=256, pattern=TOPIC_STRING,
                       description="the Hyperswarm topic string (kept when restored under another name)")
    baseKey: str = Field(..., pattern=HEX64)
    hostPublicKeys: list[str] = Field(..., min_length=1, description="status.hostPublicKey first")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    spec: dict[str, Any]
    secrets: list[BundleSecret]

    @field_validator("hostPublicKeys")
    @classmethod
    def _hex_keys(cls, value: list[str]) -> list[str]:
        if not all(isinstance(k, str) and len(k) == 64 and all(ch in "0123456789abcdef" for ch in k) for k in value):
            raise ValueError("every host public key is 64 hex digits")
        return value

    @model_validator(mode="after")
    def _belongs_together(self) -> Bundle:
        try:
            spec = SwarmTopicSpec.model_validate(self.spec)
        except ValidationError as exc:
            raise ValueError(format_validation_error(exc)) from exc
        if spec.adopted_base_key() not in (None, self.baseKey):
            raise ValueError(f"spec.baseKey {spec.baseKey} is not the recorded base key {self.baseKey}")
        if spec.topic_of(self.source.name) != self.topic:
            raise ValueError(f"the topic string {self.topic!r} is not the spec's {spec.topic_of(self.source.name)!r}")
        suffixes = [s.suffix for s in self.secrets]
        if len(set(suffixes)) != len(suffixes):
            raise ValueError("a Secret suffix appears twice")
        missing = [s for s in REQUIRED_SUFFIXES if s not in suffixes]
        if missing:
            raise ValueError(f"no {', '.join(missing)} Secret (every topic has {', '.join(REQUIRED_SUFFIXES)})")
        self._check_identity()
        return self

    def _check_identity(self) -> None:
        """Host 0's seed signs as the recorded host key; every host's seed (`seed-<n>` with several
        hosts) as the key annotated for it, when one is."""
        identity = self.secret(names.IDENTITY_SUFFIX)
        if names.IDENTITY_SEED_KEY not in identity.data:
            raise ValueError(f"the identity Secret has no {names.IDENTITY_SEED_KEY!r}")
        for key in identity.data:
            ordinal = 0 if key == names.IDENTITY_SEED_KEY else _ordinal(key)
            if ordinal is None:
                continue
            public = _public_key(identity.value(key), key)
            if ordinal == 0 and public != self.hostPublicKeys[0]:
                raise ValueError(f"the identity seed signs as {public}, not as the recorded host key "
                                 f"{self.hostPublicKeys[0]}")
            annotated = identity.annotations.get(names.host_public_key_annotation(ordinal))
            if annotated is not None and annotated != public:
                raise ValueError(f"the identity Secret's {names.host_public_key_annotation(ordinal)} annotation is "
                                 f"not the key of its {key!r}")

    def secret(self, suffix: str) -> BundleSecret:
        return next(s for s in self.secrets if s.suffix == suffix)


def _ordinal(key: str) -> int | None:
    """n of an identity Secret's `seed-<n>` key (host n's seed), else None."""
    prefix = f"{names.IDENTITY_SEED_KEY}-"
    rest = key.removeprefix(prefix)
    return int(rest) if key.startswith(prefix) and rest.isdigit() and rest[0] != "0" else None


def _public_key(value: bytes, key: str) -> str:
    try:
        return public_key_of(value.decode().strip())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"the identity seed {key!r} is not 64 hex digits") from exc


def encode(bundle: Bundle) -> bytes:
    return json.dumps(bundle.model_dump(mode="json"), sort_keys=True, indent=1).encode() + b"\n"


def decode(plaintext: bytes) -> Bundle:
    try:
        doc = json.loads(plaintext)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError("decrypted, but not a swarm-operator backup bundle (not JSON)") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise BundleError(f"decrypted, but not a swarm-operator backup bundle (format {found!r}, "
                          f"expected {FORMAT!r})")
    try:
        return Bundle.model_validate(doc)
    except ValidationError as exc:
        raise BundleError(f"the bundle does not hold together: {_first_error(exc)}") from exc


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


# -- age ---------------------------------------------------------------------------------------


def _pyrage() -> Any:
    try:
        import pyrage
    except ImportError as exc:
        raise BundleError("backup and restore need pyrage: pip install 'swarm-operator[backup]'") from exc
    return pyrage


def recipients(keys: list[str]) -> list[Any]:
    """age recipients from public keys: `age1...` or an SSH public key line."""
    pyrage = _pyrage()
    out = []
    for key in keys:
        text = key.strip()
        try:
            if text.startswith("age1"):
                out.append(pyrage.x25519.Recipient.from_str(text))
            elif text.startswith(("ssh-ed25519 ", "ssh-rsa ")):
                out.append(pyrage.ssh.Recipient.from_str(text))
            else:
                raise ValueError("neither an age key (age1...) nor an SSH public key (ssh-ed25519, ssh-rsa)")
        except (ValueError, pyrage.RecipientError) as exc:
            raise BundleError(f"recipient {text[:24]!r}...: {exc}") from exc
    if not out:
        raise BundleError("no recipient: give --recipient (an age1... or SSH public key) at least once")
    return out


def recipients_file(path: Path) -> list[str]:
    """The public keys of an age recipients file (`age -R`): one per line, `#` comments."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise BundleError(f"recipients file {path}: {exc.strerror or exc}") from exc
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def identities(path: Path) -> list[Any]:
    """The private keys of an identity file: age's (`AGE-SECRET-KEY-1...` lines, as `age-keygen`
    writes them) or an unencrypted OpenSSH private key."""
    pyrage = _pyrage()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"identity file {path}: {exc.strerror or exc}") from exc
    try:
        if b"-----BEGIN OPENSSH PRIVATE KEY-----" in raw:
            return [pyrage.ssh.Identity.from_buffer(raw)]
        keys = [line.strip() for line in raw.decode().splitlines() if line.strip().startswith("AGE-SECRET-KEY-1")]
        found = [pyrage.x25519.Identity.from_str(k) for k in keys]
    except (ValueError, UnicodeDecodeError, pyrage.IdentityError) as exc:
        raise BundleError(f"identity file {path}: not a usable age or OpenSSH private key ({exc})") from exc
    if not found:
        raise BundleError(f"identity file {path}: no AGE-SECRET-KEY-1 line and no OpenSSH private key")
    return found


def seal(plaintext: bytes, to: list[Any]) -> bytes:
    pyrage = _pyrage()
    try:
        return bytes(pyrage.encrypt(plaintext, to))
    except pyrage.EncryptError as exc:
        raise BundleError(f"age could not encrypt the bundle: {exc}") from exc


def unseal(data: bytes, keys: list[Any]) -> bytes:
    """The plaintext, or one line saying why not: not an age file, not for these keys, or damaged."""
    pyrage = _pyrage()
    if len(data) > MAX_BUNDLE:
        raise BundleError(f"{len(data)} bytes: too large to be a bundle")
    if not data.startswith(AGE_HEADER) and not data.lstrip().startswith(AGE_ARMOR):
        raise BundleError("not an age-encrypted file (no age-encryption.org/v1 header)")
    try:
        return bytes(pyrage.decrypt(data, keys))
    except pyrage.DecryptError as exc:
        if "no matching keys" in str(exc).lower():
            raise BundleError("not encrypted to the given identity (another key, or an altered header)") from exc
        raise BundleError(f"damaged: truncated or altered (age authentication failed: {exc})") from exc


def open_bundle(data: bytes, keys: list[Any]) -> Bundle:
    return decode(unseal(data, keys))
