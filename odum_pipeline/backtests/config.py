"""The JSON backtest config: a pydantic v2 schema with documented defaults.

Every model forbids unknown keys. Defaults that depend on the instrument (account type, base
currency, fees) are filled in from the instrument registry at load time, so the validated config
(and therefore its content hash) states exactly what a backtest ran with.

``load_config`` turns every failure into a ``ConfigError`` naming the file, the field path
(``strategy.parent_orders[0].quantity``) and what was expected.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import re
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from odum_pipeline.errors import OdumError
from odum_pipeline.timestamps import utc


def _canonical_decimal(value: Decimal) -> str:
    """``2``, ``2.0`` and ``2.00`` are the same quantity: serialise them the same way."""
    return format(value.normalize(), "f")


#: A decimal written as a canonical string in JSON dumps (so formatting never changes the hash).
CanonicalDecimal = Annotated[Decimal, PlainSerializer(_canonical_decimal, return_type=str, when_used="json")]
PositiveDecimal = Annotated[CanonicalDecimal, Field(gt=0)]
NonNegativeDecimal = Annotated[CanonicalDecimal, Field(ge=0)]


class ConfigError(OdumError, ValueError):
    """An invalid backtest config; the message names the file, the field and what was expected."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=False)


class OmsType(str, Enum):
    NETTING = "NETTING"
    HEDGING = "HEDGING"


class AccountType(str, Enum):
    MARGIN = "MARGIN"
    CASH = "CASH"


class BookType(str, Enum):
    L1_MBP = "L1_MBP"
    L2_MBP = "L2_MBP"


class SnapshotMode(str, Enum):
    TRADES = "trades"
    BOOK = "book"
    BOTH = "both"


class SubmissionMode(str, Enum):
    PER_TRADE_TICK = "per_trade_tick"
    PARENT_ORDERS = "parent_orders"


class OrderSide(str, Enum):
    BUY = "BUY"
    SELL = "SELL"


class DataSource(str, Enum):
    LOCAL = "local"
    GCS = "gcs"


class RunMode(str, Enum):
    FAST = "fast"
    REPORT = "report"


class ReplayMode(str, Enum):
    ACTIVE = "active"  # only the intervals in which some parent works (backtests.active_replay)
    FULL = "full"


UtcDatetime = Annotated[dt.datetime, Field(description="ISO 8601 timestamp, UTC (naive means UTC)")]


class InstrumentSection(_Strict):
    id: str = Field(
        description="Instrument key of the raw layout, e.g. 'BINANCE-FUTURES:PERPETUAL:BTC-USDT'; must be in the registry."
    )
    price_precision: int | None = Field(
        default=None, ge=0, description="Decimals of a price; checked against the registry when given."
    )
    size_precision: int | None = Field(
        default=None, ge=0, description="Decimals of a quantity; checked against the registry when given."
    )
    type: str | None = Field(
        default=None, description="Instrument class, e.g. 'CryptoPerpetual'; checked against the registry when given."
    )


class VenueSection(_Strict):
    name: str | None = Field(default=None, description="NautilusTrader venue, e.g. 'BINANCE'. Default: the registry's.")
    oms_type: OmsType = Field(default=OmsType.NETTING, description="Order management: NETTING (one position) or HEDGING.")
    account_type: AccountType | None = Field(
        default=None, description="MARGIN or CASH. Default: MARGIN for derivatives, CASH for spot."
    )
    base_currency: str | None = Field(
        default=None,
        description="Account currency. Default: the instrument's settlement currency; none (a multi-currency "
        "account) for spot on a CASH account, which holds both the base and the quote currency.",
    )
    starting_balance: PositiveDecimal | None = Field(
        default=None,
        description="Starting balance of the account currency (the quote currency on a multi-currency account): "
        "shorthand for that entry of starting_balances. Default: that currency's default.",
    )
    starting_balances: dict[str, NonNegativeDecimal] | None = Field(
        default=None,
        description="Starting balance per currency, e.g. {'USDT': 1000000, 'BTC': 0}. Default: the account "
        "currency (and on a multi-currency account also the base currency) at its default "
        "(1,000,000 USDT/USD, 20 BTC, 400 ETH).",
    )
    maker_fee: CanonicalDecimal | None = Field(
        default=None, description="Maker fee rate (0.0002 = 2 bps; negative = rebate). Default: the registry's."
    )
    taker_fee: CanonicalDecimal | None = Field(
        default=None, description="Taker fee rate (0.0004 = 4 bps). Default: the registry's."
    )
    book_type: BookType = Field(
        default=BookType.L2_MBP,
        description="Matching book: L2_MBP (depth snapshots) or L1_MBP (top of book from trades/quotes).",
    )
    leverage: PositiveDecimal = Field(default=Decimal(1), description="Default leverage of the margin account.")

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "liquidity_consumption" in data:
            raise ValueError("liquidity_consumption: moved to market.liquidity_consumption (see the README's market model)")
        return data


class MarketPreset(str, Enum):
    OPTIMISTIC = "optimistic"
    REALISTIC = "realistic"
    CONSERVATIVE = "conservative"


#: What each preset means; a field set explicitly in the config overrides its preset's value.
#: Latencies are one-way, client to venue: 20 ms is a cloud client in another region than the
#: venue's matching engine (same-region cloud is 1-5 ms, co-location well under 1 ms).
MARKET_PRESETS: dict[MarketPreset, dict[str, Any]] = {
    MarketPreset.OPTIMISTIC: {
        "order_latency_ms": Decimal(0), "liquidity_consumption": False, "queue_position": False, "impact": False,
    },
    MarketPreset.REALISTIC: {
        "order_latency_ms": Decimal(20), "liquidity_consumption": True, "queue_position": True, "impact": False,
    },
    MarketPreset.CONSERVATIVE: {
        "order_latency_ms": Decimal(50), "liquidity_consumption": True, "queue_position": True, "impact": True,
    },
}  # fmt: skip


class MarketSection(_Strict):
    """How the replay treats our orders (see the README's market model); every ``None`` is filled
    from the preset when the config loads, so the validated config states the effective values."""

    preset: MarketPreset = Field(
        default=MarketPreset.REALISTIC,
        description="'optimistic' (NautilusTrader's defaults: no latency, consumption, queue or impact), "
        "'realistic' (the default) or 'conservative' (slower orders and a market-impact overlay).",
    )
    order_latency_ms: NonNegativeDecimal | None = Field(
        default=None,
        description="One-way latency of order submit/modify/cancel, ms (realistic 20, conservative 50). "
        "Feed latency comes from the data's receive timestamps.",
    )
    liquidity_consumption: bool | None = Field(
        default=None,
        description="A fill uses up its price level until fresh book data arrives there (NautilusTrader's "
        "liquidity_consumption). Off: several orders between two snapshots each take the full book.",
    )
    queue_position: bool | None = Field(
        default=None,
        description="A resting limit order fills only after the volume ahead of it at its price has traded "
        "(needs snapshot_mode 'both'; the book is replayed as deltas of consecutive snapshots).",
    )
    impact: bool | None = Field(
        default=None,
        description="Market-impact overlay: the book our later market orders meet is shifted against us by a "
        "decaying square-root impact of our own earlier fills, calibrated before the first arrival.",
    )
    impact_coefficient: PositiveDecimal = Field(
        default=Decimal(1), description="Y of the square-root law: impact = Y * sigma_1s * sqrt(Q_eff / v_1s)."
    )
    impact_decay_secs: PositiveDecimal = Field(
        default=Decimal(120), description="Time constant of the exponential decay of our traded quantity, s."
    )
    impact_lookback_secs: int = Field(
        default=3600, ge=10, le=7 * 86400,
        description="Market data before the first arrival used to calibrate volatility and traded volume, s.",
    )

    def effective(self, snapshot_mode: SnapshotMode) -> None:
        """Fill the unset fields from the preset; queue position needs trades that can fill resting orders."""
        for name, value in MARKET_PRESETS[self.preset].items():
            if getattr(self, name) is None:
                if name == "queue_position" and snapshot_mode is not SnapshotMode.BOTH:
                    value = False
                setattr(self, name, value)
        if self.queue_position and snapshot_mode is not SnapshotMode.BOTH:
            raise ValueError(
                f"market.queue_position: needs data_catalog.snapshot_mode 'both' (got '{snapshot_mode.value}'): "
                "only replayed trades can eat through the queue ahead of a resting order"
            )

    @property
    def order_latency_ns(self) -> int:
        return int(Decimal(self.order_latency_ms or 0) * 1_000_000)


class DataCatalogSection(_Strict):
    path: str | None = Field(
        default=None, description="ParquetDataCatalog root. Default: DATA_CATALOG_PATH, else ./var/catalog."
    )
    trades_path: str | None = Field(
        default=None, description="Glob of trade parquet files overriding the catalog's (wildcards allowed)."
    )
    book_path: str | None = Field(
        default=None, description="Glob of book parquet files overriding the catalog's (wildcards allowed)."
    )
    snapshot_mode: SnapshotMode = Field(
        default=SnapshotMode.BOTH,
        description="Market data replayed: 'trades' only, 'book' depth only driving the matching, or 'both'.",
    )


class TimeWindowSection(_Strict):
    start: UtcDatetime = Field(description="First instant replayed (inclusive), ISO UTC.")
    end: UtcDatetime = Field(description="Last instant replayed (inclusive), ISO UTC; after start, may span days.")

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        return utc(value)

    @model_validator(mode="after")
    def _end_after_start(self) -> TimeWindowSection:
        if self.end <= self.start:
            raise ValueError(f"end: {self.end.isoformat()} must be after start ({self.start.isoformat()})")
        return self

    def contains(self, instant: dt.datetime) -> bool:
        return self.start <= instant <= self.end


class ParentOrder(_Strict):
    side: OrderSide = Field(description="BUY or SELL.")
    quantity: PositiveDecimal = Field(description="Total quantity to execute, in base units (> 0).")
    arrival: UtcDatetime = Field(description="When the order reaches the algorithm, ISO UTC, inside the window.")
    limit_price: PositiveDecimal | None = Field(default=None, description="Limit price; market order when absent.")
    deadline: UtcDatetime | None = Field(
        default=None, description="Time after which the remainder is cancelled, ISO UTC, after arrival."
    )

    @field_validator("arrival", "deadline")
    @classmethod
    def _utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        return None if value is None else utc(value)

    @model_validator(mode="after")
    def _deadline_after_arrival(self) -> ParentOrder:
        if self.deadline is not None and self.deadline <= self.arrival:
            raise ValueError(
                f"deadline: {self.deadline.isoformat()} must be after arrival ({self.arrival.isoformat()})"
            )
        return self


class StrategySection(_Strict):
    submission_mode: SubmissionMode = Field(
        default=SubmissionMode.PER_TRADE_TICK,
        description="'per_trade_tick': one order per trade in the window; 'parent_orders': the explicit list.",
    )
    parent_orders: list[ParentOrder] = Field(
        default_factory=list, description="The parent orders (required, non-empty, in 'parent_orders' mode)."
    )
    close_positions: bool = Field(
        default=True,
        description="Close the remaining position with a market order at window end (else mark it to market).",
    )

    @model_validator(mode="after")
    def _parent_orders_when_needed(self) -> StrategySection:
        if self.submission_mode is SubmissionMode.PARENT_ORDERS and not self.parent_orders:
            raise ValueError("parent_orders: submission_mode 'parent_orders' needs a non-empty 'parent_orders' list")
        return self


#: A variant's partition key: ``NAME[param=value,...]`` (sweeps produce them; Dagster keys must not hold ``|``).
VARIANT_KEY = re.compile(r"^(?P<name>[A-Z0-9_]+)\[[^|\]]+\]$")


def variant_base_name(key: str) -> str:
    """The algorithm of an algorithm partition key: ``TWAP`` for ``TWAP[horizon_secs=60]``."""
    return key.split("[", 1)[0]


def variant_label(name: str, params: dict[str, Any]) -> str:
    """``NAME[k1=v1,k2=v2]``, keys sorted; values as JSON scalars (strings bare)."""
    return f"{name}[" + ",".join(f"{key}={_label_value(params[key])}" for key in sorted(params)) + "]"


def _label_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


class AlgorithmChoice(_Strict):
    """One algorithm a config chooses to run (name, parameters, label, sweep). The algorithm's file
    and version are the registry's ``algorithms.registry.AlgorithmEntry``."""

    name: str = Field(description="Execution algorithm, e.g. NORMAL, TWAP, VWAP, ICEBERG, POV, IS.")
    params: dict[str, Any] = Field(default_factory=dict, description="Parameters handed to the algorithm.")
    label: str | None = Field(
        default=None,
        description="Unique label of this variant. Default: the name. A label NAME[...] (what sweeps generate) "
        "makes the variant its own backtest partition; other variants of one algorithm share the NAME partition.",
    )
    sweep: dict[str, list[Any]] | None = Field(
        default=None,
        exclude=True,  # expanded into its variants when read: the variants are the content (and the hash)
        description="Parameter values to sweep, {'param': [v1, v2, ...], ...}: one variant per combination "
        "(cartesian product, values sorted), labelled NAME[param=v,...], each its own backtest partition.",
    )

    @field_validator("name")
    @classmethod
    def _upper_name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("algorithm name must not be empty")
        return value.strip().upper()

    @field_validator("sweep")
    @classmethod
    def _sweep_values(cls, value: dict[str, list[Any]] | None) -> dict[str, list[Any]] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("sweep: give at least one parameter with its values")
        for param, values in value.items():
            if not values:
                raise ValueError(f"sweep.{param}: give at least one value")
            if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
                raise ValueError(f"sweep.{param}: repeated values")
            if any(isinstance(v, (dict, list)) for v in values):
                raise ValueError(f"sweep.{param}: values must be numbers, strings or booleans")
        return value

    @model_validator(mode="after")
    def _default_label(self) -> AlgorithmChoice:
        if self.sweep is not None and self.label is not None:
            raise ValueError("label: a sweep labels its variants itself (NAME[param=value,...]); remove 'label'")
        if self.label is None and self.sweep is None:
            self.label = self.name
        if self.label is not None:
            if "|" in self.label:
                raise ValueError(f"label: {self.label!r} must not contain '|'")
            match = VARIANT_KEY.match(self.label)
            if "[" in self.label and (match is None or match.group("name") != self.name):
                raise ValueError(f"label: {self.label!r}: a label with '[' must be {self.name}[param=value,...]")
        if self.sweep is not None:
            overlap = sorted(set(self.sweep) & set(self.params))
            if overlap:
                raise ValueError(f"sweep: {', '.join(overlap)} also fixed in params")
        return self

    @property
    def partition_key(self) -> str:
        """The backtest partition (algorithm dimension) this variant runs in."""
        return self.label if self.label and VARIANT_KEY.match(self.label) else self.name

    def expand(self) -> list[AlgorithmChoice]:
        """The variants of a sweep (itself when it has none), in the order of the sorted values."""
        if self.sweep is None:
            return [self]
        names = sorted(self.sweep)
        axes = [sorted(self.sweep[n], key=_sort_key) for n in names]
        variants = []
        for combination in itertools.product(*axes):
            swept = dict(zip(names, combination, strict=True))
            label = variant_label(self.name, swept)
            variants.append(AlgorithmChoice(name=self.name, params={**self.params, **swept}, label=label))
        return variants


def _sort_key(value: Any) -> tuple:
    """Numbers in numeric order before strings and booleans (a stable order of mixed values)."""
    if isinstance(value, bool):
        return (2, str(value))
    if isinstance(value, (int, float)):
        return (0, value)
    return (1, str(value))


class ExecutionSection(_Strict):
    algorithms: list[AlgorithmChoice] = Field(
        default_factory=lambda: [AlgorithmChoice(name="NORMAL")],
        min_length=1,
        description="Algorithms (and parameter variants, and sweeps) to run. Default: [{'name': 'NORMAL'}]. "
        "Sweeps are expanded into their variants when the config is read.",
    )

    @field_validator("algorithms")
    @classmethod
    def _expand_and_check_labels(cls, value: list[AlgorithmChoice]) -> list[AlgorithmChoice]:
        value = [variant for entry in value for variant in entry.expand()]
        labels = [entry.label for entry in value]
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise ValueError(f"algorithm labels must be unique; repeated: {', '.join(duplicates)}")
        return value

    def names(self) -> list[str]:
        """The algorithm partitions this config runs, in order (``partition_keys``)."""
        return self.partition_keys()

    def partition_keys(self) -> list[str]:
        """One key per backtest partition: the algorithm's name for its plain variants (they run
        together), ``NAME[...]`` for each sweep variant (its own partition)."""
        return list(dict.fromkeys(entry.partition_key for entry in self.algorithms))

    def entries_for(self, partition_key: str) -> list[AlgorithmChoice]:
        """The variants a partition runs (empty when the config does not list it)."""
        return [entry for entry in self.algorithms if entry.partition_key == partition_key]

    def by_label(self, label: str) -> AlgorithmChoice:
        for entry in self.algorithms:
            if entry.label == label:
                return entry
        raise KeyError(label)


class RiskSection(_Strict):
    max_order_quantity: PositiveDecimal | None = Field(
        default=None, description="Orders above this quantity are denied by the risk engine."
    )
    max_notional_per_order: PositiveDecimal | None = Field(
        default=None, description="Orders above this notional (quote currency) are denied by the risk engine."
    )
    bypass: bool = Field(default=False, description="Bypass NautilusTrader's pre-trade risk checks.")


class EnvironmentSection(_Strict):
    data_source: DataSource = Field(default=DataSource.LOCAL, description="'local' disk or 'gcs'.")
    mode: RunMode = Field(default=RunMode.FAST, description="'fast' (summary only) or 'report' (full results).")
    export_ticks: bool = Field(default=False, description="Also export the window's ticks (report mode only).")
    log_level: str = Field(default="ERROR", description="NautilusTrader log level (DEBUG, INFO, WARNING, ERROR).")
    model_risk: bool | None = Field(
        default=None,
        description="Also run each algorithm under the other market presets, so the comparison can say whether "
        "its ranking holds under all three. Default: on for 'parent_orders' configs in report mode.",
    )
    timeout_secs: float | None = Field(
        default=None, gt=0, le=7 * 86_400,
        description="Wall-clock limit of one backtest run, seconds. Default: 600 + 600 per hour of window. "
        "Not part of the config's content hash (it does not change results).",
    )
    replay: ReplayMode = Field(
        default=ReplayMode.ACTIVE,
        description="'active': replay only the intervals in which some parent order works (from the book snapshot "
        "before each), plus the close-out; 'full': every event of the window. Results are identical; "
        "'per_trade_tick' always replays in full. Not part of the config's content hash.",
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"TRACE", "DEBUG", "INFO", "WARNING", "WARN", "ERROR", "OFF"}:
            raise ValueError("log_level must be one of DEBUG, INFO, WARNING, ERROR, OFF")
        return level

    @model_validator(mode="after")
    def _ticks_need_report(self) -> EnvironmentSection:
        if self.export_ticks and self.mode is not RunMode.REPORT:
            raise ValueError("export_ticks: only valid with mode 'report'")
        return self


class BacktestConfig(_Strict):
    name: str | None = Field(default=None, validate_default=True, description="Config name. Default: the file stem.")
    description: str = Field(default="", description="Free text.")
    instrument: InstrumentSection
    venue: VenueSection = Field(default_factory=VenueSection)
    data_catalog: DataCatalogSection = Field(default_factory=DataCatalogSection)
    time_window: TimeWindowSection
    strategy: StrategySection = Field(default_factory=StrategySection)
    execution: ExecutionSection = Field(default_factory=ExecutionSection)
    risk: RiskSection = Field(default_factory=RiskSection)
    market: MarketSection = Field(default_factory=MarketSection)
    environment: EnvironmentSection = Field(default_factory=EnvironmentSection)

    @field_validator("name", mode="before")
    @classmethod
    def _name_from_file(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.context and info.context.get("file_stem"):
            return info.context["file_stem"]
        return value

    @model_validator(mode="after")
    def _resolve_against_registry(self) -> BacktestConfig:
        spec = _instrument_spec(self.instrument.id)
        _check_instrument(self.instrument, spec)
        _fill_venue_defaults(self.venue, spec)
        _fill_starting_balances(self.venue, spec)
        self.market.effective(self.data_catalog.snapshot_mode)
        _check_parent_orders_in_window(self.strategy, self.time_window)
        _check_sell_inventory(self.strategy, self.venue, spec)
        _check_values_against_instrument(self, spec)
        return self

    def instrument_spec(self):
        """The registry's ``InstrumentSpec`` of this config's instrument."""
        return _instrument_spec(self.instrument.id)


#: Market data replayed after the window end for the close-out: its orders reach the venue one
#: order latency later, and a big position may need several book updates.
CLOSE_OUT_GRACE = dt.timedelta(seconds=60)


def replay_end(config: BacktestConfig) -> dt.datetime:
    """The window end, plus the close-out's grace when the position is closed at the end."""
    end = config.time_window.end
    return end + CLOSE_OUT_GRACE if config.strategy.close_positions else end


def with_market_preset(config: BacktestConfig, preset: MarketPreset) -> BacktestConfig:
    """The same config under another market preset (its impact coefficients kept): a model-risk variant."""
    data = config.model_dump(mode="json")
    keep = ("impact_coefficient", "impact_decay_secs", "impact_lookback_secs")
    data["market"] = {"preset": preset.value, **{k: data["market"][k] for k in keep}}
    return BacktestConfig.model_validate(data)


def _instrument_spec(key: str):
    from odum_pipeline.instruments.registry import UnknownInstrumentError, resolve

    try:
        return resolve(key)
    except UnknownInstrumentError as exc:
        raise ValueError(f"instrument.id: unknown instrument {key!r} ({exc})") from None


def _check_instrument(section: InstrumentSection, spec) -> None:
    checks = (
        ("price_precision", section.price_precision, spec.price_precision),
        ("size_precision", section.size_precision, spec.size_precision),
        ("type", section.type, spec.instrument_class),
    )
    for field, given, expected in checks:
        if given is not None and given != expected:
            raise ValueError(f"instrument.{field}: {given!r} does not match the registry's {expected!r} for {spec.key}")


def _fill_venue_defaults(venue: VenueSection, spec) -> None:
    if venue.name is None:
        venue.name = spec.nautilus_venue
    if venue.account_type is None:
        is_spot = str(spec.instrument_type).upper() == "SPOT"
        venue.account_type = AccountType.CASH if is_spot else AccountType.MARGIN
    multi_currency = venue.account_type is AccountType.CASH and spec.instrument_class == "CurrencyPair"
    if multi_currency and venue.base_currency is not None:
        raise ValueError(
            f"venue.base_currency: must be null for a spot pair on a CASH account (it holds {spec.base} and "
            f"{spec.quote}, a multi-currency account); got {venue.base_currency!r}"
        )
    if venue.base_currency is None and not multi_currency:
        venue.base_currency = spec.settlement
    if venue.maker_fee is None:
        venue.maker_fee = Decimal(str(spec.maker_fee))
    if venue.taker_fee is None:
        venue.taker_fee = Decimal(str(spec.taker_fee))


def account_currency(venue: VenueSection, spec) -> str:
    """The currency of the single-currency figures: the account's base currency, else the quote."""
    return venue.base_currency or spec.quote


def _fill_starting_balances(venue: VenueSection, spec) -> None:
    """Resolve ``starting_balance`` (shorthand) and ``starting_balances`` into one consistent pair."""
    from odum_pipeline.instruments.currencies import default_starting_balance

    main = account_currency(venue, spec)
    given = {code.strip().upper(): amount for code, amount in (venue.starting_balances or {}).items()}
    allowed = [main] if venue.base_currency else list(dict.fromkeys([spec.quote, spec.base]))
    for code in given:
        if code not in allowed:
            raise ValueError(
                f"venue.starting_balances.{code}: not a currency of this account; expected {', '.join(allowed)}"
            )
    if venue.starting_balance is not None:
        if main in given and given[main] != venue.starting_balance:
            raise ValueError(
                f"venue.starting_balance: {venue.starting_balance} contradicts venue.starting_balances.{main} "
                f"({given[main]}); give one of them"
            )
        given[main] = venue.starting_balance
    for code in allowed:
        if code not in given:
            given[code] = default_starting_balance(code)
    if given[main] <= 0 and venue.base_currency:
        raise ValueError(f"venue.starting_balances.{main}: must be positive on a single-currency account")
    if not any(amount > 0 for amount in given.values()):
        raise ValueError("venue.starting_balances: at least one balance must be positive")
    venue.starting_balances = {code: given[code] for code in allowed}
    venue.starting_balance = given[main] if given[main] > 0 else None


def _check_sell_inventory(strategy: StrategySection, venue: VenueSection, spec) -> None:
    """On a multi-currency (spot cash) account a SELL needs the base currency it sells."""
    if venue.base_currency is not None or strategy.submission_mode is not SubmissionMode.PARENT_ORDERS:
        return
    held = venue.starting_balances.get(spec.base, Decimal(0))
    sold = Decimal(0)
    for index, order in enumerate(strategy.parent_orders):
        if order.side is not OrderSide.SELL:
            continue
        sold += order.quantity
        if sold > held:
            raise ValueError(
                f"strategy.parent_orders[{index}].quantity: SELL parents total {sold} {spec.base}, more than the "
                f"account holds (venue.starting_balances.{spec.base} = {held}); raise that balance or sell less"
            )


def _check_parent_orders_in_window(strategy: StrategySection, window: TimeWindowSection) -> None:
    for index, order in enumerate(strategy.parent_orders):
        if not window.contains(order.arrival):
            raise ValueError(
                f"strategy.parent_orders[{index}].arrival: {order.arrival.isoformat()} is outside the time window "
                f"{window.start.isoformat()} .. {window.end.isoformat()}"
            )


#: Beyond these a value is a typo, not a backtest (NautilusTrader's own limits are ~1.7e13).
SANE_MAX_QUANTITY = Decimal(10**9)
SANE_MAX_PRICE = Decimal(10**9)
SANE_MAX_BALANCE = Decimal(10**12)
#: Fee rates outside [-10 bps, +100 bps] are not a venue's fees (a -50 % taker fee pays 50 % per trade).
FEE_RANGE = (Decimal("-0.001"), Decimal("0.01"))


def _check_values_against_instrument(config: BacktestConfig, spec) -> None:
    """Quantities and prices the instrument can represent, sane sizes and fees; each error names its field."""
    size_increment, price_increment = Decimal(spec.size_increment), Decimal(spec.price_increment)
    min_quantity = Decimal(spec.min_quantity)
    problems = []
    for index, order in enumerate(config.strategy.parent_orders):
        where = f"strategy.parent_orders[{index}]"
        problems += _multiple_and_bounded(f"{where}.quantity", order.quantity, size_increment, SANE_MAX_QUANTITY, "size increment", spec.key)
        if order.quantity < min_quantity:
            problems.append(f"{where}.quantity: {_canonical_decimal(order.quantity)} is below {spec.key}'s minimum quantity {spec.min_quantity}")
        if order.limit_price is not None:
            problems += _multiple_and_bounded(f"{where}.limit_price", order.limit_price, price_increment, SANE_MAX_PRICE, "price increment", spec.key)
    for name in ("maker_fee", "taker_fee"):
        rate = getattr(config.venue, name)
        if rate is not None and not FEE_RANGE[0] <= rate <= FEE_RANGE[1]:
            problems.append(
                f"venue.{name}: {_canonical_decimal(rate)} is outside the sane range {FEE_RANGE[0]} .. {FEE_RANGE[1]} "
                "(a rate: 0.0004 = 4 bps)"
            )
    balance = getattr(config.venue, "starting_balance", None)
    if isinstance(balance, Decimal) and balance > SANE_MAX_BALANCE:
        problems.append(f"venue.starting_balance: {_canonical_decimal(balance)} is absurd (more than {SANE_MAX_BALANCE:,})")
    limit = config.risk.max_order_quantity
    if limit is not None and limit > SANE_MAX_QUANTITY:
        problems.append(f"risk.max_order_quantity: {_canonical_decimal(limit)} is absurd (more than {SANE_MAX_QUANTITY:,})")
    if problems:
        raise ValueError("\n  - ".join(problems))


def _multiple_and_bounded(field: str, value: Decimal, increment: Decimal, maximum: Decimal, what: str, key: str) -> list[str]:
    if value > maximum:
        return [f"{field}: {_canonical_decimal(value)} is absurd (more than {maximum:,})"]
    if value % increment != 0:
        return [f"{field}: {_canonical_decimal(value)} is not a multiple of {key}'s {what} {increment} "
                f"(it would run as {_canonical_decimal((value // increment) * increment)})"]
    return []


# --- loading, hashing, listing -------------------------------------------------------------------


def load_config(path: str | Path) -> BacktestConfig:
    """Read and validate one JSON config; every failure is a ``ConfigError`` naming the file."""
    return parse_config(read_document(path), source=Path(path))


def read_document(path: str | Path) -> dict[str, Any]:
    """A config file's JSON object, not yet validated (``ConfigError`` naming the file otherwise)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror or exc})") from None
    return parse_document(text, path)


def parse_document(text: str, source: str | Path) -> dict[str, Any]:
    """JSON text that must hold one object (a config document); ``source`` names it in errors.

    A key repeated in one object is an error naming its path (``json`` alone keeps the last one)."""
    try:
        data = json.loads(text, object_pairs_hook=_JsonObject.from_pairs)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a JSON object at the top level, got {type(data).__name__}")
    if data.duplicates:
        raise ConfigError(f"{source}: duplicate key(s) {', '.join(data.duplicates)} (each key may appear once per object)")
    return dict(data)


class _JsonObject(dict):
    """A parsed JSON object that remembers the paths of keys repeated in it or in its children."""

    duplicates: list[str]

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, Any]]) -> _JsonObject:
        obj = cls()
        obj.duplicates = []
        for key, value in pairs:
            if key in obj:
                obj.duplicates.append(key)
            obj[key] = value
            obj.duplicates += [f"{key}{'' if path.startswith('[') else '.'}{path}" for path in _nested_duplicates(value)]
        return obj


def _nested_duplicates(value: Any) -> list[str]:
    if isinstance(value, _JsonObject):
        return value.duplicates
    if isinstance(value, list):
        return [f"[{index}]{'' if path.startswith('[') else '.'}{path}" for index, item in enumerate(value) for path in _nested_duplicates(item)]
    return []


def parse_config(data: dict[str, Any], *, source: str | Path = "<config>") -> BacktestConfig:
    """Validate an already-parsed config dict; ``source`` names it in error messages."""
    stem = Path(source).stem if isinstance(source, Path) else None
    try:
        return BacktestConfig.model_validate(data, context={"file_stem": stem})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from None


def format_validation_error(source: str | Path, error: ValidationError) -> str:
    lines = [f"{source}: invalid backtest config ({error.error_count()} error(s))"]
    for item in error.errors(include_url=False):
        path, expectation = _field_path(item["loc"]), _expectation(item)
        field, sep, rest = expectation.partition(": ")
        if sep and _FIELD_PREFIX.fullmatch(field):  # model checks name their field first
            path, expectation = (f"{path}.{field}" if path else field), rest
        lines.append(f"  - {path}: {expectation}")
    return "\n".join(lines)


_FIELD_PREFIX = re.compile(r"[a-z_]+(\[\d+\])?(\.[A-Za-z_]+(\[\d+\])?)*")


def _field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and part.startswith(("function-", "union[")):
            continue
        else:
            path += f".{part}" if path else str(part)
    return path


def _expectation(item: dict[str, Any]) -> str:
    message = item["msg"].removeprefix("Value error, ")
    if item["type"] == "extra_forbidden":
        return "unknown key (not part of the schema)"
    if item["type"] == "missing":
        return "required field is missing"
    given = item.get("input")
    if item["type"] not in {"value_error", "assertion_error"} and not isinstance(given, (dict, list)):
        return f"{message} (got {given!r})"
    return message


def canonical_json(config: BacktestConfig) -> str:
    """The config's content as canonical JSON. The name is left out: it defaults to the file stem,
    and the hash is of the content, not the path."""
    payload = config.model_dump(mode="json", exclude={"name": True, "environment": {"timeout_secs", "replay"}})
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def config_sha256(config_or_path: BacktestConfig | str | Path) -> str:
    """sha256 of the canonical content: whitespace, key order and number formatting don't change it."""
    config = config_or_path if isinstance(config_or_path, BacktestConfig) else load_config(config_or_path)
    return hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()


#: Sections that do not change the market a run meets: runs differing only in them are compared together.
NON_SETUP_SECTIONS = {"name", "description", "execution", "environment"}


def setup_sha256(config: BacktestConfig) -> str:
    """sha256 of the market setup (instrument, window, parents, venue, market model, data, risk):
    the comparison key, whichever algorithm a run used and however it was launched."""
    payload = config.model_dump(mode="json", exclude=NON_SETUP_SECTIONS)
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def list_configs(configs_root: str | Path) -> list[Path]:
    """The JSON configs under ``configs_root``, sorted by name."""
    root = Path(configs_root)
    return sorted(root.glob("*.json")) if root.is_dir() else []
