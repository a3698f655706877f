"""`monitor users` and `monitor tokens`: passwords from stdin, never the command line;
errors that say what is wrong; every change audited with the Unix user."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.columns import table, width


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    monkeypatch.setenv("MONITOR_DATABASE_URL", url)
    monkeypatch.setenv("USER", "ops")
    monkeypatch.delenv("SUDO_USER", raising=False)
    return url


def users(monkeypatch: pytest.MonkeyPatch, *args: str, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["users", *args])


def test_users_add_list_passwd_disable_and_audit(
        database: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert users(monkeypatch, "add", "zhang", "--role", "duty", "--display-name", "张工",
                 "--password-stdin", stdin="correct horse battery\n") == 0
    assert users(monkeypatch, "add", "qdkf", "--role", "customer", "--customer", "qingdao-ciq",
                 "--password-stdin", stdin="correct horse battery\n") == 0
    capsys.readouterr()
    assert users(monkeypatch, "add", "zhang", "--role", "duty", "--password-stdin",
                 stdin="correct horse battery\n") == 1
    assert "user 'zhang' exists" in capsys.readouterr().err
    assert users(monkeypatch, "add", "li", "--role", "duty", "--password-stdin",
                 stdin="short\n") == 1
    assert "at least 10 characters" in capsys.readouterr().err
    assert users(monkeypatch, "add", "li", "--role", "customer", "--password-stdin",
                 stdin="correct horse battery\n") == 1
    assert "--customer" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        users(monkeypatch, "add", "li")  # no --role
    assert "needs --role" in capsys.readouterr().err
    assert users(monkeypatch, "passwd", "nobody", "--password-stdin",
                 stdin="correct horse battery\n") == 1
    assert "no user 'nobody'" in capsys.readouterr().err
    assert users(monkeypatch, "passwd", "zhang", "--password-stdin",
                 stdin="another long secret\n") == 0
    assert users(monkeypatch, "disable", "qdkf") == 0
    capsys.readouterr()
    assert users(monkeypatch, "list") == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split() == ["NAME", "ROLE", "CUSTOMER", "DISPLAY", "NAME"]
    assert listed[1].split() == ["qdkf", "customer", "qingdao-ciq", "disabled"]
    assert listed[2].split() == ["zhang", "duty", "张工"]
    assert users(monkeypatch, "audit") == 0
    audit = [line.split()[2:5] for line in capsys.readouterr().out.splitlines()[1:]]
    assert audit == [["cli:ops", "disable", "qdkf"], ["cli:ops", "passwd", "zhang"],
                     ["cli:ops", "user_add", "qdkf"], ["cli:ops", "user_add", "zhang"]]


def test_tokens_add_list_revoke(database: str, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert users(monkeypatch, "add", "zhang", "--role", "duty", "--password-stdin",
                 stdin="correct horse battery\n") == 0
    capsys.readouterr()
    assert main(["tokens", "add", "--user", "zhang", "--name", "grafana", "--scope",
                 "read"]) == 0
    out, err = capsys.readouterr()
    assert re.fullmatch(r"svm_[A-Za-z0-9_-]{43}\n", out)  # stdout: the token alone
    assert "shown this once" in err
    assert main(["tokens", "add", "--user", "zhang", "--scope", "admin"]) == 1
    assert "may not hold scope admin" in capsys.readouterr().err
    assert main(["tokens", "add", "--user", "zhang"]) == 0  # default: what the role allows
    capsys.readouterr()
    assert main(["tokens", "revoke", "--id", "1"]) == 0
    assert main(["tokens", "revoke", "--id", "1"]) == 1
    assert "no live token 1" in capsys.readouterr().err
    assert main(["tokens", "list"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert rows[0][:4] == ["1", "zhang", "grafana", "read"] and rows[0][-1] == "revoked"
    assert rows[1][:4] == ["2", "zhang", "api", "read,work"] and "revoked" not in rows[1]


def test_tables_align_chinese_by_display_width() -> None:
    """A CJK character takes two columns: the next column starts at the same place."""
    text = table(("SITE", "STATE"), [("青岛港监控室", "ok"), ("jn", "down"),
                                     ("济南", "ok")])
    starts = [width(line[:line.rindex(" ") + 1]) for line in text.splitlines()]
    assert len(set(starts)) == 1, text


def test_monitor_parts(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parts", "add", "PSU-1", "--name", "电源适配器", "--location", "济南备件库"]) == 0
    assert main(["parts", "add", "PSU-1", "--name", "x", "--location", "y"]) == 1
    assert "in the log" in capsys.readouterr().err
    assert main(["parts", "move", "1", "--kind", "loaned", "--to", "qd-port"]) == 0
    assert main(["parts", "move", "1", "--kind", "loaned", "--to", "qd-port"]) == 1
    assert "is loaned: cannot be loaned" in capsys.readouterr().err
    assert main(["parts", "list"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[1].split() == ["1", "PSU-1", "电源适配器", "loaned", "qd-port"]
    assert main(["parts", "history", "1"]) == 0
    moves = [line.split()[2] for line in capsys.readouterr().out.splitlines()[1:]]
    assert moves == ["received", "loaned"]
    with pytest.raises(SystemExit):
        main(["parts", "add", "PSU-2"])
    assert "needs --name and --location" in capsys.readouterr().err


def test_the_rosters_people_become_desk_users(
        database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    roster = Path(__file__).parent / "alerts" / "roster.yaml"  # wang, li, zhao; chen supervises
    settings = tmp_path / "monitor.toml"
    settings.write_text(f'inventory = "{tmp_path / "none.yaml"}"\n')
    assert main(["--settings", str(settings), "users", "from-roster"]) == 1
    assert "no roster" in capsys.readouterr().err
    settings.write_text(f'inventory = "{tmp_path / "none.yaml"}"\n[alerts]\nroster = "{roster}"\n')
    assert users(monkeypatch, "add", "wang", "--role", "duty", "--password-stdin",
                 stdin="correct horse battery\n") == 0  # already a user: left as it is
    capsys.readouterr()
    assert main(["--settings", str(settings), "users", "from-roster", "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "would add li (duty, 李工)", "would add zhao (duty, 赵工)",
        "would add chen (supervisor, 陈经理)"]
    assert users(monkeypatch, "list") == 0
    assert "li " not in capsys.readouterr().out  # a dry run adds nobody
    assert main(["--settings", str(settings), "users", "from-roster"]) == 0
    assert "user chen added (supervisor, 陈经理)" in capsys.readouterr().out
    assert users(monkeypatch, "list") == 0
    listed = capsys.readouterr().out
    assert re.search(r"^chen\s+supervisor\s+陈经理", listed, re.M)
    assert re.search(r"^zhao\s+duty\s+赵工", listed, re.M)
    assert main(["--settings", str(settings), "users", "from-roster"]) == 0
    assert "is a desk user" in capsys.readouterr().out  # twice: nothing more to do
    assert users(monkeypatch, "audit", "chen") == 0
    assert re.search(r"cli:ops\s+user_add\s+chen", capsys.readouterr().out)
