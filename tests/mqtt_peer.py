"""A real Mosquitto on loopback for the tests: anonymous, or with users and the ACL
the project ships (`alerts/mosquitto.acl`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import free_port

ACL = Path(__file__).parents[1] / "alerts" / "mosquitto.acl"


class Mosquitto:
    def __init__(self, folder: Path, users: dict[str, str] | None = None) -> None:
        """Anonymous, or (`users`: name → password) with the shipped ACL."""
        if shutil.which("mosquitto") is None:
            pytest.fail("mosquitto is missing: run `make test` (it installs it)")
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        if users is None:
            self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                                   "log_dest stderr\n")
        else:
            passwd = folder / "passwd"
            passwd.touch()
            for name, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(passwd), name, password],
                               check=True, capture_output=True)
            self.config.write_text(
                f"listener {self.port} 127.0.0.1\nallow_anonymous false\n"
                f"password_file {passwd}\nacl_file {ACL}\nlog_dest stderr\n"
                # run as root by the tests: do not drop to the `mosquitto` user, which
                # cannot read the password file in pytest's private temporary folder
                + ("user root\n" if os.geteuid() == 0 else ""))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log = self.config.with_suffix(".log")
        with self.log.open("ab") as log:  # the broker's own account, for a failing test
            self.proc = subprocess.Popen(["mosquitto", "-c", str(self.config)],
                                         stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None
