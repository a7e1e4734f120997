"""VWAP: slices proportional to the market's real traded volume per interval.

The horizon is cut into ``intervals`` equal intervals; interval k gets a share of the order equal to
its weight in the volume profile (whole size increments, remainders carried forward, the last
slice the primary with what is left). The profile is, in order of precedence:

- ``profile``: weights passed in (one per interval), e.g. from a desk's own volume curve;
- from the catalog (``profile_source``): ``historical`` = the same clock intervals on previous days
  (up to ``lookback_days``) that the catalog covers; ``intraday`` = the same day's volume in the
  horizon-long stretch before the arrival; ``flat`` = equal weights; ``realized`` = the volume traded
  in the horizon itself (real but ex post: the run is flagged ``look_ahead`` and not ranked);
  ``auto`` = historical, else intraday, else flat (never realized: no look-ahead by default).
  See ``odum_pipeline.algorithms.profiles``.

``placement`` passive/adaptive rests the slices at the near touch (``odum_pipeline.algorithms.placement``).

The profile used is recorded (``schedule_records``, the cache, the log). Intervals whose weight is
zero send nothing.
"""

from __future__ import annotations

from nautilus_trader.config import ExecAlgorithmConfig
from nautilus_trader.model.identifiers import ExecAlgorithmId

from odum_pipeline.algorithms.base import SlicingExecAlgorithm, slices_payload
from odum_pipeline.algorithms.profiles import catalog_profile, given_profile
from odum_pipeline.algorithms.slicing import NS_PER_SEC, vwap_schedule

PARAMETERS = [
    {"name": "horizon_secs", "type": "int", "default": 300, "min": 1, "max": 86400,
     "doc": "Seconds over which the whole parent order is executed."},
    {"name": "intervals", "type": "int", "default": 10, "min": 1, "max": 1000,
     "doc": "Number of equal intervals of the horizon (one slice per interval with volume)."},
    {"name": "profile", "type": "list[float]", "default": None, "min": 0,
     "doc": "Volume weights per interval (one per interval); default: from the catalog's traded volume."},
    {"name": "profile_source", "type": "str", "default": "auto",
     "choices": ["auto", "historical", "intraday", "flat", "realized"],
     "doc": "Catalog profile: previous days' same intervals, the volume before arrival, equal weights, the "
            "horizon's own volume (look-ahead: not ranked), or auto (historical, else intraday, else flat)."},
    {"name": "lookback_days", "type": "int", "default": 5, "min": 1, "max": 60,
     "doc": "How many previous days a historical profile may use."},
    {"name": "placement", "type": "str", "default": "aggressive", "choices": ["aggressive", "passive", "adaptive"],
     "doc": "aggressive: cross the spread; passive: rest at the near touch; adaptive: passive, crossing when behind."},
    {"name": "catch_up_pct", "type": "float", "default": 10.0, "min": 0, "max": 100,
     "doc": "adaptive: cross when the fills lag the released schedule by more than this % of the parent."},
]


class VWAPConfig(ExecAlgorithmConfig, frozen=True):
    exec_algorithm_id: ExecAlgorithmId | None = ExecAlgorithmId("VWAP")
    horizon_secs: int = 300
    intervals: int = 10
    profile: list[float] | None = None
    profile_source: str = "auto"
    lookback_days: int = 5
    placement: str = "aggressive"
    catch_up_pct: float = 10.0
    catalog_path: str | None = None  # where the volume profile is read from (set by the registry)


class VWAP(SlicingExecAlgorithm):
    acts_only_at_alerts = True  # a timed schedule: nothing happens between slices

    def __init__(self, config: VWAPConfig | None = None) -> None:
        super().__init__(config or VWAPConfig())

    def on_order(self, order) -> None:
        if not self.supports(order):
            return
        params = self.parameters(order)
        _, increment, min_qty = self.sizing(order)
        start = self.clock.timestamp_ns()
        horizon_ns = params["horizon_secs"] * NS_PER_SEC
        intervals = params["intervals"]
        if params["profile"] is not None:
            profile = given_profile(params["profile"], intervals, start, horizon_ns // intervals)
        elif self.config.catalog_path:
            profile = catalog_profile(
                self.config.catalog_path,
                order.instrument_id.value,
                start,
                horizon_ns,
                intervals,
                source=params["profile_source"],
                lookback_days=params["lookback_days"],
            )
        else:
            raise ValueError("VWAP: no 'profile' given and no catalog_path to compute one from real volume")
        slices = vwap_schedule(start, order.quantity.as_decimal(), params["horizon_secs"], profile.weights, increment, min_qty)
        self.start_placement(order, params)
        self.record(order, {"params": params, "profile": profile.as_dict(), "slices": slices_payload(slices)})
        self.run_schedule(order, slices)
