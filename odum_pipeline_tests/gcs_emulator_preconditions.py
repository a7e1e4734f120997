"""``gcp-storage-emulator`` with GCS's generation preconditions on object uploads and deletes.

The emulator ignores ``ifGenerationMatch``; real GCS answers 412 when it does not hold. The
catalog's lock object relies on exactly that (create only if absent: ``ifGenerationMatch=0``;
delete only one's own generation), so the tests run the emulator through this launcher, which
adds the check in front of the emulator's own handlers and then starts it unchanged.
Usage: ``python gcs_emulator_preconditions.py start --host ... --port ... --in-memory``.
"""

from __future__ import annotations

import sys
from http import HTTPStatus

from gcp_storage_emulator.exceptions import NotFound
from gcp_storage_emulator.handlers import objects

_insert, _delete = objects.insert, objects.delete


def _generation(storage, bucket: str, name: str) -> int:
    try:
        return int(storage.get_file_obj(bucket, name).get("generation") or 0)
    except NotFound:
        return 0


def _failed(request, storage, name: str | None) -> bool:
    wanted = request.query.get("ifGenerationMatch")
    if not wanted or name is None:
        return False
    return int(wanted[0]) != _generation(storage, request.params["bucket_name"], name)


def _upload_name(request) -> str | None:
    if "name" in request.query:
        return request.query["name"][0]
    data = request.data
    return data.get("meta", {}).get("name") if isinstance(data, dict) else None


def insert(request, response, storage, *args, **kwargs):
    if _failed(request, storage, _upload_name(request)):
        response.status = HTTPStatus.PRECONDITION_FAILED
        return None
    return _insert(request, response, storage, *args, **kwargs)


def delete(request, response, storage, *args, **kwargs):
    if _failed(request, storage, request.params.get("object_id")):
        response.status = HTTPStatus.PRECONDITION_FAILED
        return None
    return _delete(request, response, storage, *args, **kwargs)


objects.insert, objects.delete = insert, delete  # before the server module builds its routing table

if __name__ == "__main__":
    from gcp_storage_emulator.__main__ import main

    sys.exit(main())
