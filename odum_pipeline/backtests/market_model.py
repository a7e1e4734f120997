"""The config's ``market`` section applied to one run through NautilusTrader's own venue models.

- order latency: ``BacktestVenueConfig.latency_model`` (a ``LatencyModel`` with the one-way latency
  as its base latency, for submit, modify and cancel alike) plus the strategy's arrival alerts;
- liquidity consumption and queue position: the venue's ``liquidity_consumption`` and
  ``queue_position`` flags; with queue position the depth snapshots are replayed as deltas
  (``book_deltas``), since a snapshot resets every queue;
- the book aggressive orders meet: the visible levels, shifted by the impact overlay when it is on
  (``fill_model``, a ``FillModel`` and a simulation module), the overlay calibrated on the catalog
  before the first decision time (``impact``).

``summary()`` is the run's ``market`` block: the effective values and the impact calibration.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nautilus_trader.backtest.config import ImportableFillModelConfig, ImportableLatencyModelConfig
from nautilus_trader.common.config import ImportableActorConfig
from nautilus_trader.model.data import OrderBookDepth10
from nautilus_trader.model.identifiers import InstrumentId

from odum_pipeline.backtests.config import BacktestConfig, MarketSection, SubmissionMode, replay_end
from odum_pipeline.backtests.fill_model import SESSIONS, MatchingSession
from odum_pipeline.backtests.impact import ImpactSession, calibrate_from_catalog
from odum_pipeline.timestamps import to_ns


def first_decision_ns(config: BacktestConfig) -> int:
    """The earliest moment any order of the run is decided: the first arrival (else the window start)."""
    arrivals = [to_ns(order.arrival) for order in config.strategy.parent_orders]
    if config.strategy.submission_mode is SubmissionMode.PARENT_ORDERS and arrivals:
        return min(arrivals)
    return to_ns(config.time_window.start)


@dataclass
class MarketModel:
    config: BacktestConfig
    catalog_root: str | Path
    instrument_id: InstrumentId
    matching: MatchingSession | None = None
    session_key: str | None = None

    @classmethod
    def for_run(cls, config: BacktestConfig, catalog_root: str | Path, instrument_id: InstrumentId) -> MarketModel:
        model = cls(config, catalog_root, instrument_id)
        impact = None
        if config.market.impact:
            calibration = calibrate_from_catalog(catalog_root, instrument_id.value, first_decision_ns(config), config.market)
            impact = ImpactSession(calibration)
        if impact is not None or model.replays_deltas:
            model.matching = MatchingSession(impact=impact)
            model.session_key = uuid.uuid4().hex
            SESSIONS[model.session_key] = model.matching
        return model

    @property
    def impact_session(self) -> ImpactSession | None:
        return self.matching.impact if self.matching is not None else None

    @property
    def market(self) -> MarketSection:
        return self.config.market

    @property
    def replays_deltas(self) -> bool:
        return bool(self.market.queue_position)

    def venue_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            # With the impact overlay, its fill model consumes liquidity (see backtests.impact).
            "liquidity_consumption": bool(self.market.liquidity_consumption) and not self.market.impact,
            "queue_position": bool(self.market.queue_position),
        }
        if self.market.order_latency_ns > 0:
            options["latency_model"] = ImportableLatencyModelConfig(
                latency_model_path="nautilus_trader.backtest.models:LatencyModel",
                config_path="nautilus_trader.backtest.config:LatencyModelConfig",
                config={"base_latency_nanos": self.market.order_latency_ns},
            )
        if self.session_key is not None:
            options["fill_model"] = ImportableFillModelConfig(
                fill_model_path="odum_pipeline.backtests.fill_model:ReplayFillModel",
                config_path="odum_pipeline.backtests.fill_model:ReplayFillModelConfig",
                config={"session_key": self.session_key},
            )
            options["modules"] = [
                ImportableActorConfig(
                    actor_path="odum_pipeline.backtests.fill_model:MatchingModule",
                    config_path="odum_pipeline.backtests.fill_model:MatchingModuleConfig",
                    config={"session_key": self.session_key},
                )
            ]
        return options

    def add_book_data(self, engine) -> None:
        """With queue position: the window's depth snapshots as deltas, and the relay of the snapshots."""
        if not self.replays_deltas:
            return
        from odum_pipeline.backtests.book_deltas import DepthRelay, DepthRelayConfig, depth_to_deltas
        from odum_pipeline.catalog.store import open_catalog

        snapshots = open_catalog(self.catalog_root).query(
            data_cls=OrderBookDepth10, identifiers=[self.instrument_id.value], start=self.config.time_window.start,
            end=replay_end(self.config),
        )
        if not snapshots:
            return
        engine.add_data(depth_to_deltas(snapshots))
        engine.add_actor(DepthRelay(DepthRelayConfig(instrument_id=self.instrument_id), snapshots))

    def streamed_deltas(self, engine):
        """With queue position, for a streamed replay (``streaming``): the relay added to ``engine``
        and a function turning a chunk of snapshots into delta batches (one converter across chunks)
        that hands the chunk to the relay first. None without queue position."""
        if not self.replays_deltas:
            return None
        from odum_pipeline.backtests.book_deltas import DepthRelay, DepthRelayConfig, DepthToDeltas

        relay = DepthRelay(DepthRelayConfig(instrument_id=self.instrument_id), [])
        engine.add_actor(relay)
        converter = DepthToDeltas()

        def convert(snapshots: list[OrderBookDepth10]) -> list:
            relay.add_snapshots(snapshots)
            return [converter.convert(depth) for depth in snapshots]

        return convert

    def impact_shifts(self) -> dict[str, float]:
        return dict(self.matching.shifts) if self.matching is not None else {}

    def close(self) -> None:
        if self.session_key is not None:
            SESSIONS.pop(self.session_key, None)

    def summary(self) -> dict[str, Any]:
        market = self.market
        block = {
            "preset": market.preset.value,
            "order_latency_ms": float(market.order_latency_ms or 0),
            "liquidity_consumption": bool(market.liquidity_consumption),
            "queue_position": bool(market.queue_position),
            "impact": bool(market.impact),
            "book_replay": "deltas" if self.replays_deltas else "snapshots",
        }
        if self.impact_session is not None:
            block["impact_calibration"] = self.impact_session.calibration.as_dict()
        return block
