"""Render a received email's HTML body to a PNG with headless Chromium, as a mail client would show it.

Usage: ``python scripts/render_email.py [MESSAGE] [-o report.png] [--width 760] [--height 900]``

``MESSAGE`` is an ``.eml`` file or a Maildir folder (its newest message); the default is ``.demo/maildir``,
where ``make demo`` (``scripts/demo.py``) stores the report example's email. The HTML part is written to a
temporary page with its inline images (``cid:`` references, RFC 2392) turned into ``data:`` URLs, under a
header with the subject, sender and attachments, and Chromium (Debian's ``chromium``: ``apt-get install
chromium``) takes a screenshot of it with networking disabled. Nothing is fetched: remote images stay blank.
"""

from __future__ import annotations

import argparse
import base64
import email
import email.policy
import html
import mailbox
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_TIMEOUT = 120  # seconds
_CID = re.compile(r"""(src\s*=\s*["'])cid:([^"']+)(["'])""", re.IGNORECASE)
_BODY = re.compile(r"<body[^>]*>", re.IGNORECASE)


def newest_message(path: Path) -> bytes:
    """The bytes of ``path`` (an ``.eml``), or of the newest message in the Maildir ``path``."""
    if path.is_file():
        return path.read_bytes()
    box = mailbox.Maildir(path, create=False)
    files = [path / sub / key for key in box.iterkeys() for sub in ("new", "cur") if (path / sub / key).exists()]
    if not files:
        raise SystemExit(f"No message in {path}: run `make demo` first, or name an .eml file.")
    return max(files, key=lambda f: f.stat().st_mtime).read_bytes()


def page_of(raw: bytes) -> str:
    """The message's HTML with its ``cid:`` images inlined as ``data:`` URLs, under a header of its envelope."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    body = message.get_body(("html",))
    if body is None:
        raise SystemExit("The message has no HTML part.")
    parts = {str(p["Content-ID"]).strip("<> "): p for p in message.walk() if p.get("Content-ID")}

    def data_url(match: re.Match[str]) -> str:
        part = parts.get(match.group(2).strip())
        if part is None:
            return match.group(0)  # left as it is: shows as a broken image, which is what a reader would see
        payload = base64.b64encode(part.get_payload(decode=True)).decode("ascii")
        return f"{match.group(1)}data:{part.get_content_type()};base64,{payload}{match.group(3)}"

    content = _CID.sub(data_url, body.get_content())
    names = [p.get_filename() for p in message.iter_attachments() if p.get_filename() and not p.get("Content-ID")]
    header = (
        '<div style="font-family:Arial,Helvetica,sans-serif;font-size:13px;line-height:19px;color:#1f2328;'
        'background:#f6f8fa;border-bottom:1px solid #d0d7de;padding:10px 16px;margin:0 0 16px 0">'
        f"<div><b>{html.escape(str(message['Subject']))}</b></div>"
        f"<div>From {html.escape(str(message['From']))} to {html.escape(str(message['To']))}</div>"
        f"<div>Attachments: {html.escape(', '.join(names) or '(none)')}</div></div>"
    )
    match = _BODY.search(content)
    if match is None:
        return f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{header}{content}</body></html>'
    return content[: match.end()] + header + content[match.end() :]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("No Chromium found: apt-get install chromium (Debian's package).")


def screenshot(page: str, output: Path, width: int, height: int) -> None:
    """Write ``page`` to a temporary file and have headless Chromium screenshot it into ``output``."""
    with tempfile.TemporaryDirectory(prefix="smtpconn-render-") as tmp:
        source = Path(tmp, "message.html")
        source.write_text(page, encoding="utf-8")
        command = [
            chromium(),
            "--headless",
            "--no-sandbox",  # running as root (CI, containers) requires it; the page is our own file
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--proxy-server=127.0.0.1:9",  # nothing is fetched: any remote reference fails at once
            f"--user-data-dir={tmp}/profile",
            f"--window-size={width},{height}",
            f"--screenshot={output.resolve()}",
            source.as_uri(),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT, check=False)
        if result.returncode != 0 or not output.exists():
            raise SystemExit(f"Chromium failed ({result.returncode}):\n{result.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("message", nargs="?", type=Path, default=REPO / ".demo" / "maildir")
    parser.add_argument("-o", "--output", type=Path, default=REPO / ".demo" / "report.png")
    parser.add_argument("--width", type=int, default=760, help="window width in pixels (default 760)")
    parser.add_argument("--height", type=int, default=900, help="window height in pixels (default 900)")
    args = parser.parse_args(argv)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.unlink(missing_ok=True)
    screenshot(page_of(newest_message(args.message)), args.output, args.width, args.height)
    print(f"Wrote {args.output} ({args.output.stat().st_size:,} bytes).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
