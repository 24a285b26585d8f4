"""Files are measured only if they are, byte for byte, what the host sent (named by sha256 in the request).

The store on the board already checks content when a file arrives and when it
is offered again; this closes the gap between that check and the load.
"""

from __future__ import annotations

from typing import Mapping

from edgedq_agent.runtime import AgentFailure


def sha256_of(path: str) -> str:
    import hashlib  # here, not at the top: OpenSSL's libcrypto is 3.5 MB of RSS that a hello does not need

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_files(expected: Mapping[str, str]) -> None:
    for path, want in expected.items():
        try:
            got = sha256_of(path)
        except OSError as exc:
            raise AgentFailure("model_missing", "cannot read %s: %s" % (path, exc.strerror)) from None
        if got != want:
            raise AgentFailure(
                "file_mismatch",
                "%s is not the file the host sent (sha256 %s..., expected %s...); nothing was measured"
                % (path, got[:12], want[:12]),
                "run again to replace it; if it recurs, something else writes to the work folder",
            )
