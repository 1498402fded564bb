"""The server's data folder and its life: bad folders and databases are one line, a folder serves
one server, Ctrl-C stops cleanly with the running job queued again."""

import io
import signal
import sqlite3
import time

import httpx
import pytest
from PIL import Image

from impasto.cli import main


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("where", ["proc", "file", "corrupt"])
def test_a_data_folder_it_cannot_use_is_one_line(tmp_path, capsys, where):
    data = {"proc": "/proc/impasto-data", "file": str(tmp_path / "a-file"), "corrupt": str(tmp_path / "d")}[where]
    if where == "file":
        (tmp_path / "a-file").write_text("not a folder")
    if where == "corrupt":
        (tmp_path / "d").mkdir()
        (tmp_path / "d" / "jobs.sqlite3").write_bytes(b"this is not a database" * 100)
    assert main(["serve", "--data", data, "--port", "0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and err[-1].startswith("impasto: error:") and "Traceback" not in "".join(err)
    if where == "corrupt":
        assert "move it aside" in err[-1]
        assert (tmp_path / "d" / "jobs.sqlite3").read_bytes().startswith(b"this is not a database")  # kept


@pytest.mark.slow
def test_two_servers_cannot_share_a_data_folder(tmp_path, start_server, free_port, capsys):
    start_server(tmp_path / "data", free_port())
    assert main(["serve", "--data", str(tmp_path / "data"), "--port", str(free_port())]) == 1
    assert "another impasto server uses the data folder" in capsys.readouterr().err


@pytest.mark.slow
def test_ctrl_c_with_a_job_running_stops_cleanly_and_requeues_it(tmp_path, start_server, free_port):
    port = free_port()
    server = start_server(tmp_path / "data", port)
    base = f"http://127.0.0.1:{port}"
    job = httpx.post(f"{base}/api/jobs", files={"photo": ("p.png", png())},
                     data={"style": "mosaic", "method": "best", "size": "48", "iterations": "2000"}).json()
    deadline = time.monotonic() + 60
    while httpx.get(f"{base}/api/jobs/{job['id']}").json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    server.send_signal(signal.SIGINT)
    code = server.wait(timeout=60)
    err = server.stderr.read().decode()
    assert code == 0, err
    assert "terminate called" not in err and "Traceback" not in err
    with sqlite3.connect(tmp_path / "data" / "jobs.sqlite3") as db:
        assert db.execute("SELECT status FROM jobs WHERE id = ?", (job["id"],)).fetchone()[0] == "queued"
