"""The web app learns an uploaded painting as a new fast style, in its own lane, with progress and
cancel; the style is listed with its thumbnail, survives a restart, takes fast jobs and can be
deleted; the token guards all of it."""

import io
import time

import httpx
import numpy as np
import pytest
from PIL import Image

AUTH = {"Authorization": "Bearer s3cret"}


def png(array) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def painting() -> bytes:
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, ::4] = (200, 30, 30)
    return png(image)




@pytest.mark.slow
def test_learn_a_painting_list_it_after_a_restart_use_and_delete_it(tmp_path, start_server, free_port, photos, wait_job):
    port = free_port()
    options = ("--train-data", str(photos), "--token", "s3cret")
    server = start_server(tmp_path / "data", port, *options)
    base = f"http://127.0.0.1:{port}"
    form = {"files": {"painting": ("stripes.png", painting())}, "data": {"name": "stripes", "iterations": "3"}}
    assert httpx.post(f"{base}/api/styles", **form).status_code == 401  # the token guards learning too
    job = httpx.post(f"{base}/api/styles", headers=AUTH, **form)
    assert job.status_code == 200, job.text
    # a fast job meanwhile is not held up by the learning lane
    fast = httpx.post(f"{base}/api/jobs", headers=AUTH, files={"photo": ("p.png", png(np.full((48, 64, 3), 90, np.uint8)))},
                      data={"style": "mosaic"}).json()
    assert wait_job(httpx.Client(base_url=base, headers=AUTH), fast["id"])["status"] == "done"
    learned = wait_job(httpx.Client(base_url=base, headers=AUTH), job.json()["id"])
    assert learned["status"] == "done", learned
    assert learned["progress"]["iterations"] == 3
    server.terminate()
    server.wait(timeout=60)
    start_server(tmp_path / "data", port, *options)
    styles = {s["name"]: s for s in httpx.get(f"{base}/api/styles", headers=AUTH).json()}
    assert styles["stripes"]["learned"] is True and styles["mosaic"]["learned"] is False
    thumbnail = httpx.get(base + styles["stripes"]["painting"], headers=AUTH)
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
    used = httpx.post(f"{base}/api/jobs", headers=AUTH, files={"photo": ("p.png", png(np.full((48, 64, 3), 90, np.uint8)))},
                      data={"style": "stripes"}).json()
    assert wait_job(httpx.Client(base_url=base, headers=AUTH), used["id"])["status"] == "done"
    assert httpx.delete(f"{base}/api/styles/mosaic", headers=AUTH).status_code == 409  # shipped: stays
    assert httpx.delete(f"{base}/api/styles/stripes", headers=AUTH).json() == {"deleted": "stripes"}
    assert "stripes" not in {s["name"] for s in httpx.get(f"{base}/api/styles", headers=AUTH).json()}


@pytest.mark.slow
def test_a_learning_job_cancels_and_bad_requests_are_clear(tmp_path, start_server, free_port, photos, wait_job):
    port = free_port()
    start_server(tmp_path / "data", port, "--train-data", str(photos))
    base = f"http://127.0.0.1:{port}"
    job = httpx.post(f"{base}/api/styles", files={"painting": ("s.png", painting())},
                     data={"name": "slow", "iterations": "2000"}).json()
    deadline = time.monotonic() + 60
    while httpx.get(f"{base}/api/jobs/{job['id']}").json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert httpx.post(f"{base}/api/jobs/{job['id']}/cancel").status_code == 200
    assert wait_job(httpx.Client(base_url=base, headers=AUTH), job["id"])["status"] == "cancelled"
    assert "slow" not in {s["name"] for s in httpx.get(f"{base}/api/styles").json()}
    for data, code in (({"name": "mosaic"}, 400), ({"name": "Bad Name!"}, 400), ({"name": "ok", "iterations": "0"}, 422)):
        response = httpx.post(f"{base}/api/styles", files={"painting": ("s.png", painting())}, data=data)
        assert response.status_code == code, response.text
