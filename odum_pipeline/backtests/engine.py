"""Run one backtest (config x algorithm) with NautilusTrader's ``BacktestNode``. Dagster-free.

The node is built from the config (venue, catalog data restricted to the window, risk engine),
then, before running, the engine gets:

- the instrument built by the registry with the config's fees (replacing the catalog's definition,
  so the fees charged are the config's, whatever the catalog was written with);
- the execution algorithms (NautilusTrader ``ExecAlgorithm`` instances: the seam for
  ``algorithms/``: by default the registry's algorithm of that name);
- the strategy that submits the orders and marks the equity curve.

``snapshot_mode``: ``trades`` replays TradeTick only on an L1_MBP book; ``book`` replays depth
snapshots and trades but with the venue's ``trade_execution`` off, so trades update the last
price and drive per-trade submissions without touching the matching book; ``both`` replays both
with ``trade_execution`` on (trades can also fill resting orders).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from nautilus_trader.backtest.config import (
    BacktestDataConfig,
    BacktestEngineConfig,
    BacktestRunConfig,
    BacktestVenueConfig,
)
from nautilus_trader.backtest.node import BacktestNode
from nautilus_trader.common.component import is_backtest_force_stop
from nautilus_trader.config import LoggingConfig, RiskEngineConfig
from nautilus_trader.execution.algorithm import ExecAlgorithm
from nautilus_trader.model.data import OrderBookDepth10, TradeTick
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from odum_pipeline.algorithms.normal import Normal
from odum_pipeline.algorithms.registry import BUILTIN_VERSION, NORMAL
from odum_pipeline.backtests.active_replay import ActivePlanner, WorkProbe, add_active_stream, make_delta_feed
from odum_pipeline.backtests.config import (
    BacktestConfig,
    BookType,
    ReplayMode,
    SnapshotMode,
    SubmissionMode,
    config_sha256,
    replay_end,
)
from odum_pipeline.backtests.equity_grid import EquityCurve
from odum_pipeline.backtests.equity_grid import equity_curve as grid_equity_curve
from odum_pipeline.backtests.equity_grid import summary_block as equity_summary_block
from odum_pipeline.backtests.look_ahead import look_ahead_of
from odum_pipeline.backtests.market_model import MarketModel
from odum_pipeline.backtests.metrics import collect_run_data, summarize
from odum_pipeline.backtests.results import write_fast, write_report
from odum_pipeline.backtests.run_id import make_run_id
from odum_pipeline.backtests.strategy import ExecutionBacktestConfig, ExecutionBacktestStrategy, ParentOrderPlan
from odum_pipeline.backtests.streaming import add_streams
from odum_pipeline.catalog.store import open_catalog
from odum_pipeline.errors import OdumError
from odum_pipeline.gcs import check_remote_root, is_remote, location
from odum_pipeline.instruments.registry import build_instrument
from odum_pipeline.timestamps import to_ns

#: The pre-trade throttle is a live-trading safeguard; replaying every trade of a burst exceeds it.
UNTHROTTLED = "1000000/00:00:01"


class BacktestSetupError(OdumError, ValueError):
    """The backtest cannot start: missing catalog data, unknown algorithm, unsupported option."""


@dataclass(frozen=True)
class AlgorithmSpec:
    """The algorithm under test: its name (the ``ExecAlgorithmId``), parameters and code version."""

    name: str = NORMAL
    params: dict[str, Any] = field(default_factory=dict)
    version: str = BUILTIN_VERSION
    label: str | None = None  # the config's variant label; default the name

    @property
    def is_normal(self) -> bool:
        return self.name.upper() == NORMAL


@dataclass(frozen=True)
class BacktestOutcome:
    run_id: str
    result_path: Path
    summary: dict[str, Any]
    equity_curve: EquityCurve = field(default_factory=EquityCurve.empty, repr=False)  # the 1-second grid, for charts


def run_backtest(
    config: BacktestConfig,
    *,
    algorithm: AlgorithmSpec = AlgorithmSpec(),
    catalog_root: str | Path | None = None,
    results_root: str | Path,
    algorithms_root: str | Path | None = None,
    mode: str = "fast",
    export_ticks: bool = False,
    progress: Callable[[float], None] | None = None,
    exec_algorithms: Sequence[ExecAlgorithm] | None = None,
    progress_events: Callable[[float, int], None] | None = None,
    model_risk_of: str | None = None,
    stream: bool = True,
) -> BacktestOutcome:
    """Run ``config`` with ``algorithm`` over the catalog and write its results.

    ``stream``: feed the window in time chunks read from the catalog (``streaming``: memory bounded
    by a chunk, the same replay event for event); False loads the whole window first (NautilusTrader's
    one-shot ``BacktestNode`` path, kept as the reference the streamed replay is tested against).
    A streamed run replays only the intervals in which a parent works when ``environment.replay`` is
    ``active`` (``active_replay``; same results), except ``per_trade_tick`` runs, which need every trade.

    ``progress(share)`` is called with the share of the window replayed as the replay advances;
    ``progress_events(share, events)`` also gets the engine's data events processed so far.

    ``catalog_root``: default the config's ``data_catalog.path``. The caller (a resource, the CLI) names
    every root; the engine reads no environment.

    ``exec_algorithms``: fresh ``ExecAlgorithm`` instances to add to the engine (one per run:
    NautilusTrader components cannot be shared between engines). Default: the registry's under
    ``algorithms_root`` (the built-in ``Normal`` for NORMAL).

    ``model_risk_of``: the market setup (sha256) of the main run this one re-runs under another
    market preset; recorded as ``summary.model_risk`` so the comparison keeps it apart.
    """
    if mode not in ("fast", "report"):
        raise BacktestSetupError(f"mode must be 'fast' or 'report', got {mode!r}")
    catalog_root = catalog_root or config.data_catalog.path
    if not catalog_root:
        raise BacktestSetupError("no catalog: pass catalog_root or set data_catalog.path in the config")
    catalog_root = location(catalog_root)
    results_root = location(results_root)
    if is_remote(results_root):
        check_remote_root(str(results_root))  # fail before the run, not after it
    _reject_unsupported(config)
    spec = config.instrument_spec()
    sha = config_sha256(config)
    run_id = make_run_id(spec, config.time_window.start, sha)
    instrument = _configured_instrument(config)
    _require_catalog_instrument(catalog_root, instrument)
    algorithms = (
        list(exec_algorithms) if exec_algorithms is not None else default_exec_algorithms(algorithm, catalog_root, algorithms_root)
    )

    if algorithm.is_normal and not any(a.id.value == NORMAL for a in algorithms):
        algorithms.append(Normal())
    market = MarketModel.for_run(config, catalog_root, instrument.id)

    replay = _replay_choice(config, stream)
    probe = WorkProbe()
    planner = None
    node_class = RemoteCatalogNode if is_remote(catalog_root) else BacktestNode
    node = node_class(configs=[_run_config(config, catalog_root, instrument.id, market, streamed=stream)])
    try:
        node.build()
        engine = node.get_engine(node.configs[0].id)
        engine.add_instrument(instrument)  # the config's fees, not the catalog's
        if replay["mode"] == ReplayMode.ACTIVE.value:
            planner = _active_planner(config, catalog_root, instrument.id, market, engine, probe)
            add_active_stream(engine, planner)
        elif stream:
            add_streams(
                engine, catalog_root, instrument.id, to_ns(config.time_window.start), to_ns(replay_end(config)),
                depth=config.data_catalog.snapshot_mode is not SnapshotMode.TRADES,
                deltas=market.streamed_deltas(engine),
            )  # fmt: skip
        else:
            market.add_book_data(engine)
        for exec_algorithm in algorithms:
            engine.add_exec_algorithm(exec_algorithm)
        strategy = ExecutionBacktestStrategy(
            _strategy_config(config, instrument.id, algorithm, algorithms, record_tables=mode == "report"),
            progress=_progress_callback(progress, progress_events, engine),
            impact_session=market.impact_session,
        )
        engine.add_strategy(strategy)
        probe.strategy, probe.algorithms = strategy, algorithms
        node.run()
        _require_complete_replay(config)
        run_data = collect_run_data(
            engine, strategy, instrument, tables=mode == "report", impact_shifts=market.impact_shifts()
        )
        run_data.equity_curve = _equity_curve(config, engine, instrument, catalog_root, run_data)
        replay.update(_replay_record(planner, engine.iteration))
        schedules = {a.id.value: dict(a.schedule_records) for a in algorithms if getattr(a, "schedule_records", None)}
    finally:
        node.dispose()
        market.close()

    summary = summarize(
        run_id=run_id, mode=mode, config=config, config_sha=sha, algorithm=algorithm, run_data=run_data,
        market=market.summary(),
    )  # fmt: skip
    summary["equity_curve"] = equity_summary_block(config.data_catalog.snapshot_mode is not SnapshotMode.TRADES)
    summary["replay"] = replay
    if schedules:  # e.g. the volume profile a VWAP used: part of what produced the numbers
        summary["algorithm_schedules"] = schedules
    summary["look_ahead"] = look_ahead_of(schedules, summary["market"])
    if model_risk_of is not None:
        summary["model_risk"] = {"of_setup_sha256": model_risk_of, "preset": config.market.preset.value}
    if mode == "fast":
        path = write_fast(results_root, run_id, summary)
    else:
        ticks = _window_ticks(catalog_root, config, instrument.id) if export_ticks else None
        path = write_report(results_root, run_id, summary, run_data, ticks=ticks)
    return BacktestOutcome(run_id=run_id, result_path=path, summary=summary, equity_curve=run_data.equity_curve)


def _replay_choice(config: BacktestConfig, stream: bool) -> dict[str, Any]:
    """The replay the run does: ``environment.replay``, except where only a full one can serve."""
    requested = config.environment.replay
    if requested is ReplayMode.FULL:
        return {"mode": ReplayMode.FULL.value}
    if config.strategy.submission_mode is SubmissionMode.PER_TRADE_TICK:
        reason = "per_trade_tick submits an order per trade: every trade is replayed"
    elif not stream:
        reason = "the one-shot (unstreamed) replay loads the whole window"
    else:
        return {"mode": ReplayMode.ACTIVE.value}
    return {"mode": ReplayMode.FULL.value, "requested": requested.value, "reason": reason}


def _active_planner(config: BacktestConfig, catalog_root, instrument_id, market, engine, probe) -> ActivePlanner:
    return ActivePlanner(
        catalog_root, instrument_id,
        start_ns=to_ns(config.time_window.start), window_end_ns=to_ns(config.time_window.end),
        end_ns=to_ns(replay_end(config)), arrivals=[to_ns(order.arrival) for order in config.strategy.parent_orders],
        depth=config.data_catalog.snapshot_mode is not SnapshotMode.TRADES, probe=probe,
        deltas=make_delta_feed(catalog_root, instrument_id, engine) if market.replays_deltas else None,
    )  # fmt: skip


def _replay_record(planner: ActivePlanner | None, events: int) -> dict[str, Any]:
    """The summary's ``replay`` block: what was fed to the engine (the only figures a full replay changes)."""
    if planner is None:
        return {"intervals": 1, "replayed_share": 1.0, "events": int(events)}
    record = planner.record
    return {
        "intervals": len(record.intervals),
        "replayed_share": round(record.share(), 6),
        "events": int(events),
        "replayed": [[_iso_ns(first), _iso_ns(last)] for first, last in record.intervals[:100]],  # the first 100
    }


def _iso_ns(ns: int) -> str:
    return pd.Timestamp(ns, unit="ns", tz="UTC").isoformat().replace("+00:00", "Z")


def _equity_curve(config: BacktestConfig, engine, instrument: Instrument, catalog_root, run_data) -> EquityCurve:
    """The equity curve on the 1-second grid from the fills and the catalog (``equity_grid``)."""
    account = engine.portfolio.account(instrument.id.venue)
    return grid_equity_curve(
        engine.cache.orders(instrument_id=instrument.id), instrument, catalog_root,
        start_ns=to_ns(config.time_window.start), end_ns=to_ns(replay_end(config)),
        book=config.data_catalog.snapshot_mode is not SnapshotMode.TRADES,
        starting=run_data.money["starting_balance"], account_type=account.type,
    )  # fmt: skip


def _require_complete_replay(config: BacktestConfig) -> None:
    """NautilusTrader stops a replay, logging only, when an account balance would go negative."""
    if is_backtest_force_stop():
        balances = ", ".join(f"{amount} {code}" for code, amount in config.venue.starting_balances.items())
        raise BacktestSetupError(
            f"venue.starting_balances: the account ({balances}) ran out of money and NautilusTrader stopped the "
            "replay early (a balance would have gone negative, e.g. a spot close-out buying back what was sold "
            "plus fees); raise the balance"
        )


def _progress_callback(progress, progress_events, engine):
    if progress_events is None:
        return progress

    def report(share: float) -> None:
        if progress is not None:
            progress(share)
        progress_events(share, engine.iteration)

    return report


# --- building the node ---------------------------------------------------------------------------


def _reject_unsupported(config: BacktestConfig) -> None:
    if config.data_catalog.trades_path or config.data_catalog.book_path:
        raise BacktestSetupError(
            "data_catalog.trades_path/book_path glob overrides are not supported by the engine yet: "
            "point data_catalog.path at a ParquetDataCatalog instead"
        )


def _configured_instrument(config: BacktestConfig) -> Instrument:
    """The registry's instrument with the config's fees (and the risk section's max quantity)."""
    instrument = build_instrument(
        config.instrument_spec(), maker_fee=config.venue.maker_fee, taker_fee=config.venue.taker_fee
    )
    if config.risk.max_order_quantity is None:
        return instrument
    definition = type(instrument).to_dict(instrument)
    definition["max_quantity"] = str(config.risk.max_order_quantity)
    return type(instrument).from_dict(definition)


class RemoteCatalogNode(BacktestNode):
    """A node reading a ``gs://`` catalog through fsspec, only the window's row groups (see catalog.remote)."""

    @classmethod
    def load_catalog(cls, config: BacktestDataConfig) -> ParquetDataCatalog:
        return open_catalog(config.catalog_path)


def _require_catalog_instrument(catalog_root: Path | str, instrument: Instrument) -> None:
    catalog = open_catalog(catalog_root)
    found = catalog.instruments(instrument_ids=[instrument.id.value])
    if not found:
        raise BacktestSetupError(f"{catalog_root}: no instrument {instrument.id} in the catalog; convert its days first")
    stored = found[0]
    if (stored.price_precision, stored.size_precision) != (instrument.price_precision, instrument.size_precision):
        raise BacktestSetupError(
            f"{catalog_root}: catalog instrument {instrument.id} has precisions "
            f"{stored.price_precision}/{stored.size_precision}, the registry "
            f"{instrument.price_precision}/{instrument.size_precision}"
        )


def effective_book_type(config: BacktestConfig) -> BookType:
    """Trades alone can only build a top-of-book: ``trades`` mode always matches on L1_MBP."""
    if config.data_catalog.snapshot_mode is SnapshotMode.TRADES:
        return BookType.L1_MBP
    return config.venue.book_type


def _run_config(
    config: BacktestConfig, catalog_root: Path, instrument_id: InstrumentId, market: MarketModel, *, streamed: bool
) -> BacktestRunConfig:
    start, end = config.time_window.start.isoformat(), replay_end(config).isoformat()
    data = _data_configs(config, str(catalog_root), instrument_id)
    if streamed:  # every row comes from the engine's streams (streaming.add_streams)
        data = [_no_rows(d) for d in data]
    elif market.replays_deltas:  # the depth snapshots come in as deltas (MarketModel.add_book_data)
        data = [_no_rows(d) if d.data_cls is OrderBookDepth10 else d for d in data]
    return BacktestRunConfig(
        engine=_engine_config(config, instrument_id),
        venues=[_venue_config(config, market)],
        data=data,
        start=start,
        end=end,
        dispose_on_completion=False,  # the reports are read from the engine after the run
        raise_exception=True,
    )


def _engine_config(config: BacktestConfig, instrument_id: InstrumentId) -> BacktestEngineConfig:
    risk = config.risk
    notional = {instrument_id.value: int(risk.max_notional_per_order)} if risk.max_notional_per_order else {}
    return BacktestEngineConfig(
        trader_id="BACKTESTER-001",
        logging=LoggingConfig(log_level=config.environment.log_level, bypass_logging=False),
        risk_engine=RiskEngineConfig(
            bypass=risk.bypass, max_order_submit_rate=UNTHROTTLED, max_notional_per_order=notional
        ),
    )


def _venue_config(config: BacktestConfig, market: MarketModel | None = None) -> BacktestVenueConfig:
    """The venue of the run; ``market`` (default: the config's market model, no catalog attached)."""
    market = market or MarketModel(config, "", InstrumentId.from_str(config.instrument_spec().instrument_id))
    venue = config.venue
    return BacktestVenueConfig(
        name=venue.name,
        oms_type=venue.oms_type.value,
        account_type=venue.account_type.value,
        base_currency=venue.base_currency,
        starting_balances=[f"{amount} {code}" for code, amount in venue.starting_balances.items()],
        default_leverage=float(venue.leverage),
        book_type=effective_book_type(config).value,
        trade_execution=config.data_catalog.snapshot_mode is not SnapshotMode.BOOK,
        # No run has contingent orders (OTO/OCO/OUO, brackets) or passive reduce-only orders, the only
        # ones this switch serves. Switched on, NautilusTrader's matching engine lists every order the
        # cache indexed under the filled position on every fill (to re-size open passive reduce-only
        # orders): orders sent through an ExecAlgorithm are all indexed there (the position ID is
        # assigned to each primary on its first fill, and spawned orders inherit it), and a NETTING
        # position keeps one ID, so that list grows with the run (11,096 orders by the end of the
        # real 6-minute per-trade window) and the fills cost O(orders) each: a third of that run's time.
        support_contingent_orders=False,
        **market.venue_options(),
    )


def _no_rows(data: BacktestDataConfig) -> BacktestDataConfig:
    """The same data config over an empty instant before the window: the node still sees the venue's
    book data type (it checks one exists), the engine gets no snapshot from it."""
    before = (pd.Timestamp(data.start_time) - pd.Timedelta(1, "ns")).isoformat()
    return BacktestDataConfig(
        catalog_path=data.catalog_path, data_cls=data.data_cls, instrument_id=data.instrument_id,
        start_time=before, end_time=before,
    )  # fmt: skip


def _data_configs(config: BacktestConfig, catalog_path: str, instrument_id: InstrumentId) -> list[BacktestDataConfig]:
    """Trades always (they drive per-trade submissions and the last price); depth unless ``trades``."""
    classes = [TradeTick]
    if config.data_catalog.snapshot_mode is not SnapshotMode.TRADES:
        classes.append(OrderBookDepth10)
    start, end = config.time_window.start.isoformat(), replay_end(config).isoformat()
    return [
        BacktestDataConfig(
            catalog_path=catalog_path, data_cls=cls, instrument_id=instrument_id, start_time=start, end_time=end
        )
        for cls in classes
    ]


def _strategy_config(
    config: BacktestConfig,
    instrument_id: InstrumentId,
    algorithm: AlgorithmSpec,
    algorithms: list[ExecAlgorithm],
    *,
    record_tables: bool = True,
) -> ExecutionBacktestConfig:
    window = config.time_window
    return ExecutionBacktestConfig(
        instrument_id=instrument_id,
        submission_mode=config.strategy.submission_mode.value,
        window_start_ns=to_ns(window.start),
        window_end_ns=to_ns(window.end),
        parent_orders=tuple(_plan(order) for order in config.strategy.parent_orders),
        exec_algorithm_id=_exec_algorithm_id(algorithm, algorithms),
        exec_algorithm_params=dict(algorithm.params),
        close_positions=config.strategy.close_positions,
        subscribe_book=config.data_catalog.snapshot_mode is not SnapshotMode.TRADES,
        record_tables=record_tables,
        order_latency_ns=config.market.order_latency_ns,
    )


def _plan(order) -> ParentOrderPlan:
    return ParentOrderPlan(
        side=order.side.value,
        quantity=str(order.quantity),
        arrival_ns=to_ns(order.arrival),
        limit_price=None if order.limit_price is None else str(order.limit_price),
        deadline_ns=None if order.deadline is None else to_ns(order.deadline),
    )


# --- execution algorithms ------------------------------------------------------------------------


def default_exec_algorithms(
    algorithm: AlgorithmSpec, catalog_root: Path | str, algorithms_root: str | Path | None
) -> list[ExecAlgorithm]:
    """The registry's algorithm of that name under ``algorithms_root`` (the built-in ``Normal`` for NORMAL)."""
    if algorithm.is_normal:
        return [Normal()]
    if algorithms_root is None:
        raise BacktestSetupError(f"algorithm {algorithm.name!r}: pass algorithms_root (or exec_algorithms) to load it")
    from odum_pipeline.algorithms.registry import AlgorithmRegistryError, get, load_exec_algorithms

    try:
        entry = get(algorithm.name, algorithms_root)
    except AlgorithmRegistryError as error:
        raise BacktestSetupError(f"no execution algorithm {algorithm.name!r}: {error}") from error
    return load_exec_algorithms(entry, algorithm.params, catalog_root=catalog_root)


def _exec_algorithm_id(algorithm: AlgorithmSpec, algorithms: list[ExecAlgorithm]) -> str:
    ids = [a.id.value for a in algorithms]
    if algorithm.name in ids:
        return algorithm.name
    if len(ids) == 1:
        return ids[0]
    raise BacktestSetupError(f"algorithm {algorithm.name!r} is none of the execution algorithms given: {ids}")


# --- tick export ---------------------------------------------------------------------------------


def _window_ticks(catalog_root: Path | str, config: BacktestConfig, instrument_id: InstrumentId):
    catalog = open_catalog(catalog_root)
    window = config.time_window
    return catalog.query(
        data_cls=TradeTick, identifiers=[instrument_id.value], start=window.start, end=window.end
    )
