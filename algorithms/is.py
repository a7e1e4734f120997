"""IS: the arrival-price (implementation shortfall) schedule of Almgren & Chriss (2000).

For a parent of Q over a horizon T cut into N intervals (``t_k = k T / N``), the quantity still
held at ``t_k`` is ``x_k = Q sinh(kappa (T - t_k)) / sinh(kappa T)``, and interval k (sent at
``t_k``) trades ``x_k - x_{k+1}``. The urgency kappa comes from the risk aversion lambda
(``risk_aversion``, in 1 / quote currency), the price volatility sigma and the temporary-impact
coefficient eta: ``2 (cosh(kappa tau) - 1) / tau^2 = lambda sigma^2 / eta`` with ``tau = T / N``.
A high lambda front-loads the order (less exposure to price risk, more impact); ``lambda = 0``
is TWAP's straight line (exactly: the same slices as TWAP with ``interval = T / N``).

sigma and eta are calibrated from the catalog's book snapshots received in the
``calibration_secs`` before the arrival, never after it (``odum_pipeline.algorithms.calibration``),
unless both are given. The calibration, its data interval and kappa are written to the schedule
record (the run's summary). Quantities are whole size increments (remainders carried forward);
the last slice completes the order. ``placement`` as for TWAP.
"""

from __future__ import annotations

from nautilus_trader.config import ExecAlgorithmConfig
from nautilus_trader.model.identifiers import ExecAlgorithmId

from odum_pipeline.algorithms.base import SlicingExecAlgorithm, slices_payload
from odum_pipeline.algorithms.calibration import Calibration, calibrate
from odum_pipeline.algorithms.slicing import almgren_chriss_kappa, is_schedule

PARAMETERS = [
    {"name": "horizon_secs", "type": "int", "default": 300, "min": 1, "max": 86400,
     "doc": "Seconds over which the whole parent order is executed."},
    {"name": "intervals", "type": "int", "default": 10, "min": 1, "max": 1000,
     "doc": "Number of equal intervals of the horizon (one slice at the start of each)."},
    {"name": "risk_aversion", "type": "float", "default": 1e-05, "min": 0,
     "doc": "Almgren-Chriss lambda in 1/quote currency: 0 = TWAP, higher = front-loaded."},
    {"name": "calibration_secs", "type": "int", "default": 300, "min": 5, "max": 86400,
     "doc": "Seconds of book data before the arrival that calibrate volatility and impact."},
    {"name": "sigma", "type": "float", "default": None, "min": 0,
     "doc": "Volatility in quote per base unit per sqrt(s); with eta, replaces the calibration."},
    {"name": "eta", "type": "float", "default": None, "min": 0, "exclusive_min": True,
     "doc": "Temporary-impact coefficient in quote * s / base^2; with sigma, replaces the calibration."},
    {"name": "placement", "type": "str", "default": "aggressive", "choices": ["aggressive", "passive", "adaptive"],
     "doc": "aggressive: cross the spread; passive: rest at the near touch; adaptive: passive, crossing when behind."},
    {"name": "catch_up_pct", "type": "float", "default": 10.0, "min": 0, "max": 100,
     "doc": "adaptive: cross when the fills lag the released schedule by more than this % of the parent."},
]


class ISConfig(ExecAlgorithmConfig, frozen=True):
    exec_algorithm_id: ExecAlgorithmId | None = ExecAlgorithmId("IS")
    horizon_secs: int = 300
    intervals: int = 10
    risk_aversion: float = 1e-05
    calibration_secs: int = 300
    sigma: float | None = None
    eta: float | None = None
    placement: str = "aggressive"
    catch_up_pct: float = 10.0
    catalog_path: str | None = None  # where the calibration data is read from (set by the registry)


class IS(SlicingExecAlgorithm):
    acts_only_at_alerts = True  # a timed schedule: nothing happens between slices

    def __init__(self, config: ISConfig | None = None) -> None:
        super().__init__(config or ISConfig())

    def calibration(self, order, params, tau_secs: float) -> Calibration:
        if params["sigma"] is not None and params["eta"] is not None:
            return Calibration(sigma=params["sigma"], book_slope=params["eta"] / tau_secs, eta=params["eta"], source="given")
        if not self.config.catalog_path:
            raise ValueError("IS: no sigma and eta given and no catalog_path to calibrate them from")
        arrival = self.clock.timestamp_ns()
        return calibrate(self.config.catalog_path, order.instrument_id.value, arrival, params["calibration_secs"], tau_secs)

    def on_order(self, order) -> None:
        if not self.supports(order):
            return
        params = self.parameters(order)
        _, increment, min_qty = self.sizing(order)
        tau = params["horizon_secs"] / params["intervals"]
        calibration = self.calibration(order, params, tau)
        kappa = almgren_chriss_kappa(params["risk_aversion"], calibration.sigma, calibration.eta, tau)
        slices = is_schedule(
            self.clock.timestamp_ns(), order.quantity.as_decimal(), params["horizon_secs"], params["intervals"],
            kappa, increment, min_qty,
        )  # fmt: skip
        self.start_placement(order, params)
        record = {"params": params, "calibration": calibration.as_dict(), "kappa": kappa, "slices": slices_payload(slices)}
        self.record(order, record)
        self.run_schedule(order, slices)
