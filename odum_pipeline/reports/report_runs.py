"""Which runs a comparison reads: the report-mode runs under a results root, the latest of each
algorithm variant of a config's newest market setup, each with a current TCA.

Runs are compared when their *market setup* is the same (``summary.config.setup_sha256``), whichever
algorithm they ran and however they were launched. An algorithm's label is
``summary.algorithm.label`` when the engine records one, else its name, with its parameters
appended when one config ran several parameter sets of the same algorithm.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from odum_pipeline.backtests.run_folder import REPORT_DIR, SUMMARY_FILE
from odum_pipeline.reports import tca


@dataclass
class RunRecord:
    run_id: str
    path: Path
    summary: dict[str, Any]
    written_at: float
    label: str = ""

    @property
    def config_name(self) -> str:
        return config_name(self.summary)

    @property
    def config_sha(self) -> str:
        return str((self.summary.get("config") or {}).get("sha256", ""))

    @property
    def setup_sha(self) -> str:
        """The comparison key (runs written before it was recorded: their config version)."""
        config = self.summary.get("config") or {}
        return str(config.get("setup_sha256") or config.get("sha256", ""))

    @property
    def look_ahead(self) -> bool:
        return bool((self.summary.get("look_ahead") or {}).get("used"))

    @property
    def market_preset(self) -> str | None:
        return (self.summary.get("market") or {}).get("preset")

    @property
    def model_risk_of(self) -> str | None:
        """The main setup this run re-ran under another market preset (None: a main run)."""
        return (self.summary.get("model_risk") or {}).get("of_setup_sha256")

    @property
    def algorithm(self) -> dict[str, Any]:
        return self.summary.get("algorithm") or {}

    @property
    def variant_key(self) -> tuple[str, str]:
        return str(self.algorithm.get("name")), json.dumps(self.algorithm.get("params") or {}, sort_keys=True, default=str)


def config_name(summary: dict[str, Any]) -> str:
    """The config a run belongs to: its name, else ``unnamed-<sha256 prefix>``."""
    config = summary.get("config") or {}
    return config.get("name") or f"unnamed-{str(config.get('sha256', ''))[:6]}"


def discover_report_runs(results_root: str | Path) -> list[RunRecord]:
    root = Path(results_root) / REPORT_DIR
    records = []
    for summary_path in sorted(root.glob(f"*/{SUMMARY_FILE}")) if root.is_dir() else []:
        try:
            summary = json.loads(summary_path.read_text())
        except (OSError, ValueError):
            continue  # a half-written or foreign file: not a complete report
        if summary.get("mode", "report") != "report":
            continue
        records.append(
            RunRecord(summary.get("run_id", summary_path.parent.name), summary_path.parent, summary, _written_at(summary, summary_path))
        )
    return records


def _written_at(summary: dict[str, Any], summary_path: Path) -> float:
    """When the run was written: its ``created_at``; the file's mtime only for runs that lack one.

    Not the mtime first: writing TCA into ``summary.json`` later, or copying the run from GCS,
    changes it without making the run any newer."""
    created = summary.get("created_at")
    if created:
        try:
            return dt.datetime.fromisoformat(str(created).replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    return summary_path.stat().st_mtime


def latest_runs(results_root: str | Path, config: str | None = None) -> tuple[dict[str, list[RunRecord]], dict[str, list[str]]]:
    """Per config name the latest run of each algorithm variant of its newest market setup, and notes.
    Model-risk runs (the same config under another market preset) are not part of it: see ``model_risk``."""
    by_config: dict[str, list[RunRecord]] = {}
    for record in discover_report_runs(results_root):
        if record.model_risk_of is not None:
            continue
        if config is None or record.config_name == config:
            by_config.setdefault(record.config_name, []).append(record)
    selected, notes = {}, {}
    for name, records in sorted(by_config.items()):
        newest_setup = max(records, key=lambda r: (r.written_at, r.run_id)).setup_sha
        current = [r for r in records if r.setup_sha == newest_setup]
        older = len(records) - len(current)
        notes[name] = (
            [f"{older} run(s) of other market setups of this config (other versions, windows or market models) left out."]
            if older
            else []
        )
        selected[name] = latest_per_variant(current)
    return selected, notes


def latest_per_variant(records: list[RunRecord]) -> list[RunRecord]:
    """The latest run of each algorithm variant, labelled, sorted by label."""
    latest: dict[tuple[str, str], RunRecord] = {}
    for record in sorted(records, key=lambda r: (r.written_at, r.run_id)):
        latest[record.variant_key] = record
    chosen = list(latest.values())
    _assign_labels(chosen)
    return sorted(chosen, key=lambda r: r.label)


def _assign_labels(records: list[RunRecord]) -> None:
    names = [r.variant_key[0] for r in records]
    for record in records:
        explicit = record.algorithm.get("label")
        name = record.variant_key[0]
        if explicit:
            record.label = str(explicit)
        elif names.count(name) > 1:
            params = record.algorithm.get("params") or {}
            record.label = f"{name}(" + ",".join(f"{k}={v}" for k, v in sorted(params.items())) + ")"
        else:
            record.label = name


def ensure_tca(records: list[RunRecord], catalog_root: str | Path, *, refresh: bool = False) -> list[str]:
    """Compute TCA for the runs lacking a current one; returns the run ids (re)computed."""
    computed = []
    for record in records:
        if refresh or not tca.has_current_tca(record.path):
            tca.write_tca(record.path, catalog_root)
            computed.append(record.run_id)
            record.summary = json.loads((record.path / SUMMARY_FILE).read_text())
    return computed
