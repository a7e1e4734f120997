"""A local working copy of a ``gs://`` results root, for the comparison report.

The comparison (TCA, ranking, charts, HTML) works on report-run folders on local disk. For a
results root in GCS, :func:`working_copy` downloads what it reads (every run's ``summary.json``;
the data files only of the runs of the requested config), and on a clean exit uploads what it
wrote: ``tca.parquet`` before the ``summary.json`` whose ``tca`` section points at it, then the
HTML reports. Each upload is one object create, so a reader sees the old or the new file whole.
A local results root is used in place (nothing copied).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from odum_pipeline.backtests.run_folder import COMPARED_FILES, REPORT_DIR, SUMMARY_FILE
from odum_pipeline.gcs import check_remote_root, filesystem, is_remote
from odum_pipeline.reports.report_runs import config_name


@dataclass
class WorkingCopy:
    """``root``: the local folder to work in; ``location_of`` maps a path in it to where it lives."""

    root: Path
    remote: str | None = None
    _snapshot: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def location_of(self, local_path: Path) -> Path | str:
        if self.remote is None:
            return local_path
        return f"{self.remote}/{Path(local_path).relative_to(self.root).as_posix()}"

    def changed_files(self) -> list[Path]:
        """Files written since the download: data files first, then summaries, then the rest."""
        changed = [p for p in self.root.rglob("*") if p.is_file() and self._snapshot.get(p) != _stamp(p)]
        return sorted(changed, key=lambda p: (p.parent.parent.name != REPORT_DIR, p.name == SUMMARY_FILE, str(p)))


@contextmanager
def working_copy(results_root: str | Path, *, config: str | None = None) -> Iterator[WorkingCopy]:
    """The results root as a local folder (see the module doc); ``config`` limits the data files fetched."""
    if not is_remote(results_root):
        yield WorkingCopy(Path(results_root))
        return
    remote = str(results_root).rstrip("/")
    check_remote_root(remote)
    with tempfile.TemporaryDirectory(prefix="odum-results-") as folder:
        copy = WorkingCopy(Path(folder), remote)
        _download(copy, config)
        copy._snapshot = {p: _stamp(p) for p in copy.root.rglob("*") if p.is_file()}
        yield copy
        _upload(copy)


def _download(copy: WorkingCopy, config: str | None) -> None:
    fs = filesystem()
    summaries = fs.glob(f"{copy.remote}/{REPORT_DIR}/*/{SUMMARY_FILE}")
    wanted = []
    for remote_path, content in (fs.cat(summaries) if summaries else {}).items():
        run_id = remote_path.rstrip("/").split("/")[-2]
        local_dir = copy.root / REPORT_DIR / run_id
        local_dir.mkdir(parents=True, exist_ok=True)
        (local_dir / SUMMARY_FILE).write_bytes(content)
        if config is None or _config_name(content) == config:
            wanted.append(run_id)
    _download_run_files(fs, copy, wanted)


def _download_run_files(fs, copy: WorkingCopy, run_ids: list[str]) -> None:
    """The compared files (``run_folder.COMPARED_FILES``) the runs have (older runs lack ``parents``/``tca``), in one batch."""
    present = {_strip(p) for p in fs.glob(f"{copy.remote}/{REPORT_DIR}/*/*.parquet")}
    pairs = [
        (f"{copy.remote}/{REPORT_DIR}/{run_id}/{name}", str(copy.root / REPORT_DIR / run_id / name))
        for run_id in run_ids
        for name in COMPARED_FILES
    ]
    pairs = [(source, target) for source, target in pairs if _strip(source) in present]
    if pairs:
        fs.get([source for source, _ in pairs], [target for _, target in pairs])


def _upload(copy: WorkingCopy) -> None:
    fs = filesystem()
    for path in copy.changed_files():
        if not path.name.startswith("."):  # temporary files of an interrupted write
            fs.put_file(str(path), copy.location_of(path))


def _config_name(summary_bytes: bytes) -> str | None:
    try:
        return config_name(json.loads(summary_bytes))
    except ValueError:
        return None


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _strip(path: str) -> str:
    return path.split("://", 1)[-1]
