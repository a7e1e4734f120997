"""Is a partition's latest materialization already current? Asked by the sensors before they request a run.

A sensor with a fresh cursor (a new ``dagster dev``, a new deployment, a reset cursor) sees every
raw file and config as new. The instance knows better: its latest materialization of the partition
carries the code version that made it (Dagster's ``dagster/code_version`` tag) and the versions of
the sources it was made from, which the assets record in their metadata (``raw_version`` for the
catalog, ``config_sha256`` and ``algorithm_version`` for a backtest). A partition whose latest
materialization has the current code version and the current source versions is finished work.

Why metadata and not Dagster's ``dagster/input_data_version/<source>`` tags: for a *partitioned*
observable source, Dagster 1.13 hashes the upstream partitions' latest *materializations* only
(``_get_partitions_data_version_from_keys``, "TODO: this needs to account for observations also"),
so the tag it records is the hash of nothing, the same for every version of the source.
"""

from __future__ import annotations

from dagster import AssetRecordsFilter, AssetsDefinition, DagsterInstance
from dagster._core.definitions.data_version import CODE_VERSION_TAG


def latest_materialization(instance: DagsterInstance, asset: AssetsDefinition, partition: str):
    """The partition's latest ``AssetMaterialization`` (tags and metadata), or None if it has none."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset.key, asset_partitions=[partition]), limit=1, ascending=False
    ).records
    return records[0].asset_materialization if records else None


def materialization_is_current(
    instance: DagsterInstance, asset: AssetsDefinition, partition: str, source_versions: dict[str, str]
) -> bool:
    """True when the latest materialization of ``partition`` was made by the asset's current code
    version and records exactly ``source_versions`` ({metadata key: the source's current version})."""
    materialization = latest_materialization(instance, asset, partition)
    if materialization is None:
        return False
    if (materialization.tags or {}).get(CODE_VERSION_TAG) != asset.code_versions_by_key[asset.key]:
        return False
    metadata = materialization.metadata
    return all(
        key in metadata and str(metadata[key].value) == version for key, version in source_versions.items()
    )
