"""GCS data source against a local emulator: discovery, versions, windowed ranged reads, errors,
conversion into a gs:// catalog, and (slow) the same backtest on local and GCS data."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from odum_pipeline import gcs
from odum_pipeline.catalog.layout import RAW_DIR, TRADES
from odum_pipeline.catalog.preflight import check_raw_coverage
from odum_pipeline.catalog.raw_sources import GcsRawSource, LocalRawSource
from odum_pipeline.catalog.resources import raw_source_from_settings
from odum_pipeline_tests.conftest import BTC_PERP, REPO_ROOT, SHIPPED_ALGORITHMS
from odum_pipeline_tests.gcs_emulator import gcs_bucket, gcs_client, gcs_emulator, upload_tree  # noqa: F401

DAY = dt.date(2023, 4, 5)
WINDOW = (dt.datetime(2023, 4, 5, 0, 0, tzinfo=dt.UTC), dt.datetime(2023, 4, 5, 0, 5, tzinfo=dt.UTC))


@pytest.fixture
def raw_bucket(gcs_client, gcs_bucket, real_raw_root):  # noqa: F811
    """The real raw data uploaded to gs://<bucket>/desk/raw_tick_data/..."""
    upload_tree(gcs_client, gcs_bucket, real_raw_root / "raw_tick_data", prefix="desk/raw_tick_data")
    return gcs_bucket


def _gcs_source(client, bucket) -> GcsRawSource:
    return GcsRawSource(client, bucket, "desk")


def test_discovery_lists_the_same_files_with_object_versions(gcs_client, raw_bucket, real_raw_root):  # noqa: F811
    source = _gcs_source(gcs_client, raw_bucket)
    remote = source.discover()
    local = LocalRawSource(real_raw_root).discover()
    assert [(f.day, f.data_type, f.instrument_key) for f in remote] == [
        (f.day, f.data_type, f.instrument_key) for f in local
    ]
    assert all(str(f.path).startswith(f"gs://{raw_bucket}/desk/{RAW_DIR}/day-") for f in remote)
    trades = next(f for f in remote if f.day == DAY and f.data_type == TRADES)
    version = source.version(trades)
    assert version.startswith("gcs:") and trades.meta[2] in version  # generation + md5, from the listing

    # a re-delivered object (new generation) gets a new version and signature; the others keep theirs
    name = str(trades.path).split("/", 3)[3]
    gcs_client.bucket(raw_bucket).blob(name).upload_from_filename(
        str(real_raw_root / RAW_DIR / f"day-{DAY}" / "data_type-trades" / f"{BTC_PERP}.parquet")
    )
    again = {(f.day, f.data_type): f for f in source.discover()}
    assert source.version(again[(DAY, TRADES)]) != version
    assert source.signature(again[(DAY, TRADES)]) != source.signature(trades)
    others = [f for f in remote if f is not trades]
    assert [source.version(f) for f in others] == [source.version(again[(f.day, f.data_type)]) for f in others]


def test_window_coverage_reads_only_the_window_columns(gcs_client, raw_bucket, real_raw_root):  # noqa: F811
    source = _gcs_source(gcs_client, raw_bucket)
    gcs.READ_STATS.reset()
    remote = check_raw_coverage(source, BTC_PERP, *WINDOW, "both")
    read = gcs.READ_STATS.reset()
    local = check_raw_coverage(real_raw_root, BTC_PERP, *WINDOW, "both")

    def strip(report):
        data = report.to_dict()
        for day in data["days"]:
            for item in day["data"]:
                item.pop("path")
        return data

    assert remote.covered and strip(remote) == strip(local)
    day_files = [f for f in source.discover() if f.day == DAY]
    day_bytes = sum(f.meta[0] for f in day_files)
    print(f"\n5-minute window pre-flight: {read.bytes:,} bytes in {read.requests} ranged reads; day files {day_bytes:,} bytes")
    assert read.requests <= 2 * 2 * len(day_files)  # footer (+ rare second footer read) and one column chunk per file
    assert read.bytes < day_bytes / 2


def test_window_reads_prune_row_groups_on_a_full_day(gcs_client, gcs_bucket, tmp_path):  # noqa: F811
    """A synthetic 24-hour day (one row group per block): a 5-minute window fetches a small share of it."""
    from odum_pipeline.catalog.sample import generate_sample

    key = "BINANCE-FUTURES:PERPETUAL:BTC-USDT"
    generate_sample(tmp_path / "raw", days=[DAY], instrument_keys=[key], start_time=dt.time(0, 0), end_time=dt.time(23, 59))
    upload_tree(gcs_client, gcs_bucket, tmp_path / "raw")
    source = GcsRawSource(gcs_client, gcs_bucket)
    start = dt.datetime(2023, 4, 5, 12, 0, tzinfo=dt.UTC)
    gcs.READ_STATS.reset()
    remote = check_raw_coverage(source, key, start, start + dt.timedelta(minutes=5), "both")
    read = gcs.READ_STATS.reset()
    local = check_raw_coverage(tmp_path / "raw", key, start, start + dt.timedelta(minutes=5), "both")
    assert [i.rows_in_window for d in remote.days for i in d.data] == [i.rows_in_window for d in local.days for i in d.data]
    day_bytes = sum(f.meta[0] for f in source.discover())
    print(f"\nfull synthetic day, 5-minute window: {read.bytes:,} bytes in {read.requests} reads; day files {day_bytes:,} bytes")
    assert read.bytes < day_bytes / 10


def test_missing_bucket_object_and_credentials_are_one_line_errors(gcs_client, raw_bucket, monkeypatch):  # noqa: F811
    with pytest.raises(gcs.StorageError) as missing_bucket:
        GcsRawSource(gcs_client, "no-such-bucket").discover()
    message = str(missing_bucket.value)
    assert "'no-such-bucket'" in message and "UNIFIED_CLOUD_SERVICES_GCS_BUCKET" in message and "\n" not in message

    source = _gcs_source(gcs_client, raw_bucket)
    trades = next(f for f in source.discover() if f.data_type == TRADES)
    gcs_client.bucket(raw_bucket).blob(str(trades.path).split("/", 3)[3]).delete()
    with pytest.raises(gcs.StorageError) as missing_object:
        source.read(trades)
    assert str(missing_object.value) == f"{trades.path}: object not found"

    with pytest.raises(gcs.StorageError) as no_bucket_set:
        monkeypatch.delenv("UNIFIED_CLOUD_SERVICES_GCS_BUCKET", raising=False)
        monkeypatch.delenv("UNIFIED_CLOUD_LOCAL_PATH", raising=False)
        raw_source_from_settings("gcs")
    assert "UNIFIED_CLOUD_SERVICES_GCS_BUCKET" in str(no_bucket_set.value)

    # no emulator and no credentials: the client cannot be made
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    with pytest.raises(gcs.StorageError) as no_credentials:
        raw_source_from_settings("gcs", bucket=raw_bucket)
    assert "GOOGLE_APPLICATION_CREDENTIALS" in str(no_credentials.value) and "\n" not in str(no_credentials.value)
    with pytest.raises(gcs.StorageError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        gcs.gcsfs_options()


def test_source_selection_from_the_environment(gcs_emulator, raw_bucket, real_raw_root, monkeypatch):  # noqa: F811
    monkeypatch.setenv("UNIFIED_CLOUD_SERVICES_GCS_BUCKET", f"gs://{raw_bucket}/desk")
    monkeypatch.setenv("UNIFIED_CLOUD_LOCAL_PATH", str(real_raw_root))  # stands for a gcsfuse mount
    monkeypatch.delenv("UNIFIED_CLOUD_SERVICES_USE_DIRECT_GCS", raising=False)
    assert isinstance(raw_source_from_settings("gcs"), LocalRawSource)  # a mount is just a local root
    monkeypatch.setenv("UNIFIED_CLOUD_SERVICES_USE_DIRECT_GCS", "true")
    direct = raw_source_from_settings("gcs")
    assert isinstance(direct, GcsRawSource) and direct.label == f"gs://{raw_bucket}/desk"
    monkeypatch.setenv("ODUM_DATA_SOURCE", "local")
    assert isinstance(raw_source_from_settings(), LocalRawSource)

    from odum_pipeline.catalog.resources import RawDataResource

    monkeypatch.setenv("ODUM_DATA_SOURCE", "gcs")
    assert isinstance(RawDataResource().source(), GcsRawSource)
    assert isinstance(RawDataResource(data_source="local", root=str(real_raw_root)).source(), LocalRawSource)


def test_convert_from_the_bucket_into_a_gs_catalog(gcs_client, raw_bucket, gcs_bucket, real_raw_root, tmp_path):  # noqa: F811
    from odum_pipeline.catalog import store
    from odum_pipeline.catalog.convert import convert_day
    from odum_pipeline.catalog.preflight import missing_catalog_partitions

    source = _gcs_source(gcs_client, raw_bucket)
    catalog = f"gs://{raw_bucket}/catalog"
    local = convert_day(real_raw_root, tmp_path / "catalog", DAY, BTC_PERP)
    remote = convert_day(source, catalog, DAY, BTC_PERP)
    assert remote.rows == local.rows and remote.source_sha256 == local.source_sha256
    assert remote.sources[TRADES].startswith(f"gs://{raw_bucket}/desk/")
    again = convert_day(source, catalog, DAY, BTC_PERP)  # idempotent: the day is replaced, not duplicated
    assert again.catalog_files == remote.catalog_files
    fs = gcs.filesystem()
    for data_type, path in remote.catalog_files.items():
        directory = path.rsplit("/", 1)[0]
        assert [p.rsplit("/", 1)[-1] for p in fs.ls(directory, detail=False, refresh=True) if p.endswith(".parquet")] == [
            path.rsplit("/", 1)[-1]
        ]
        assert fs.cat_file(path) == open(local.catalog_files[data_type], "rb").read()
        assert list(store.read_manifest(directory)) == [DAY.isoformat()]
    assert not fs.exists(f"{catalog}/.odum-journal") or not fs.ls(f"{catalog}/.odum-journal", refresh=True)
    assert missing_catalog_partitions(catalog, BTC_PERP, *WINDOW) == []
    assert missing_catalog_partitions(catalog, BTC_PERP, dt.datetime(2023, 4, 4, 23, 59), WINDOW[1]) == [
        (dt.date(2023, 4, 4), BTC_PERP)
    ]
    assert [i.id.value for i in store.open_catalog(catalog).instruments()] == ["BTCUSDT-PERP.BINANCE"]


def test_an_interrupted_gs_swap_is_rolled_forward(gcs_client, raw_bucket, tmp_path, monkeypatch):  # noqa: F811
    from odum_pipeline.catalog import store
    from odum_pipeline.catalog.convert import convert_day

    source = _gcs_source(gcs_client, raw_bucket)
    catalog = f"gs://{raw_bucket}/catalog"

    def crash(files, journal):
        raise KeyboardInterrupt("killed after the journal was written")

    monkeypatch.setattr(store, "_apply", crash)
    with pytest.raises(KeyboardInterrupt):
        convert_day(source, catalog, DAY, BTC_PERP)
    monkeypatch.undo()
    fs = gcs.filesystem()
    assert len(fs.ls(f"{catalog}/.odum-journal", refresh=True)) == 1
    assert store.recover(catalog) == 1
    directory = store.data_directory(catalog, __import__("nautilus_trader.model.data", fromlist=["TradeTick"]).TradeTick, "BTCUSDT-PERP.BINANCE")
    assert list(store.read_manifest(directory)) == [DAY.isoformat()]
    assert not [p for p in fs.find(f"{catalog}/data") if ".tmp-" in p]


def test_odum_data_check_and_convert_from_gcs(gcs_emulator, raw_bucket, tmp_path):  # noqa: F811
    env = {
        **os.environ,
        "UNIFIED_CLOUD_SERVICES_GCS_BUCKET": f"{raw_bucket}/desk",
        "ODUM_VAR_ROOT": str(tmp_path / "var"),
    }
    env.pop("UNIFIED_CLOUD_LOCAL_PATH", None)
    odum = [sys.executable, "-m", "odum_pipeline.cli.main"]
    check = subprocess.run(
        [*odum, "data", "check", "--data-source", "gcs", "--instrument", BTC_PERP, "--start", "2023-04-05T00:00:00Z",
         "--end", "2023-04-05T00:05:00Z", "--json"],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=120,
    )
    assert check.returncode == 0, check.stderr
    report = json.loads(check.stdout)
    assert report["covered"] and report["days"][0]["data"][0]["path"].startswith(f"gs://{raw_bucket}/desk/")

    missing = subprocess.run(
        [*odum, "data", "check", "--data_source", "gcs", "--bucket", "gs://no-such-bucket", "--instrument", BTC_PERP,
         "--start", "2023-04-05T00:00:00Z", "--end", "2023-04-05T00:05:00Z"],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=120,
    )
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1].startswith("error: GCS bucket 'no-such-bucket' does not exist")

    convert = subprocess.run(
        [*odum, "data", "convert", "--data-source", "gcs", "--day", "2023-04-05", "--catalog", f"gs://{raw_bucket}/cat"],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300,
    )
    assert convert.returncode == 0, convert.stderr
    assert f"catalog: gs://{raw_bucket}/cat" in convert.stdout


# --- end to end (slow): discovery -> conversion -> backtest, GCS vs local ---------------------------

VOLATILE = ("run_id", "created_at")


def _comparable(summary: dict, *extra: str) -> dict:
    summary = {k: v for k, v in summary.items() if k not in VOLATILE}
    for dotted in extra:
        section, key = dotted.split(".")
        summary[section] = {k: v for k, v in summary[section].items() if k != key}
    return summary


def _real_config(mode: str = "fast"):
    from odum_pipeline.backtests.config import parse_config

    data = json.loads((REPO_ROOT / "configs" / "real_btc_20230405.json").read_text())
    data["time_window"] = {"start": "2023-04-05T00:00:00Z", "end": "2023-04-05T00:05:00Z"}
    data["environment"] = {"mode": mode}
    return parse_config(data, source="real_btc_20230405 (5 minutes)")


@pytest.mark.slow
def test_dagster_discovers_converts_and_backtests_from_gcs_like_local(gcs_client, raw_bucket, real_raw_root, tmp_path):  # noqa: F811
    from dagster import Definitions, build_sensor_context, instance_for_test, materialize
    from dagster._core.definitions.observe import observe

    from odum_pipeline.backtests.engine import AlgorithmSpec, run_backtest
    from odum_pipeline.backtests.run_folder import read_summary
    from odum_pipeline.catalog.assets import raw_ticks, tick_catalog
    from odum_pipeline.catalog.convert import convert_day
    from odum_pipeline.catalog.resources import CatalogResource, RawDataResource
    from odum_pipeline.catalog.sensors import raw_files_sensor

    catalog = f"gs://{raw_bucket}/catalog"
    resources = {
        "raw_data": RawDataResource(data_source="gcs", gcs_bucket=f"gs://{raw_bucket}/desk", use_direct_gcs=True),
        "catalog": CatalogResource(root=catalog),
    }
    with instance_for_test() as instance:
        # discovery: the sensor lists the bucket, registers partitions and requests each cell once
        context = build_sensor_context(
            instance=instance,
            resources=resources,
            definitions=Definitions(assets=[raw_ticks, tick_catalog], sensors=[raw_files_sensor], resources=resources),
        )
        result = raw_files_sensor(context)
        for request in result.dynamic_partitions_requests:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        keys = sorted(r.partition_key for r in result.run_requests)
        assert keys == ["2023-04-04|" + BTC_PERP, "2023-04-05|" + BTC_PERP, "2024-07-18|" + BTC_PERP, "2024-07-19|" + BTC_PERP]
        # observable source versions from object metadata
        observe([raw_ticks], instance=instance, resources=resources)
        # conversion through Dagster, into the gs:// catalog, every check passing
        for key in keys[:2]:
            done = materialize([raw_ticks, tick_catalog], selection=[tick_catalog], partition_key=key, instance=instance, resources=resources)
            assert done.success
            checks = [e for e in done.get_asset_check_evaluations()]
            assert checks and all(c.passed for c in checks)
            metadata = done.asset_materializations_for_node("tick_catalog")[0].metadata
            assert metadata["trades_source"].value.startswith(f"gs://{raw_bucket}/desk/")

    local_catalog = tmp_path / "catalog"
    for day in (dt.date(2023, 4, 4), DAY):
        convert_day(real_raw_root, local_catalog, day, BTC_PERP)

    config = _real_config()
    algorithms = (
        AlgorithmSpec(),
        AlgorithmSpec("TWAP", {"horizon_secs": 120, "interval_secs": 10}),
        AlgorithmSpec("VWAP", {"horizon_secs": 120, "intervals": 12}),  # its volume profile comes from the catalog
    )
    for algorithm in algorithms:
        local = run_backtest(config, algorithm=algorithm, algorithms_root=SHIPPED_ALGORITHMS, catalog_root=local_catalog, results_root=tmp_path / "results")
        gcs.READ_STATS.reset()
        remote = run_backtest(config, algorithm=algorithm, algorithms_root=SHIPPED_ALGORITHMS, catalog_root=catalog, results_root=f"gs://{raw_bucket}/results")
        read = gcs.READ_STATS.reset()
        assert str(remote.result_path).startswith(f"gs://{raw_bucket}/results/fast/")
        assert read_summary(remote.result_path) == json.loads(json.dumps(remote.summary, default=str))
        assert _comparable(remote.summary) == _comparable(local.summary)
        assert remote.summary["summary"]["fills"] > 0
        catalog_bytes = sum(p.stat().st_size for p in (local_catalog / "data").rglob("2023-04-05*.parquet"))
        print(f"\n{algorithm.name} on a gs:// catalog, 5-minute window: {read.bytes:,} bytes read in {read.requests} requests "
              f"(catalog day files {catalog_bytes:,} bytes)")


def test_tca_and_vwap_profile_from_a_gs_catalog_match_the_local_catalog(gcs_client, raw_bucket, real_raw_root, tmp_path):  # noqa: F811
    import pandas as pd

    from odum_pipeline.algorithms.profiles import catalog_profile
    from odum_pipeline.backtests.engine import AlgorithmSpec, run_backtest
    from odum_pipeline.catalog.convert import convert_day
    from odum_pipeline.instruments.registry import resolve
    from odum_pipeline.reports.tca import run_tca
    from odum_pipeline.timestamps import to_ns

    remote_catalog, local_catalog = f"gs://{raw_bucket}/catalog", tmp_path / "catalog"
    for day in (dt.date(2023, 4, 4), DAY):
        convert_day(_gcs_source(gcs_client, raw_bucket), remote_catalog, day, BTC_PERP)
        convert_day(real_raw_root, local_catalog, day, BTC_PERP)

    instrument_id = resolve(BTC_PERP).instrument_id
    start_ns = to_ns(WINDOW[0]) + 30 * 10**9
    profiles = [catalog_profile(root, instrument_id, start_ns, 120 * 10**9, 12) for root in (local_catalog, remote_catalog)]
    assert profiles[0] == profiles[1] and sum(profiles[0].volumes) > 0

    outcome = run_backtest(_real_config("report"), algorithm=AlgorithmSpec("TWAP", {"horizon_secs": 120, "interval_secs": 10}),
                           catalog_root=local_catalog, results_root=tmp_path / "results", mode="report",
                           algorithms_root=SHIPPED_ALGORITHMS)
    gcs.READ_STATS.reset()
    remote = run_tca(outcome.result_path, remote_catalog)
    assert gcs.READ_STATS.reset().bytes > 0  # the market data really came from the bucket
    local = run_tca(outcome.result_path, local_catalog)
    assert not local.per_parent.empty and local.aggregate["parents"] == 1
    pd.testing.assert_frame_equal(remote.per_parent, local.per_parent)
    pd.testing.assert_frame_equal(remote.per_fill, local.per_fill)
    assert remote.aggregate == local.aggregate


@pytest.mark.slow
def test_run_backtest_cli_with_gcs_data_matches_local(gcs_emulator, raw_bucket, real_raw_root, tmp_path):  # noqa: F811
    base = {**os.environ, "ODUM_VAR_ROOT": str(tmp_path / "var")}
    for name in ("UNIFIED_CLOUD_LOCAL_PATH", "ODUM_DATA_SOURCE", "DATA_CATALOG_PATH", "BACKTEST_RESULTS_PATH"):
        base.pop(name, None)
    args = [str(Path(sys.executable).parent / "run-backtest"), "--config", "configs/real_btc_20230405.json",
            "--start", "2023-04-05T00:00:00Z", "--end", "2023-04-05T00:05:00Z", "--fast",
            "--exec_algorithm", "TWAP", "--exec_algorithm_params", '{"horizon_secs": 120, "interval_secs": 10}']

    def run(extra, env):
        done = subprocess.run([*args, *extra], capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        return next(line.split("result: ", 1)[1] for line in done.stdout.splitlines() if "result: " in line), done

    local_path, _ = run(["--raw-root", str(real_raw_root), "--catalog", str(tmp_path / "cat"), "--results", str(tmp_path / "res")], base)
    gcs_env = {**base, "UNIFIED_CLOUD_SERVICES_GCS_BUCKET": f"gs://{raw_bucket}/desk"}
    remote_path, done = run(["--data_source", "gcs", "--catalog", f"gs://{raw_bucket}/cli-catalog",
                             "--results", f"gs://{raw_bucket}/cli-results"], gcs_env)
    assert f"from gs://{raw_bucket}/desk into the catalog" in done.stderr
    assert remote_path.startswith(f"gs://{raw_bucket}/cli-results/fast/")
    from odum_pipeline.backtests.run_folder import read_summary

    local, remote = read_summary(local_path), read_summary(remote_path)
    # the config differs only by environment.data_source = gcs, which is part of its content hash
    assert _comparable(remote, "config.sha256") == _comparable(local, "config.sha256")

    env_path, _ = run(["--catalog", f"gs://{raw_bucket}/cli-catalog", "--results", str(tmp_path / "res2")],
                      {**gcs_env, "ODUM_DATA_SOURCE": "gcs"})
    assert _comparable(read_summary(env_path)) == _comparable(local)  # the environment's choice leaves the config alone

    missing = subprocess.run([*args, "--data_source", "gcs", "--catalog", str(tmp_path / "cat3")], capture_output=True,
                             text=True, env={**base, "UNIFIED_CLOUD_SERVICES_GCS_BUCKET": "no-such-bucket"}, cwd=REPO_ROOT, timeout=300)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1] == (
        "error: GCS bucket 'no-such-bucket' does not exist (check UNIFIED_CLOUD_SERVICES_GCS_BUCKET / the gs:// URI)"
    )


def test_a_missing_catalog_or_results_bucket_is_a_one_line_error(gcs_client, raw_bucket, real_catalog):  # noqa: F811
    from odum_pipeline.backtests.engine import run_backtest
    from odum_pipeline.catalog.convert import convert_day

    with pytest.raises(gcs.StorageError) as catalog_error:
        convert_day(_gcs_source(gcs_client, raw_bucket), "gs://no-catalog-bucket/catalog", DAY, BTC_PERP)
    assert str(catalog_error.value).startswith("GCS bucket 'no-catalog-bucket' of gs://no-catalog-bucket/catalog does not exist")
    with pytest.raises(gcs.StorageError, match="GCS bucket 'no-results-bucket' of gs://no-results-bucket/r does not exist"):
        run_backtest(_real_config(), catalog_root=real_catalog, results_root="gs://no-results-bucket/r")


def test_working_copy_uploads_tca_before_the_summary_that_names_it(tmp_path):
    from odum_pipeline.reports.results_copy import WorkingCopy

    run = tmp_path / "report" / "R1"
    run.mkdir(parents=True)
    (run / "fills.parquet").write_bytes(b"unchanged")
    copy = WorkingCopy(tmp_path, "gs://b/results")
    copy._snapshot = {run / "fills.parquet": (9, (run / "fills.parquet").stat().st_mtime_ns)}
    (tmp_path / "comparison").mkdir()
    for path in (tmp_path / "comparison" / "cfg.html", run / "summary.json", run / "tca.parquet"):
        path.write_text("new")
    assert [copy.location_of(p) for p in copy.changed_files()] == [
        "gs://b/results/report/R1/tca.parquet", "gs://b/results/report/R1/summary.json", "gs://b/results/comparison/cfg.html"
    ]  # fmt: skip


@pytest.mark.slow
def test_comparison_report_over_gs_results_matches_local(gcs_client, gcs_bucket, real_catalog, tmp_path, capsys):  # noqa: F811
    import argparse

    from dagster import instance_for_test, materialize

    from odum_pipeline.backtests.assets import backtest_run
    from odum_pipeline.backtests.config import parse_config
    from odum_pipeline.backtests.engine import AlgorithmSpec, run_backtest
    from odum_pipeline.backtests.resources import AlgorithmsResource, ConfigsResource, ResultsResource
    from odum_pipeline.backtests.run_folder import read_summary
    from odum_pipeline.catalog.resources import CatalogResource
    from odum_pipeline.cli import compare_commands
    from odum_pipeline.reports.assets import comparison_report

    name = "gcs_compare"
    data = json.loads((REPO_ROOT / "configs" / "real_btc_20230405.json").read_text())
    config = parse_config({**data, "name": name})
    local_results, remote_results = tmp_path / "results", f"gs://{gcs_bucket}/results"
    remote_runs = []
    for algorithm in (AlgorithmSpec(), AlgorithmSpec("TWAP", {"horizon_secs": 120, "interval_secs": 10})):
        run_backtest(config, algorithm=algorithm, algorithms_root=SHIPPED_ALGORITHMS, catalog_root=real_catalog, results_root=local_results, mode="report")
        remote_runs.append(
            run_backtest(config, algorithm=algorithm, algorithms_root=SHIPPED_ALGORITHMS, catalog_root=real_catalog, results_root=remote_results, mode="report")
        )

    def report(results_root):
        with instance_for_test() as instance:
            instance.add_dynamic_partitions("config", [name])
            resources = {"results": ResultsResource(root=str(results_root)), "catalog": CatalogResource(root=str(real_catalog)),
                         "configs": ConfigsResource(), "algorithms": AlgorithmsResource()}  # fmt: skip
            done = materialize([backtest_run, comparison_report], selection=[comparison_report], partition_key=name,
                               instance=instance, resources=resources)  # fmt: skip
        assert done.success
        return done.asset_materializations_for_node("comparison_report")[0].metadata

    def rows(metadata):
        return sorted(({k: v for k, v in r.data.items() if k != "run_id"} for r in metadata["table"].records), key=str)

    local, remote = report(local_results), report(remote_results)
    assert len(rows(remote)) == 2 and rows(remote) == rows(local)
    assert {r.data["run_id"] for r in remote["table"].records} == {o.run_id for o in remote_runs}
    html = f"{remote_results}/comparison/{name}.html"
    assert remote["html_report"].value == html
    fs = gcs.filesystem()
    assert all(o.run_id in fs.cat_file(html).decode() for o in remote_runs)
    local_files = {p.name for p in next((local_results / "report").iterdir()).iterdir()}
    assert "parents.parquet" in local_files
    for outcome in remote_runs:  # the same files as a local report, and the TCA went back next to them
        assert {p.rsplit("/", 1)[-1] for p in fs.ls(str(outcome.result_path), detail=False, refresh=True)} == local_files
        assert fs.exists(f"{outcome.result_path}/tca.parquet")
        assert read_summary(outcome.result_path)["tca"]["parents"] == 1
    assert sorted(remote["tca_computed_for"].value) == sorted(o.run_id for o in remote_runs)
    assert report(remote_results)["tca_computed_for"].value == []  # read back from the bucket, not recomputed

    parser = argparse.ArgumentParser()
    compare_commands.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["compare", "--config", name, "--results", remote_results, "--catalog", str(real_catalog)])
    assert args.handler(args) == 0
    printed = capsys.readouterr().out
    assert f"HTML report: {html}" in printed and all(o.run_id in printed for o in remote_runs)


# ----------------------------------------------------------------------------- issue 11: gs:// catalog safety


def _small_raw(root: Path, real_raw_root: Path, day: dt.date, rows: int) -> Path:
    import pyarrow.parquet as pq

    from odum_pipeline.catalog.layout import BOOK, raw_path

    for data_type in (TRADES, BOOK):
        target = raw_path(root, day, data_type, BTC_PERP)
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pq.read_table(raw_path(real_raw_root, day, data_type, BTC_PERP)).slice(0, rows), target)
    return root


def _gs_day_files(directory: str) -> list[str]:
    return sorted(p.rsplit("/", 1)[-1] for p in gcs.filesystem().ls(directory, detail=False, refresh=True) if p.endswith(".parquet"))


def _gs_dirs(catalog: str) -> list[str]:
    from nautilus_trader.model.data import OrderBookDepth10, TradeTick

    from odum_pipeline.catalog import store

    return [store.data_directory(catalog, cls, "BTCUSDT-PERP.BINANCE") for cls in (TradeTick, OrderBookDepth10)]


def test_two_gs_conversions_of_the_same_day_never_both_land(gcs_bucket, real_raw_root, tmp_path, monkeypatch):  # noqa: F811
    """Issue 11.2 in GCS: the lock object (ifGenerationMatch=0) serialises plan+journal+apply."""
    import contextlib
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from odum_pipeline.catalog import store
    from odum_pipeline.catalog.convert import convert_day

    catalog = f"gs://{gcs_bucket}/catalog"
    first, second = _small_raw(tmp_path / "a", real_raw_root, DAY, 300), _small_raw(tmp_path / "b", real_raw_root, DAY, 200)
    convert_day(_small_raw(tmp_path / "old", real_raw_root, DAY, 250), catalog, DAY, BTC_PERP)
    both_planned = threading.Barrier(2, timeout=5)
    real_write_journal = store._write_journal

    plans = []

    def meet_then_write_journal(files, catalog_root, plan):
        plans.append(plan)
        with contextlib.suppress(threading.BrokenBarrierError):
            both_planned.wait()
        return real_write_journal(files, catalog_root, plan)

    monkeypatch.setattr(store, "_write_journal", meet_then_write_journal)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(convert_day, raw, catalog, DAY, BTC_PERP) for raw in (first, second)]:
            future.result()
    monkeypatch.undo()

    for directory in _gs_dirs(catalog):
        manifest = store.read_manifest(directory)
        assert [entry["file"] for entry in manifest.values()] == _gs_day_files(directory)
    # The second plan was made against the first's manifest: it removes the first's new day files.
    first_new = {final for _, final in plans[0]["moves"] if final.endswith(".parquet")}
    assert first_new and first_new <= set(plans[1]["removals"])
    trades = store.open_catalog(catalog).trade_ticks(instrument_ids=["BTCUSDT-PERP.BINANCE"])
    assert len(trades) in (300, 200) and len({t.trade_id.value for t in trades}) == len(trades)
    assert not gcs.filesystem().exists(f"{catalog}/{store.LOCK_NAME}")  # released


def test_a_gs_journal_outside_the_catalog_is_refused_and_a_damaged_manifest_blocks_its_day(
    gcs_bucket, real_raw_root, tmp_path, caplog  # noqa: F811
):
    """Issue 11.4 and 11.14 in GCS."""
    from odum_pipeline.catalog import store
    from odum_pipeline.catalog.convert import convert_day
    from odum_pipeline.catalog.preflight import missing_catalog_partitions

    catalog = f"gs://{gcs_bucket}/catalog"
    other_day = DAY - dt.timedelta(days=1)
    for day in (DAY, other_day):
        convert_day(_small_raw(tmp_path / "raw", real_raw_root, day, 200), catalog, day, BTC_PERP)
    fs = gcs.filesystem()
    victim = f"gs://{gcs_bucket}/victim.txt"
    fs.pipe_file(victim, b"keep me")
    journal = f"{catalog}/{store.JOURNAL_DIR}/planted.json"
    fs.pipe_file(journal, json.dumps({"moves": [], "removals": [victim]}).encode())

    with caplog.at_level("WARNING"):
        assert store.recover(catalog) == 0
    assert fs.cat_file(victim) == b"keep me"
    assert not fs.exists(journal)
    assert any(journal in r.getMessage() and "outside" in r.getMessage() for r in caplog.records)

    manifest = f"{_gs_dirs(catalog)[1]}/{store.MANIFEST_DIR}/{DAY.isoformat()}.json"
    fs.pipe_file(manifest, b"{not json")
    window = lambda day: (dt.datetime.combine(day, dt.time(), dt.UTC), dt.datetime.combine(day, dt.time(23), dt.UTC))  # noqa: E731
    assert missing_catalog_partitions(catalog, BTC_PERP, *window(other_day)) == []
    with pytest.raises(ValueError) as info:
        missing_catalog_partitions(catalog, BTC_PERP, *window(DAY))
    assert manifest in str(info.value) and "\n" not in str(info.value)
    convert_day(_small_raw(tmp_path / "raw", real_raw_root, DAY, 200), catalog, DAY, BTC_PERP)
    assert missing_catalog_partitions(catalog, BTC_PERP, *window(DAY)) == []
    for directory in _gs_dirs(catalog):
        assert sorted(e["file"] for e in store.read_manifest(directory).values()) == _gs_day_files(directory)
