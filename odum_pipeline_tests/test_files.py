"""The one atomic local write and the one history keeper every config, algorithm, summary, TCA and report uses."""

from __future__ import annotations

import datetime as dt
import errno

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from odum_pipeline.files import atomic_write, keep_previous


def test_a_failed_write_keeps_the_old_file_whole_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "deep" / "summary.json"
    atomic_write(target, '{"old": true}')

    def disk_full(temporary: str) -> None:
        open(temporary, "wb").write(b"{half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic_write(target, disk_full)
    assert target.read_text() == '{"old": true}'
    assert [p.name for p in target.parent.iterdir()] == ["summary.json"]


def test_a_writer_function_gets_the_temporary_path_and_read_only_is_kept(tmp_path):
    table = pa.table({"x": [1, 2, 3]})
    written = atomic_write(tmp_path / "t.parquet", lambda temporary: pq.write_table(table, temporary), read_only=True)
    assert pq.read_table(written).equals(table)
    assert written.stat().st_mode & 0o777 == 0o444


def test_the_previous_version_is_kept_under_its_time_and_version(tmp_path):
    current = tmp_path / "twap.py"
    current.write_text("v1")
    kept = keep_previous(current, tmp_path / ".history" / "twap", "abc123", now=dt.datetime(2026, 1, 2, 3, 4, 5, 6, dt.UTC))
    assert kept == tmp_path / ".history" / "twap" / "20260102T030405000006Z_abc123.py"
    assert kept.read_text() == "v1" and current.read_text() == "v1"
