"""Did anything in a run use information from after its decision times? (``summary.look_ahead``)

A run is flagged when an input of an algorithm came from data after the moment the algorithm
decided with it: a VWAP profile of the volume actually traded during the horizon
(``profile_source: realized``), or any schedule record an algorithm marks ``look_ahead`` (e.g. a
calibration that read data past the arrival; an algorithm says why in ``look_ahead_reason``). The
impact overlay's calibration reads only data before the first arrival, and says so. The
comparison does not rank flagged runs unless asked to.
"""

from __future__ import annotations

from typing import Any


def look_ahead_of(schedules: dict[str, dict[str, Any]], market: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"used": bool, "reasons": [...], "checked": [...]}`` from the algorithms' schedule records."""
    reasons: list[str] = []
    checked: list[str] = []
    for algorithm, records in sorted((schedules or {}).items()):
        for primary, record in sorted(records.items()):
            for reason in _record_reasons(algorithm, primary, record):
                if reason not in reasons:
                    reasons.append(reason)
        if records:
            checked.append(f"{algorithm} schedules ({len(records)} parent(s))")
    calibration = (market or {}).get("impact_calibration")
    if calibration:
        checked.append(f"impact calibration on data {calibration['data_start']} .. {calibration['data_end']} (before the first arrival)")
    return {"used": bool(reasons), "reasons": reasons, "checked": checked}


def _record_reasons(algorithm: str, primary: str, record: dict[str, Any]) -> list[str]:
    reasons = []
    profile = record.get("profile") or {}
    if profile.get("look_ahead"):
        reasons.append(
            f"{algorithm}: the volume profile of {primary} is the volume actually traded during its horizon "
            f"(profile_source '{profile.get('source')}')"
        )
    if record.get("look_ahead"):
        reasons.append(f"{algorithm}: {record.get('look_ahead_reason') or f'{primary} used data after its arrival'}")
    return reasons
