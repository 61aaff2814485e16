"""Read Redis/Valkey RDB snapshot files from Python.

Decoding runs in Rust, on all cores, with the file memory-mapped; records
come back in file order. See ``python/README.md`` for examples with pandas
and DuckDB.

Filters (keyword arguments of every function): ``db`` (int or list),
``key`` (Redis glob or list), ``key_regex``, ``not_key``, ``type`` ("hash",
"zset,set" or a list), ``min_bytes`` / ``max_bytes`` (serialized value
size), ``expiring`` (True: only keys with a TTL, False: only without),
``threads``, ``verify_checksum``.
"""

import json as _json
import os as _os
import tempfile as _tempfile

from . import _rdbkit
from ._rdbkit import Record, Records, RdbError

__all__ = ["open", "stats", "memory", "to_parquet", "Record", "Records", "RdbError"]


def open(path, **filters):
    """Iterate over the keys of the snapshot at ``path``, in file order.

    Each item is a :class:`Record` with ``db``, ``key`` (bytes), ``type``,
    ``encoding``, ``expire_ms``, ``idle``, ``freq``, ``offset``, ``value``
    and ``field_expire_ms``. Values are Python objects: bytes (string),
    list of bytes (list), set of bytes (set), list of (member, score)
    (zset), dict bytes -> bytes (hash), dict (stream). Raises
    :class:`RdbError` (with ``.offset``) on a damaged file.
    """
    return _rdbkit.open(_os.fspath(path), **filters)


def stats(path, **filters):
    """``rdbkit stats --json`` of the snapshot, as a dict."""
    return _json.loads(_rdbkit.stats_json(_os.fspath(path), **filters))


def memory(path, as_table=False, **filters):
    """Per-key memory estimates (the ``rdbkit memory`` model).

    Rows as dicts (``database``, ``type``, ``key``, ``size_in_bytes``,
    ``encoding``, ``num_elements``, ``len_largest_element``, ``expiry``,
    ``serialized_bytes``, ``rdb_encoding``, and ``expire_ms`` when set), the
    way ``rdbkit memory --format json`` writes them; or, with
    ``as_table=True``, a ``pyarrow.Table`` of the export key table
    (``key`` as binary, ``memory`` as the estimate).
    """
    if as_table:
        import pyarrow as pa

        with _tempfile.TemporaryDirectory() as d:
            out = _os.path.join(d, "keys.arrow")
            _rdbkit.export([_os.fspath(path)], out, format="arrow", **filters)
            with pa.memory_map(out) as src:
                return pa.ipc.open_file(src).read_all()
    raw = _rdbkit.memory_jsonl(_os.fspath(path), **filters)
    return [_json.loads(line) for line in raw.splitlines() if line]


def to_parquet(path, out, values=False, batch_rows=131072, zstd_level=1, **filters):
    """Write the key table of one snapshot (or a list of them) to Parquet.

    One row per key: ``file``, ``db``, ``key``, ``type``, ``encoding``,
    ``rdb_encoding``, ``expire_ms``, ``idle``, ``freq``,
    ``serialized_bytes``, ``num_elements``, ``len_largest_element``,
    ``memory``, ``offset``; with ``values=True`` also the value columns.
    Returns the number of rows written.
    """
    paths = [path] if isinstance(path, (str, bytes, _os.PathLike)) else list(path)
    return _rdbkit.export(
        [_os.fspath(p) for p in paths],
        _os.fspath(out),
        format="parquet",
        values=values,
        batch_rows=batch_rows,
        zstd_level=zstd_level,
        **filters,
    )
