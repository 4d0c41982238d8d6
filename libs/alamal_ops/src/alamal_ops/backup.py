"""Encrypted, consistent backups of the embedded stack's SQLite stores, and their restore.

A backup set is a folder holding one encrypted snapshot per service store and a manifest
(when, sizes, SHA-256 checksums), authenticated with the backup key. Each snapshot is taken
online with SQLite's backup API (a consistent copy of the store while the service keeps
writing), downstream services first, so no store holds the effect of an event that its
producer's snapshot lacks (except along the notifications -> cases partner-status loop).

Restore checks everything before it writes anything: the manifest's authentication, every
file's checksum, every snapshot's decryption (authenticated, chunk by chunk) and SQLite's
integrity check. Only then does it put the stores in place, keeping any store it replaces.
Every restored outbox message is marked unsent: each service re-publishes its events and the
consumers' inboxes absorb the ones they had handled, so the stores re-converge without
duplicates (the broker's own state is not part of a backup).

The snapshots hold what the stores hold: personal fields are sealed per family there, so a
family whose data key was destroyed after the backup stays unreadable in it once restored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from alamal_runtime.crypto import Keyring, key_id

FORMAT = "alamal-backup/1"
MANIFEST = "manifest.json"
MAGIC = b"ALAMALBK1"
CHUNK = 1 << 20
_SALT = 16
_LEN = 4
ORDER = ("reporting", "notifications", "cases", "intake", "gateway")
"""Snapshot order: consumers before the producers they consume from."""


class BackupRefusedError(Exception):
    """A backup or restore that must not go on; nothing was written."""


@dataclass(frozen=True, slots=True)
class StoreFile:
    """One service's SQLite store."""

    service: str
    path: Path


@dataclass(frozen=True, slots=True)
class StoreEntry:
    """One store in a backup set, as the manifest lists it."""

    service: str
    file: str
    taken_at: str
    plain_bytes: int
    encrypted_bytes: int
    sha256: str
    """Of the encrypted file: checked before anything is decrypted."""
    plain_sha256: str


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a backup set holds, authenticated with the backup key."""

    created_at: str
    key_id: str
    stores: tuple[StoreEntry, ...]

    @property
    def total_bytes(self) -> int:
        """The size of the encrypted snapshots together."""
        return sum(s.encrypted_bytes for s in self.stores)


def store_path(data_dir: Path, service: str) -> Path:
    """Where the embedded stack keeps a service's store."""
    return data_dir / service / f"{service}.sqlite3"


def discover_stores(data_dir: Path) -> list[StoreFile]:
    """Every `<data>/<service>/<service>.sqlite3`, in snapshot order."""
    found = [
        StoreFile(d.name, store_path(data_dir, d.name))
        for d in sorted(data_dir.iterdir())
        if d.is_dir() and store_path(data_dir, d.name).is_file()
    ]
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(found, key=lambda s: (rank.get(s.service, len(ORDER)), s.service))


def _derive(keyring_key: bytes, *, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(keyring_key)


def _key(keyring: Keyring, wanted: str) -> bytes:
    for key in keyring.keys:
        if key_id(key) == wanted:
            return key
    raise BackupRefusedError(
        f"the backup was made with backup key {wanted}, which the key file does not hold"
        f" (it holds {', '.join(keyring.ids)})"
    )


def encrypt_snapshot(keyring: Keyring, plain: bytes, *, service: str) -> bytes:
    """AES-256-GCM in 1 MiB chunks under a per-file key; order and end are authenticated."""
    salt = os.urandom(_SALT)
    header = MAGIC + keyring.primary_id.encode("ascii") + salt
    aead = AESGCM(_derive(keyring.keys[0], salt=salt, info=_file_info(service)))
    chunks = [plain[i : i + CHUNK] for i in range(0, len(plain), CHUNK)] or [b""]
    out = [header]
    for n, chunk in enumerate(chunks):
        sealed = aead.encrypt(_nonce(n, final=n == len(chunks) - 1), chunk, header)
        out.append(len(sealed).to_bytes(_LEN, "big") + sealed)
    return b"".join(out)


def decrypt_snapshot(keyring: Keyring, blob: bytes, *, service: str) -> bytes:
    """The snapshot inside `blob`; BackupRefusedError if it is not intact and ours."""
    head = len(MAGIC) + 16 + _SALT
    if len(blob) < head or not blob.startswith(MAGIC):
        raise BackupRefusedError(f"{service}: not an encrypted snapshot")
    header = blob[:head]
    kid = header[len(MAGIC) : len(MAGIC) + 16].decode("ascii", errors="replace")
    aead = AESGCM(_derive(_key(keyring, kid), salt=header[-_SALT:], info=_file_info(service)))
    parts: list[bytes] = []
    at, n, final = head, 0, False
    while at < len(blob):
        size = int.from_bytes(blob[at : at + _LEN], "big")
        sealed = blob[at + _LEN : at + _LEN + size]
        at += _LEN + size
        final = at >= len(blob)
        try:
            parts.append(aead.decrypt(_nonce(n, final=final), sealed, header))
        except InvalidTag:
            raise BackupRefusedError(
                f"{service}: the snapshot does not decrypt (chunk {n})"
            ) from None
        n += 1
    if not final:
        raise BackupRefusedError(f"{service}: the snapshot is truncated")
    return b"".join(parts)


def _file_info(service: str) -> bytes:
    return b"alamal-backup-file\x00" + service.encode()


def _nonce(n: int, *, final: bool) -> bytes:
    return n.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


def snapshot(path: Path) -> bytes:
    """A consistent copy of a live SQLite store (backup API, in one step), as bytes."""
    source = sqlite3.connect(path, timeout=30)
    copy = sqlite3.connect(":memory:")
    try:
        source.backup(copy)
        image = bytearray(copy.serialize())
    finally:
        copy.close()
        source.close()
    # Header bytes 18-19 say "WAL" (2) as in the live file; an image must say "rollback journal"
    # (1) to open in memory. The service turns WAL on again when it opens the restored file.
    if len(image) >= 20:
        image[18] = image[19] = 1
    return bytes(image)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _mac(keyring_key: bytes, body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    key = _derive(keyring_key, salt=b"", info=b"alamal-backup-manifest")
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def take_backup(stores: list[StoreFile], out_dir: Path, keyring: Keyring) -> tuple[Path, Manifest]:
    """Snapshot and encrypt every store into a new backup set under `out_dir`."""
    if not stores:
        raise BackupRefusedError("no store to back up")
    now = datetime.now(UTC)
    target = out_dir / f"alamal-backup-{now:%Y%m%dT%H%M%S%fZ}"
    target.mkdir(parents=True, mode=0o700)
    entries = []
    for store in stores:
        taken_at = datetime.now(UTC).isoformat()
        plain = snapshot(store.path)
        blob = encrypt_snapshot(keyring, plain, service=store.service)
        name = f"{store.service}.sqlite3.enc"
        _write_private(target / name, blob)
        entries.append(
            StoreEntry(
                service=store.service,
                file=name,
                taken_at=taken_at,
                plain_bytes=len(plain),
                encrypted_bytes=len(blob),
                sha256=_sha256(blob),
                plain_sha256=_sha256(plain),
            )
        )
    manifest = Manifest(
        created_at=now.isoformat(), key_id=keyring.primary_id, stores=tuple(entries)
    )
    body = _manifest_body(manifest)
    signed = body | {"mac": _mac(keyring.keys[0], body)}
    _write_private(target / MANIFEST, json.dumps(signed, indent=2).encode())
    return target, manifest


def _manifest_body(manifest: Manifest) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "created_at": manifest.created_at,
        "key_id": manifest.key_id,
        "stores": [
            {
                "service": s.service,
                "file": s.file,
                "taken_at": s.taken_at,
                "plain_bytes": s.plain_bytes,
                "encrypted_bytes": s.encrypted_bytes,
                "sha256": s.sha256,
                "plain_sha256": s.plain_sha256,
            }
            for s in manifest.stores
        ],
    }


def read_manifest(backup_dir: Path, keyring: Keyring) -> Manifest:
    """The backup set's manifest; BackupRefusedError unless it is authentic."""
    try:
        signed = json.loads((backup_dir / MANIFEST).read_text(encoding="utf-8"))
        mac = signed.pop("mac")
        if signed.get("format") != FORMAT:
            raise BackupRefusedError(f"not an {FORMAT} backup set")
        key = _key(keyring, signed["key_id"])
        if not hmac.compare_digest(mac, _mac(key, signed)):
            raise BackupRefusedError("the manifest was changed after the backup (its MAC fails)")
        stores = tuple(StoreEntry(**s) for s in signed["stores"])
        return Manifest(created_at=signed["created_at"], key_id=signed["key_id"], stores=stores)
    except FileNotFoundError:
        raise BackupRefusedError(f"{backup_dir} holds no {MANIFEST}") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise BackupRefusedError(f"{backup_dir / MANIFEST} is not a backup manifest") from None


def _check_file(name: str, blob: bytes) -> None:
    copy = sqlite3.connect(":memory:")
    try:
        copy.deserialize(blob)
        (result,) = copy.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.DatabaseError:
        raise BackupRefusedError(f"{name}: not an SQLite database") from None
    finally:
        copy.close()
    if result != "ok":
        raise BackupRefusedError(f"{name}: SQLite integrity check failed")


def verify_backup(backup_dir: Path, keyring: Keyring) -> dict[str, bytes]:
    """Every snapshot of a backup set, checked and decrypted; BackupRefusedError otherwise."""
    manifest = read_manifest(backup_dir, keyring)
    images: dict[str, bytes] = {}
    for entry in manifest.stores:
        path = backup_dir / entry.file
        if Path(entry.file).name != entry.file or not path.is_file():
            raise BackupRefusedError(f"{entry.file}: missing from the backup set")
        blob = path.read_bytes()
        if _sha256(blob) != entry.sha256 or len(blob) != entry.encrypted_bytes:
            raise BackupRefusedError(f"{entry.file}: checksum mismatch (corrupted or tampered)")
        plain = decrypt_snapshot(keyring, blob, service=entry.service)
        if _sha256(plain) != entry.plain_sha256:
            raise BackupRefusedError(f"{entry.file}: decrypted checksum mismatch")
        _check_file(entry.file, plain)
        images[entry.service] = plain
    return images


def in_use(path: Path) -> bool:
    """Whether another process has the SQLite file open (a running service)."""
    conn = sqlite3.connect(path, timeout=0.2, autocommit=True)
    try:
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("COMMIT")
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()
    return False


_SIDECARS = ("", "-wal", "-shm", "-journal")


def restore_backup(
    backup_dir: Path, data_dir: Path, keyring: Keyring, *, replace: bool
) -> dict[str, Path]:
    """Put every store of a verified backup set in place; return what was moved aside."""
    images = verify_backup(backup_dir, keyring)
    targets = {service: store_path(data_dir, service) for service in images}
    present = [t for t in targets.values() if any(Path(f"{t}{s}").exists() for s in _SIDECARS)]
    if present and not replace:
        raise BackupRefusedError(
            f"stores exist ({', '.join(str(p) for p in present)}): stop the stack and pass"
            " --replace to restore over them (they are kept aside, never deleted)"
        )
    busy = [t for t in present if t.exists() and in_use(t)]
    if busy:
        raise BackupRefusedError(f"in use by a running service: {', '.join(map(str, busy))}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    staged = {service: _stage(targets[service], image) for service, image in images.items()}
    kept: dict[str, Path] = {}
    for service, target in targets.items():
        if target.exists():
            kept[service] = target.with_name(f"{target.name}.before-restore-{stamp}")
        for suffix in _SIDECARS:
            current = Path(f"{target}{suffix}")
            if current.exists():
                current.replace(Path(f"{target}.before-restore-{stamp}{suffix}"))
        staged[service].replace(target)
    return kept


def _stage(target: Path, image: bytes) -> Path:
    """Write the restored store next to its target, every outbox message marked unsent."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.restoring-{os.getpid()}")
    staged.unlink(missing_ok=True)
    source = sqlite3.connect(":memory:")
    dest = sqlite3.connect(staged, autocommit=True)
    try:
        source.deserialize(image)
        source.backup(dest)
        has_outbox = dest.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox'"
        ).fetchone()
        if has_outbox:
            dest.execute("UPDATE outbox SET sent_at = NULL")
    finally:
        dest.close()
        source.close()
    staged.chmod(0o600)
    return staged
