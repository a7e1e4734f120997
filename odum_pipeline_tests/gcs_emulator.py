"""A local GCS for the tests: ``gcp-storage-emulator`` on 127.0.0.1 (a free port), in memory.

The ``gcs_emulator`` fixture starts it once per session, points ``STORAGE_EMULATOR_HOST`` at it
(dagster-gcp's unmodified ``GCSResource`` and gcsfs both honour it) and stops it at the end.
It runs through :mod:`.gcs_emulator_preconditions`, which adds the generation preconditions
(``ifGenerationMatch``) the emulator lacks. ``gcs_bucket`` gives each test a fresh bucket; ``upload_tree`` copies a local raw root into one.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

#: Starts the emulator with GCS's ifGenerationMatch checks, which the catalog's lock object needs.
PRECONDITIONS_LAUNCHER = Path(__file__).with_name("gcs_emulator_preconditions.py")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gcp-storage-emulator exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"gcp-storage-emulator did not listen on 127.0.0.1:{port} within {timeout}s")


@contextlib.contextmanager
def running_emulator():
    """Start ``gcp-storage-emulator`` on a free port, set ``STORAGE_EMULATOR_HOST``; stop and restore on exit."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, str(PRECONDITIONS_LAUNCHER), "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    previous = {name: os.environ.get(name) for name in ("STORAGE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT")}
    try:
        _wait_until_up(port, process)
        host = f"http://127.0.0.1:{port}"
        os.environ["STORAGE_EMULATOR_HOST"] = host
        os.environ["GOOGLE_CLOUD_PROJECT"] = "odum-test"
        yield host
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def gcs_emulator():
    """``http://127.0.0.1:PORT`` of a running emulator; ``STORAGE_EMULATOR_HOST`` set for the session."""
    pytest.importorskip("gcp_storage_emulator", reason="pip install gcp-storage-emulator (the 'test' extra)")
    pytest.importorskip("gcsfs", reason="pip install gcsfs")
    with running_emulator() as host:
        yield host


@pytest.fixture
def gcs_client(gcs_emulator):
    from dagster_gcp import GCSResource

    return GCSResource(project="odum-test").get_client()


@pytest.fixture
def gcs_bucket(gcs_client) -> str:
    """A fresh, empty bucket's name."""
    name = f"odum-{uuid.uuid4().hex[:10]}"
    gcs_client.create_bucket(name)
    return name


def upload_tree(client, bucket: str, local_root: Path, prefix: str = "") -> int:
    """Upload every file under ``local_root`` to ``gs://bucket/prefix/...``; returns the bytes uploaded."""
    total = 0
    target = client.bucket(bucket)
    for path in sorted(Path(local_root).rglob("*")):
        if path.is_file():
            name = "/".join(p for p in (prefix.strip("/"), path.relative_to(local_root).as_posix()) if p)
            target.blob(name).upload_from_filename(str(path))
            total += path.stat().st_size
    return total
