"""Local bad inputs through the CLI: what cannot be read becomes a `not-analysed` finding and
the scan goes on (exit 0); what cannot be scanned at all is one line and exit 2."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest


def _release(root: Path) -> Path:
    root.mkdir()
    (root / "README.md").write_text("---\nlicense: mit\n---\n")
    (root / "model.py").write_text("import os\n")
    return root


def _scan(cli, root: Path, tmp_path: Path) -> tuple[dict, str]:
    out = tmp_path / "out.json"
    proc = cli("scan", str(root), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(out.read_text()), proc.stdout


def _not_analysed(doc: dict) -> dict[str, str]:
    return {
        f["location"].get("path"): f["message"]
        for f in doc["findings"]
        if f["kind"] == "not-analysed"
    }


def test_symlink_out_of_the_folder_is_a_finding_and_the_scan_goes_on(cli, tmp_path: Path) -> None:
    root = _release(tmp_path / "rel")
    (tmp_path / "secret").write_text("outside the release")
    os.symlink(tmp_path / "secret", root / "leak")
    os.symlink("/nonexistent/target", root / "dangling")
    doc, stdout = _scan(cli, root, tmp_path)
    reasons = _not_analysed(doc)
    assert "outside" in reasons["leak"] and "dangling" in reasons["dangling"]
    assert {f["path"] for f in doc["files"]} == {"README.md", "model.py"}
    assert "leak" in stdout  # the summary names it too


def test_unreadable_special_files_are_findings(cli, tmp_path: Path) -> None:
    """A FIFO would block a reader forever and a socket has no content: both are listed as
    not analysed, never opened, and the rest of the release is scanned."""
    root = _release(tmp_path / "rel")
    os.mkfifo(root / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    sock_path = root / "sock"
    try:
        sock.bind(str(sock_path))
    except OSError:  # some filesystems refuse sockets; the FIFO still tests the path
        sock.close()
        sock = None  # type: ignore[assignment]
    try:
        doc, _ = _scan(cli, root, tmp_path)
    finally:
        if sock is not None:
            sock.close()
    reasons = _not_analysed(doc)
    assert "not a regular file" in reasons["pipe"]
    if sock is not None:
        assert "not a regular file" in reasons["sock"]
    assert {f["path"] for f in doc["files"]} == {"README.md", "model.py"}
    assert doc["card"]["license"] == "mit"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_file_without_read_permission_is_a_finding(cli, tmp_path: Path) -> None:
    root = _release(tmp_path / "rel")
    locked = root / "locked.py"
    locked.write_text("x = 1\n")
    locked.chmod(0)
    try:
        doc, _ = _scan(cli, root, tmp_path)
    finally:
        locked.chmod(0o600)
    assert "unreadable" in _not_analysed(doc)["locked.py"]


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: p, "no such file or folder"),
        (lambda p: (p.write_text("x"), p)[1], "not a folder"),
    ],
)
def test_target_that_cannot_be_scanned_is_one_line(cli, tmp_path: Path, make, words: str) -> None:
    target = make(tmp_path / "thing")
    proc = cli("scan", str(target))
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and words in proc.stderr
    assert "Traceback" not in proc.stderr
