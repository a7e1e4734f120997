"""The programmatic API: launch backtests from another system through Dagster's GraphQL API.

A thin layer over ``dagster-graphql``'s ``DagsterGraphQLClient`` (pinned with the Dagster family)
talking to a running ``dagster-webserver`` (or ``dagster dev``); runs are queued and launched by the
daemon like runs started in the UI, so they share the run queue and the ``nautilus`` pool.

    api = BacktestAPI("127.0.0.1", 3000)
    run = api.launch_backtest("real_btc_20230405", "TWAP")      # one backtest_run partition
    run = api.launch_adhoc("real_btc_20230405", algorithm="TWAP", params={"horizon_secs": 120})
    status = api.wait(run)                                        # "SUCCESS", "FAILURE" or "CANCELED"
    result = api.result(run)    # Dagster run id, status, backtest run ids, result paths, headline figures

``result`` reads the run's event log (GraphQL ``logsForRun``): the ``backtest_run``
materialization metadata, or the ``adhoc_backtest`` op's output metadata, and, for a failed run,
the one-line failure message. No home-made REST server.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from dagster_graphql import DagsterGraphQLClient

from odum_pipeline.backtests.partitions import backtest_partition_key
from odum_pipeline.errors import OdumError

ASSET_JOB = "__ASSET_JOB"
ADHOC_JOB = "adhoc_backtest"
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}

_EVENTS_QUERY = """
query RunEvents($runId: ID!, $cursor: String) {
  logsForRun(runId: $runId, afterCursor: $cursor, limit: 1000) {
    __typename
    ... on EventConnection {
      cursor
      hasMore
      events {
        __typename
        ... on MaterializationEvent { assetKey { path } partition metadataEntries { ...Entry } }
        ... on ExecutionStepOutputEvent { stepKey metadataEntries { ...Entry } }
        ... on ExecutionStepFailureEvent { stepKey error { message } failureMetadata { description } }
      }
    }
    ... on PythonError { message }
    ... on RunNotFoundError { message }
  }
}
fragment Entry on MetadataEntry {
  label
  __typename
  ... on TextMetadataEntry { text }
  ... on FloatMetadataEntry { floatValue }
  ... on IntMetadataEntry { intValue }
  ... on BoolMetadataEntry { boolValue }
  ... on PathMetadataEntry { path }
  ... on JsonMetadataEntry { jsonString }
  ... on MarkdownMetadataEntry { mdStr }
}
"""


class BacktestAPIError(OdumError, RuntimeError):
    """The webserver refused a request, or a run did not finish in time; the message says which."""


@dataclass
class BacktestRunResult:
    dagster_run_id: str
    status: str
    run_ids: list[str] = field(default_factory=list)  # the backtests' own run ids (result folders)
    result_paths: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)  # headline figures of the (first) backtest
    failure: str | None = None


class BacktestAPI:
    def __init__(self, host: str = "127.0.0.1", port: int | None = 3000, *, use_https: bool = False,
                 timeout: int = 60, location: str | None = None) -> None:
        self.client = DagsterGraphQLClient(host, port_number=port, use_https=use_https, timeout=timeout)
        self.location = location

    def launch_backtest(self, config: str, algorithm: str) -> str:
        """Queue a run materializing the ``backtest_run`` partition (config, algorithm); its Dagster run id."""
        key = backtest_partition_key(config, algorithm.upper())
        return self._submit(ASSET_JOB, asset_selection=["backtest_run"], tags={"dagster/partition": key})

    def launch_adhoc(self, config_name: str, *, algorithm: str | None = None, params: dict | None = None,
                     **overrides: Any) -> str:
        """Queue the ``adhoc_backtest`` job (``start``, ``end``, ``snapshot_mode``, ``mode``, ``export_ticks``)."""
        request: dict[str, Any] = {"config_name": config_name, **{k: v for k, v in overrides.items() if v is not None}}
        if algorithm is not None:
            request["algorithm"] = algorithm
        if params is not None:
            request["params_json"] = json.dumps(params)
        return self._submit(ADHOC_JOB, run_config={"ops": {"adhoc_backtest_op": {"config": request}}})

    def wait(self, run_id: str, *, timeout_secs: float = 3600, poll_secs: float = 1.0) -> str:
        """Poll until the run finished; its final status ("SUCCESS", "FAILURE", "CANCELED")."""
        deadline = time.monotonic() + timeout_secs
        while True:
            status = self.client.get_run_status(run_id).value
            if status in FINISHED:
                return status
            if time.monotonic() >= deadline:
                raise BacktestAPIError(f"run {run_id} still {status} after {timeout_secs:g} s")
            time.sleep(poll_secs)

    def result(self, run_id: str) -> BacktestRunResult:
        """What the finished run produced (see the module docstring)."""
        status = self.client.get_run_status(run_id).value
        result = BacktestRunResult(dagster_run_id=run_id, status=status)
        for event in self._events(run_id):
            kind = event["__typename"]
            if kind == "MaterializationEvent" and event["assetKey"]["path"] == ["backtest_run"]:
                self._add_backtest(result, _entries(event["metadataEntries"]))
            elif kind == "ExecutionStepOutputEvent" and event["stepKey"] == "adhoc_backtest_op":
                entries = _entries(event["metadataEntries"])
                result.run_ids += [r for r in entries.get("run_ids", []) if r not in result.run_ids]
                self._add_backtest(result, entries)
            elif kind == "ExecutionStepFailureEvent":
                described = (event.get("failureMetadata") or {}).get("description")
                result.failure = described or event["error"]["message"].strip().splitlines()[-1]
        return result

    # --- plumbing -------------------------------------------------------------------------------

    def _submit(self, job: str, **kwargs: Any) -> str:
        from dagster_graphql import DagsterGraphQLClientError

        try:
            return self.client.submit_job_execution(job, repository_location_name=self.location, **kwargs)
        except DagsterGraphQLClientError as error:
            raise BacktestAPIError(f"launching {job} failed: {error}") from None

    def _events(self, run_id: str) -> list[dict[str, Any]]:
        events, cursor = [], None
        while True:
            page = self.client._execute(_EVENTS_QUERY, {"runId": run_id, "cursor": cursor})["logsForRun"]
            if page["__typename"] != "EventConnection":
                raise BacktestAPIError(f"run {run_id}: {page.get('message', page['__typename'])}")
            events += [e for e in page["events"] if e]
            cursor = page["cursor"]
            if not page["hasMore"]:
                return events

    @staticmethod
    def _add_backtest(result: BacktestRunResult, entries: dict[str, Any]) -> None:
        if "run_id" in entries and entries["run_id"] not in result.run_ids:
            result.run_ids.append(entries["run_id"])
        if "result_path" in entries:
            result.result_paths.append(entries["result_path"])
        if not result.metadata:
            result.metadata = dict(entries)


def _entries(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """GraphQL metadata entries as plain values (Markdown charts left out)."""
    values: dict[str, Any] = {}
    for entry in entries:
        for key in ("text", "floatValue", "intValue", "boolValue", "path"):
            if key in entry:
                values[entry["label"]] = entry[key]
        if "jsonString" in entry:
            values[entry["label"]] = json.loads(entry["jsonString"])
    return values
