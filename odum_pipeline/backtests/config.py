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


def _canonical_decimal(value: Decimal) -> str:
    """``2``, ``2.0`` and ``2.00`` are the same quantity: serialise them the same way."""
    return format(value.normalize(), "f")


#: A decimal written as a canonical string in JSON dumps (so formatting never changes the hash).
CanonicalDecimal = Annotated[Decimal, PlainSerializer(_canonical_decimal, return_type=str, when_used="json")]
PositiveDecimal = Annotated[CanonicalDecimal, Field(gt=0)]
NonNegativeDecimal = Annotated[CanonicalDecimal, Field(ge=0)]


class ConfigError(ValueError):
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


def _as_utc(value: dt.datetime) -> dt.datetime:
    """Timestamps are UTC: a naive one is read as UTC, an aware one converted to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


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
        default=None, description="Account currency. Default: the instrument's settlement currency."
    )
    starting_balance: PositiveDecimal = Field(
        default=Decimal(1_000_000), description="Starting balance in the base currency."
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
    liquidity_consumption: bool = Field(
        default=False,
        description="Orders use up the book liquidity they take: a price level's quantity is consumed until fresh "
        "book data arrives for it (NautilusTrader's liquidity_consumption). Off: every order can fill against the "
        "full visible book, which flatters many small orders sent between two snapshots.",
    )


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
        return _as_utc(value)

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
        return None if value is None else _as_utc(value)

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


class AlgorithmEntry(_Strict):
    name: str = Field(description="Execution algorithm, e.g. NORMAL, TWAP, VWAP, ICEBERG, POV.")
    params: dict[str, Any] = Field(default_factory=dict, description="Parameters handed to the algorithm.")
    label: str | None = Field(default=None, description="Unique label of this variant. Default: the name.")

    @field_validator("name")
    @classmethod
    def _upper_name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("algorithm name must not be empty")
        return value.strip().upper()

    @model_validator(mode="after")
    def _default_label(self) -> AlgorithmEntry:
        if self.label is None:
            self.label = self.name
        return self


class ExecutionSection(_Strict):
    algorithms: list[AlgorithmEntry] = Field(
        default_factory=lambda: [AlgorithmEntry(name="NORMAL")],
        min_length=1,
        description="Algorithms (and parameter variants) to run. Default: [{'name': 'NORMAL'}].",
    )

    @field_validator("algorithms")
    @classmethod
    def _unique_labels(cls, value: list[AlgorithmEntry]) -> list[AlgorithmEntry]:
        labels = [entry.label for entry in value]
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise ValueError(f"algorithm labels must be unique; repeated: {', '.join(duplicates)}")
        return value

    def names(self) -> list[str]:
        """The distinct algorithms listed (variants of one algorithm count once), in order."""
        return list(dict.fromkeys(entry.name for entry in self.algorithms))

    def by_label(self, label: str) -> AlgorithmEntry:
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
    timeout_secs: float | None = Field(
        default=None, gt=0, le=7 * 86_400,
        description="Wall-clock limit of one backtest run, seconds. Default: 600 + 600 per hour of window. "
        "Not part of the config's content hash (it does not change results).",
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
        _check_parent_orders_in_window(self.strategy, self.time_window)
        _check_values_against_instrument(self, spec)
        return self

    def instrument_spec(self):
        """The registry's ``InstrumentSpec`` of this config's instrument."""
        return _instrument_spec(self.instrument.id)


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
    if venue.base_currency is None:
        venue.base_currency = spec.settlement
    if venue.maker_fee is None:
        venue.maker_fee = Decimal(str(spec.maker_fee))
    if venue.taker_fee is None:
        venue.taker_fee = Decimal(str(spec.taker_fee))


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


_FIELD_PREFIX = re.compile(r"[a-z_]+(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*")


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
    payload = config.model_dump(mode="json", exclude={"name": True, "environment": {"timeout_secs"}})
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def config_sha256(config_or_path: BacktestConfig | str | Path) -> str:
    """sha256 of the canonical content: whitespace, key order and number formatting don't change it."""
    config = config_or_path if isinstance(config_or_path, BacktestConfig) else load_config(config_or_path)
    return hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()


def list_configs(configs_root: str | Path | None = None) -> list[Path]:
    """The JSON configs under ``configs_root`` (default: settings), sorted by name."""
    if configs_root is None:
        from odum_pipeline.settings import configs_root as default_root

        configs_root = default_root()
    root = Path(configs_root)
    return sorted(root.glob("*.json")) if root.is_dir() else []
