"""The keys offered to a hop, in OpenSSH's order, from the files and the agent ssh_config names.

OpenSSH offers: certificates (CertificateFile, then each IdentityFile's ``-cert.pub``), agent keys that are also
IdentityFiles, the agent's other keys (unless IdentitiesOnly), then IdentityFiles the agent does not hold.  The
agent is IdentityAgent's socket (``none``: no agent).  paramiko's own order (files first, $SSH_AUTH_SOCK only,
no IdentitiesOnly) is not used: this strategy replaces it.
"""

from __future__ import annotations

import contextlib
import copy
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import paramiko
from paramiko.agent import AgentSSH
from paramiko.auth_strategy import AuthFailure, AuthResult, AuthStrategy, InMemoryPrivateKey
from paramiko.pkey import PublicBlob

if TYPE_CHECKING:
    from edgedq.device.ssh.target import SSHTarget


class _Agent(AgentSSH):
    """An ssh-agent at a given socket (paramiko's ``Agent`` only knows $SSH_AUTH_SOCK)."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.settimeout(timeout)
        try:
            conn.connect(path)
            self._connect(conn)
        except BaseException:
            conn.close()
            raise

    def close(self) -> None:
        self._close()


@dataclass
class _KeyFile:
    path: str
    public: bytes | None  # from KEY.pub, else from the private key
    pkey: paramiko.PKey | None  # None: it needs a passphrase, or is no key paramiko can use
    locked: bool = False  # it needs a passphrase


class _Offer(InMemoryPrivateKey):
    """One key offered, with what to call it in messages."""

    def __init__(self, username: str, pkey: paramiko.PKey, label: str) -> None:
        super().__init__(username, pkey)
        self.label = label


class OpenSSHKeys(AuthStrategy):
    """Public-key authentication as ssh does it for one hop; ``tried`` says what was offered and how it went."""

    def __init__(self, target: SSHTarget) -> None:
        super().__init__(ssh_config=None)
        self.target = target
        self.tried: list[dict[str, str]] = []
        self.locked: list[str] = []  # key files that need a passphrase (and are not in the agent)
        self.notes: list[str] = []  # keys that could not be used, and why
        self._agent: _Agent | None = None

    def authenticate(self, transport: paramiko.Transport) -> AuthResult:
        try:
            result = super().authenticate(transport)
            self._record(result, accepted=True)
            return result
        except AuthFailure as failure:
            self._record(failure.result, accepted=False)
            raise
        finally:
            if self._agent is not None:
                self._agent.close()

    def _record(self, result: AuthResult, accepted: bool) -> None:
        for number, (source, _) in enumerate(result, 1):
            last = accepted and number == len(result)
            self.tried.append(
                {"key": getattr(source, "label", str(source)), "result": "accepted" if last else "refused"}
            )

    def get_sources(self) -> Iterator[_Offer]:
        user = self.target.user
        agent_keys = self._agent_keys()
        files = [found for found in map(self._key_file, self.target.identity_files) if found is not None]
        in_agent = {key.asbytes(): key for key in agent_keys}
        in_files = {found.public for found in files}
        holders = [*(in_agent.get(f.public) or f.pkey for f in files), *agent_keys]
        certificates = [*self.target.certificate_files, *(f"{f.path}-cert.pub" for f in files)]
        for path in dict.fromkeys(certificates):
            certified = self._certified(path, holders)
            if certified is not None:
                yield _Offer(user, certified, f"{path} (certificate)")
        for found in files:
            if found.public in in_agent:
                yield _Offer(user, in_agent[found.public], f"{found.path} (from the agent)")
        if not self.target.identities_only:
            for key in agent_keys:
                if key.asbytes() not in in_files:
                    yield _Offer(user, key, f"agent key {getattr(key, 'comment', '') or key.fingerprint}")
        for found in (found for found in files if found.public not in in_agent):
            if found.pkey is not None:
                yield _Offer(user, found.pkey, found.path)
            elif found.locked:
                self.locked.append(found.path)
            else:
                self.notes.append(f"{found.path} is not a private key paramiko can use: not offered")

    def _agent_keys(self) -> list[paramiko.AgentKey]:
        path = self.target.identity_agent
        if not path:
            return []
        try:
            self._agent = _Agent(path, self.target.timeout)
        except (OSError, paramiko.SSHException) as exc:
            self.notes.append(f"the ssh-agent at {path} cannot be reached ({exc}): its keys are not offered")
            return []
        return list(self._agent.get_keys())

    def _key_file(self, path: str) -> _KeyFile | None:
        """A key file (missing ones are skipped, as ssh does); its public half, and the private key if readable."""
        if not Path(path).is_file():
            return None
        public = None
        with contextlib.suppress(Exception):
            public = PublicBlob.from_file(f"{path}.pub").key_blob
        pkey, locked = None, False
        try:
            pkey = paramiko.PKey.from_path(path)
            pkey.public_blob = None  # from_path attaches KEY-cert.pub: certificates are offered on their own
        except TypeError:  # encrypted, and no passphrase
            locked = True
        except Exception:  # not a key paramiko can use (DSA, FIDO, garbage): as ssh, go on with the others
            pass
        return _KeyFile(path, public or (pkey.asbytes() if pkey else None), pkey, locked)

    def _certified(self, path: str, holders: list[paramiko.PKey | None]) -> paramiko.PKey | None:
        """The key (from a file or the agent) that the certificate at ``path`` certifies, carrying it."""
        if not Path(path).is_file():
            return None
        try:
            blob = PublicBlob.from_file(path)
        except Exception:
            self.notes.append(f"{path} is not an OpenSSH certificate: not offered")
            return None
        for key in holders:
            if key is not None and _certifies(blob.key_blob, key):
                certified = copy.copy(key)
                certified.public_blob = blob
                return certified
        self.notes.append(
            f"no private key for the certificate {path} (neither a key file nor the agent's): not offered"
        )
        return None


def _certifies(certificate: bytes, key: paramiko.PKey) -> bool:
    """A certificate blob is its type, a nonce, then the key's public fields: compare those fields."""
    cert = paramiko.Message(certificate)
    cert.get_text(), cert.get_binary()
    public = paramiko.Message(key.asbytes())
    public.get_text()
    fields = key.asbytes()[public.packet.tell() :]
    return certificate[cert.packet.tell() :].startswith(fields)
