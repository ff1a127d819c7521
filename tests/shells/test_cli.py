"""The ``smtpconn`` command: the sink as a real subprocess on loopback, ``check`` and ``send-test`` against the test
server, and the exit codes (0 worked, 1 failed, 2 bad arguments)."""

from __future__ import annotations

import email
import email.policy
import mailbox
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_provider_smtpconn.cli import main

SMTPCONN = Path(sys.executable).with_name("smtpconn")
COMMAND = [str(SMTPCONN)] if SMTPCONN.exists() else [sys.executable, "-m", "airflow_provider_smtpconn.cli"]


class Sink:
    """``smtpconn sink`` in a subprocess on 127.0.0.1 and a free port; its stdout lines are collected."""

    def __init__(self, maildir: Path, *args: str) -> None:
        self.maildir = maildir
        self.process = subprocess.Popen(
            [*COMMAND, "sink", "--host", "127.0.0.1", "--port", "0", "--maildir", str(maildir), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        banner = self.next_line(30.0)
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", banner)
        if not match:
            self.stop()
            raise AssertionError(f"the sink did not start: {banner!r} {self.seen}")
        self.host, self.port = "127.0.0.1", int(match.group(1))

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def next_line(self, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            return line
        raise AssertionError(f"no output from the sink within {timeout} s; so far: {self.seen}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(10.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10.0)
                raise AssertionError("the sink did not stop within 10 s of the signal") from None
        return self.process.returncode

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop(signal.SIGKILL)


def stored_messages(maildir: Path) -> list[email.message.EmailMessage]:
    box = mailbox.Maildir(maildir, create=False)
    return [email.message_from_bytes(box.get_bytes(key), policy=email.policy.default) for key in sorted(box.keys())]


def hook_send(conn_id: str, **spec):
    from support.messages import composed

    from airflow_provider_smtpconn.hooks.smtp import SmtpConnHook

    return SmtpConnHook(smtp_conn_id=conn_id).send(composed(**spec))


# -- sink -----------------------------------------------------------------------------------------------------


def test_sink_stores_in_a_maildir_and_prints_a_line_per_message(tmp_path, smtp_conn):
    maildir = tmp_path / "mail"
    with Sink(maildir) as sink:
        smtp_conn(sink)
        result = hook_send(
            "smtpconn_default",
            to="Jane <jane@example.org>",
            bcc="hidden@example.org",
            subject="Daily report ✓",
            text="See attached.",
            attachments={"report.csv": [["region", "n"], ["North", 3]], "notes.txt": "ok"},
        )
        line = sink.next_line()
        assert sink.stop(signal.SIGTERM) == 0
        assert sink.next_line() == "smtpconn sink stopped after 1 message(s)."

    assert result.accepted == ["jane@example.org", "hidden@example.org"]
    (stored,) = stored_messages(maildir)
    assert stored["Subject"] == "Daily report ✓"
    assert stored["Message-ID"] == result.message_id
    assert stored["Return-Path"] == "<airflow@example.org>"
    assert stored["X-Smtpconn-Envelope-To"] == "jane@example.org, hidden@example.org"  # Bcc kept in the envelope
    assert "Bcc" not in stored
    files = {part.get_filename(): part.get_payload(decode=True) for part in stored.iter_attachments()}
    assert files == {"report.csv": b"region,n\r\nNorth,3\r\n", "notes.txt": b"ok"}
    (path,) = (maildir / "new").iterdir()
    assert line == (
        'from=airflow@example.org to=jane@example.org,hidden@example.org subject="Daily report ✓" '
        f"attachments=report.csv, notes.txt size={result.size_bytes} stored={path}"
    )


def test_sink_with_starttls_and_auth(tmp_path, ca, ca_pem_path, smtp_conn):
    from airflow_provider_smtpconn.exceptions import SmtpAuthError

    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    tls_args = ["--tls-cert", str(tmp_path / "cert.pem"), "--tls-key", str(tmp_path / "key.pem")]
    with Sink(tmp_path / "mail", *tls_args, "--auth", "alice:s3cret-pw") as sink:
        assert "STARTTLS offered, AUTH required for 'alice'" in sink.seen[0]
        tls = {"tls_mode": "starttls", "ca_bundle": ca_pem_path}
        smtp_conn(sink, conn_id="good", login="alice", password="s3cret-pw", **tls)
        smtp_conn(sink, conn_id="wrong", login="alice", password="not-the-pw", **tls)
        smtp_conn(sink, conn_id="anonymous", **tls)

        hook_send("good", to="a@example.org", subject="over TLS")
        assert 'subject="over TLS"' in sink.next_line()
        with pytest.raises(SmtpAuthError):
            hook_send("wrong", to="a@example.org", subject="wrong password")
        with pytest.raises(Exception, match="530"):  # auth required
            hook_send("anonymous", to="a@example.org", subject="no login")
        assert sink.stop(signal.SIGINT) == 0  # Ctrl-C stops it cleanly too
    assert [m["Subject"] for m in stored_messages(tmp_path / "mail")] == ["over TLS"]


def test_sink_accepts_xoauth2_so_token_sources_can_be_tried_locally(tmp_path, smtp_conn):
    from airflow_provider_smtpconn.exceptions import SmtpAuthError

    with Sink(tmp_path / "mail", "--auth", "reports@example.org:token-123") as sink:
        xoauth2 = {"auth_type": "xoauth2", "from_email": "reports@example.org"}
        smtp_conn(sink, conn_id="good", login="reports@example.org", access_token="token-123", **xoauth2)
        smtp_conn(sink, conn_id="stale", login="reports@example.org", access_token="token-old", **xoauth2)
        hook_send("good", to="a@example.org", subject="with a token")
        assert 'subject="with a token"' in sink.next_line()
        with pytest.raises(SmtpAuthError, match="XOAUTH2"):
            hook_send("stale", to="a@example.org", subject="old token")
    assert [m["Subject"] for m in stored_messages(tmp_path / "mail")] == ["with a token"]


def test_sink_line_escapes_attachment_names_and_an_existing_maildir_is_completed(tmp_path, smtp_conn):
    maildir = tmp_path / "mail"
    maildir.mkdir()  # an empty folder the user made: tmp/, new/ and cur/ are added
    with Sink(maildir) as sink:
        smtp_conn(sink)
        hook_send("smtpconn_default", to="a@example.org", subject="s", attachments={'say "hi".txt': "x"})
        line = sink.next_line()
    assert 'attachments=say \\"hi\\".txt size=' in line
    assert len(stored_messages(maildir)) == 1


def test_sink_without_aiosmtpd_says_what_to_install(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "aiosmtpd", None)  # import fails as if not installed
    assert main(["sink", "--maildir", str(tmp_path / "m")]) == 1
    assert "airflow-provider-smtpconn[dev]" in capsys.readouterr().err


def test_sink_reports_a_port_in_use(capsys, tmp_path, smtp_server):
    assert main(["sink", "--port", str(smtp_server.port), "--maildir", str(tmp_path / "m")]) == 1
    assert f"Cannot listen on 127.0.0.1:{smtp_server.port}" in capsys.readouterr().err


def test_the_sink_escapes_attachment_names_in_its_line(tmp_path):
    from airflow_provider_smtpconn.cli.sink import describe_message

    data = (
        b"From: a@example.org\r\nTo: b@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b\r\n'
        b"Content-Type: text/plain\r\nContent-Disposition: attachment; filename*=utf-8''a%0Astored%3D%2Fetc\r\n\r\n"
        b"y\r\n--b--\r\n"
    )
    line = describe_message(data, "a@example.org", ["b@example.org"])
    assert "\n" not in line and "a\\nstored=/etc" in line


# -- check ----------------------------------------------------------------------------------------------------


def test_check_succeeds_against_a_server(smtp_server, smtp_conn, capsys):
    smtp_conn(smtp_server)
    assert main(["check", "smtpconn_default"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"OK: Reached 127.0.0.1:{smtp_server.port} with no TLS")
    assert smtp_server.connections == 1
    assert "NOOP" in smtp_server.commands
    assert smtp_server.messages == []  # a check sends no mail


def test_check_fails_with_exit_1_against_a_closed_port(free_port, smtp_conn, capsys):
    smtp_conn(SimpleNamespace(host="127.0.0.1", port=free_port), retry_limit=0)
    assert main(["check", "smtpconn_default"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("FAILED: ")
    assert str(free_port) in err


def test_check_of_an_unknown_connection_fails(capsys):
    assert main(["check", "no_such_conn"]) == 1
    assert "no_such_conn" in capsys.readouterr().err


def test_console_script_exit_codes(smtp_server, smtp_conn, free_port):
    """The installed ``smtpconn`` script itself, in a subprocess: 0 for a working connection, 1 for a closed port."""
    smtp_conn(smtp_server, conn_id="works")
    smtp_conn(SimpleNamespace(host="127.0.0.1", port=free_port), conn_id="closed", retry_limit=0)
    env = dict(os.environ)
    ok = subprocess.run([*COMMAND, "check", "works"], env=env, capture_output=True, text=True, timeout=120)
    bad = subprocess.run([*COMMAND, "check", "closed"], env=env, capture_output=True, text=True, timeout=120)
    assert (ok.returncode, bad.returncode) == (0, 1), (ok.stderr[-2000:], bad.stderr[-2000:])
    assert "OK: Reached" in ok.stdout
    assert "FAILED: " in bad.stderr


# -- send-test ------------------------------------------------------------------------------------------------


def test_send_test_delivers_and_prints_the_result(smtp_server, smtp_conn, capsys):
    smtp_conn(smtp_server)
    code = main(["send-test", "smtpconn_default", "--to", "me@example.org", "--to", "you@example.org"])
    out = capsys.readouterr().out

    assert code == 0
    (received,) = smtp_server.messages
    assert received.rcpt_tos == ["me@example.org", "you@example.org"]
    assert received.mail_from == "airflow@example.org"
    assert received.message["Subject"] == "smtpconn test email"
    assert "smtpconn_default" in received.message.get_content()
    assert f"Message-ID: {received.message_id}\n" in out
    assert "Accepted:   me@example.org, you@example.org\n" in out
    assert "Refused:    (none)\n" in out


def test_send_test_exits_1_when_a_recipient_is_refused(smtp_server, smtp_conn, capsys):
    smtp_conn(smtp_server)
    smtp_server.reply("RCPT", "550 5.1.1 No such user", times=None, address="ghost@example.org")
    code = main(["send-test", "smtpconn_default", "--to", "me@example.org", "--to", "ghost@example.org"])
    out = capsys.readouterr().out

    assert code == 1
    (received,) = smtp_server.messages
    assert received.rcpt_tos == ["me@example.org"]
    assert "Refused:    ghost@example.org (550 5.1.1 No such user)" in out


def test_send_test_fails_with_exit_1_against_a_closed_port(free_port, smtp_conn, capsys):
    smtp_conn(SimpleNamespace(host="127.0.0.1", port=free_port), retry_limit=0)
    assert main(["send-test", "smtpconn_default", "--to", "me@example.org"]) == 1
    assert capsys.readouterr().err.startswith("FAILED: SmtpNetworkError")


# -- arguments ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["serve"], "invalid choice: 'serve'"),
        (["sink", "--port", "70000"], "70000 is not a port number"),
        (["sink", "--port", "smtp"], "'smtp' is not a port number"),
        (["sink", "--auth", "alice"], "'alice' is not USER:PASS"),
        (["sink", "--tls-cert", "cert.pem"], "--tls-cert and --tls-key go together"),
        (["sink", "--implicit-tls"], "--implicit-tls needs --tls-cert and --tls-key"),
        (["sink", "--tls-cert", "/no/cert.pem", "--tls-key", "/no/key.pem"], "cannot load --tls-cert"),
        (["check"], "the following arguments are required: CONN_ID"),
        (["send-test", "smtpconn_default"], "the following arguments are required: --to"),
        (["send-test", "smtpconn_default", "--to", "not-an-address"], "--to has invalid address"),
        (["send-test", "c", "--to", "a@example.org", "--from", "a@b@c"], "--from has invalid address"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exc_info:
        main(argv)
    assert exc_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--help"], ["sink", "--help"], ["check", "--help"], ["send-test", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as exc_info:
        main(argv)
    assert exc_info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: smtpconn")


def test_help_imports_neither_airflow_nor_aiosmtpd():
    code = (
        "import sys\nfrom airflow_provider_smtpconn.cli import main\n"
        "try:\n    main(['sink', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('airflow', 'aiosmtpd') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_check_and_send_test_find_a_connection_stored_in_the_metadata_db(smtp_server, airflow_db):
    """A connection made in the UI lives in the metadata DB; from a shell the command reads it as
    ``airflow connections get`` does."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    extra = '{"tls_mode": "none", "from_email": "db@example.org", "retry_wait": 0}'
    with create_session() as session:
        session.add(
            Connection(conn_id="in_db", conn_type="smtpconn", host="127.0.0.1", port=smtp_server.port, extra=extra)
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    checked = subprocess.run([*COMMAND, "check", "in_db"], env=env, capture_output=True, text=True, timeout=120)
    sent = subprocess.run([*COMMAND, "send-test", "in_db", "--to", "me@example.org"], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert checked.returncode == 0, checked.stderr[-2000:]
    assert sent.returncode == 0, sent.stderr[-2000:]
    (received,) = smtp_server.messages
    assert (received.mail_from, received.rcpt_tos) == ("db@example.org", ["me@example.org"])
