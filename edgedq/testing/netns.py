"""A board behind real network links that a test can cut or slow: an sshd in its own network namespace.

Two veth links join this machine to the namespace (``10.214.N.1`` <-> ``.2`` and ``10.214.N.5`` <-> ``.6``), so one
host can lose its link (``link_down``: packets vanish, nothing is reset, as when a cable is pulled or a lab
network splits) while another still reaches the board over the other.  ``shape`` adds a rate limit with ``tc``.
Needs root and iproute2; everything is removed by ``stop``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from edgedq.testing.sshd import TestSshd, make_sshd


def _ip(*args: str, netns: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    subprocess.run([*prefix, "ip", *args], check=True, capture_output=True)


def _free_subnet() -> int:
    used = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    return next(n for n in range((os.getpid() % 200) + 1, 255) if f" 10.214.{n}." not in used)


@dataclass
class NetnsBoard:
    """The sshd inside namespace ``name``; ``address(link)`` is where a host reaches it over that link."""

    name: str
    subnet: int
    sshd: TestSshd | None = None
    links: tuple[str, ...] = field(default=())

    def address(self, link: int = 0) -> str:
        return f"10.214.{self.subnet}.{2 + 4 * link}"

    def _board_if(self, link: int) -> str:
        return f"{self.name}-b{link}"

    def link_down(self, link: int = 0) -> None:
        """Packets on this link now vanish (the board's end goes down; no reset reaches either side)."""
        _ip("link", "set", self._board_if(link), "down", netns=self.name)

    def link_up(self, link: int = 0) -> None:
        _ip("link", "set", self._board_if(link), "up", netns=self.name)

    def shape(self, link: int, rate: str) -> None:
        """Limit the host-to-board direction of ``link`` to ``rate`` (tc's syntax, e.g. ``4mbit``)."""
        subprocess.run(
            ["tc", "qdisc", "replace", "dev", self.links[link], "root", "tbf", "rate", rate, "burst", "32kbit",
             "latency", "400ms"],
            check=True, capture_output=True,
        )  # fmt: skip

    def stop(self) -> None:
        if self.sshd:
            self.sshd.stop()
        for host_if in self.links:
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("link", "del", host_if)
        pids = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), 9)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


def make_netns_board(folder: Path, links: int = 2, extra_config: str = "") -> NetnsBoard:
    """Create the namespace and its links, and start the sshd in it, listening on every link."""
    subnet = _free_subnet()
    board = NetnsBoard(f"edq{subnet}", subnet)
    subprocess.run(["ip", "netns", "add", board.name], check=True, capture_output=True)
    try:
        host_ifs = []
        for link in range(links):
            host_if, board_if = f"{board.name}-h{link}", board._board_if(link)
            base = f"10.214.{subnet}.{4 * link}"
            _ip("link", "add", host_if, "type", "veth", "peer", "name", board_if)
            _ip("link", "set", board_if, "netns", board.name)
            _ip("addr", "add", f"{base[:-1]}{4 * link + 1}/30", "dev", host_if)
            _ip("link", "set", host_if, "up")
            _ip("addr", "add", f"{board.address(link)}/30", "dev", board_if, netns=board.name)
            _ip("link", "set", board_if, "up", netns=board.name)
            host_ifs.append(host_if)
        _ip("link", "set", "lo", "up", netns=board.name)
        board.links = tuple(host_ifs)
        board.sshd = make_sshd(
            folder,
            host=board.address(0),
            listen=tuple(board.address(link) for link in range(links)),
            prefix=("ip", "netns", "exec", board.name),
            extra_config=extra_config,
        )
    except BaseException:
        board.stop()
        raise
    return board
