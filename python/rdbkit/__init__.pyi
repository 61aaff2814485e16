"""Type hints of the rdbkit package."""

import os
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple, Union

PathLike = Union[str, "os.PathLike[str]"]
Value = Union[
    bytes,
    List[bytes],
    Set[bytes],
    List[Tuple[bytes, float]],
    Dict[bytes, bytes],
    Dict[str, Any],
]

class RdbError(Exception):
    """A snapshot could not be read."""

    offset: Optional[int]
    """Byte offset of the problem in the file (None for I/O errors)."""
    path: str

class Record:
    """One key of a snapshot."""

    @property
    def db(self) -> int: ...
    @property
    def key(self) -> bytes: ...
    @property
    def type(self) -> str:
        """string, list, set, zset, hash, stream, module or array."""
    @property
    def encoding(self) -> str:
        """The encoding stored in the file (OBJECT ENCODING words)."""
    @property
    def expire_ms(self) -> Optional[int]: ...
    @property
    def idle(self) -> Optional[int]: ...
    @property
    def freq(self) -> Optional[int]: ...
    @property
    def offset(self) -> int: ...
    @property
    def value(self) -> Value: ...
    @property
    def field_expire_ms(self) -> Optional[Dict[bytes, int]]: ...

class Records(Iterator[Record]):
    def __iter__(self) -> "Records": ...
    def __next__(self) -> Record: ...

def open(
    path: PathLike,
    *,
    db: Union[int, Sequence[int], None] = ...,
    key: Union[str, Sequence[str], None] = ...,
    key_regex: Union[str, Sequence[str], None] = ...,
    not_key: Union[str, Sequence[str], None] = ...,
    type: Union[str, Sequence[str], None] = ...,
    min_bytes: Optional[int] = ...,
    max_bytes: Optional[int] = ...,
    expiring: Optional[bool] = ...,
    threads: Optional[int] = ...,
    verify_checksum: bool = ...,
) -> Records: ...
def stats(path: PathLike, **filters: Any) -> Dict[str, Any]: ...
def memory(path: PathLike, as_table: bool = ..., **filters: Any) -> Any:
    """List of dicts, or a pyarrow.Table with as_table=True."""
def to_parquet(
    path: Union[PathLike, Sequence[PathLike]],
    out: PathLike,
    values: bool = ...,
    batch_rows: int = ...,
    zstd_level: int = ...,
    **filters: Any,
) -> int: ...
