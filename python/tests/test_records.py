"""rdbkit.open(): every fixture's records, as Python objects, equal the
server truth; filters; errors carry the byte offset."""

import pytest

import rdbkit
from truth import TESTDATA, compare, golden_fixtures

FIXTURES = golden_fixtures()


def test_there_are_fixtures():
    assert len(FIXTURES) > 50


@pytest.mark.parametrize("rdb", FIXTURES, ids=lambda p: str(p.relative_to(TESTDATA)))
def test_records_equal_truth(rdb):
    ours = [
        (r.db, r.key, r.type, r.expire_ms, r.value, r.field_expire_ms) for r in rdbkit.open(rdb)
    ]
    problems = compare(ours, rdb)
    assert not problems, "\n".join(problems[:5])


def test_record_attributes_and_python_types():
    recs = {r.key: r for r in rdbkit.open(TESTDATA / "redis-7.4.1/default.rdb")}
    types = {r.type for r in recs.values()}
    assert {"string", "list", "set", "zset", "hash", "stream"} <= types
    for r in recs.values():
        assert isinstance(r.key, bytes) and isinstance(r.db, int)
        want = {"string": bytes, "list": list, "set": set, "zset": list, "hash": dict, "stream": dict}
        if r.type in want:
            assert isinstance(r.value, want[r.type]), (r, type(r.value))
        if r.type == "zset":
            assert all(isinstance(m, bytes) and isinstance(s, float) for m, s in r.value)
    assert "Record(db=" in repr(next(iter(recs.values())))


def test_file_order_and_threads_do_not_change_the_result():
    p = TESTDATA / "redis-7.0.15/default.rdb"
    one = [(r.offset, r.key) for r in rdbkit.open(p, threads=1)]
    many = [(r.offset, r.key) for r in rdbkit.open(p, threads=4)]
    assert one == many
    assert [o for o, _ in one] == sorted(o for o, _ in one)


def test_filters():
    p = TESTDATA / "redis-7.4.1/default.rdb"
    everything = list(rdbkit.open(p))
    hashes = list(rdbkit.open(p, type="hash"))
    assert hashes and len(hashes) == sum(r.type == "hash" for r in everything)
    db0 = list(rdbkit.open(p, db=[0], key="str:*"))
    assert db0 and all(r.db == 0 and r.key.startswith(b"str:") for r in db0)
    exp = list(rdbkit.open(p, expiring=True))
    assert exp and all(r.expire_ms is not None for r in exp)
    with pytest.raises(TypeError):
        rdbkit.open(p, colour="blue")


def test_truncated_file_raises_with_offset(tmp_path):
    data = (TESTDATA / "redis-7.4.1/default.rdb").read_bytes()
    bad = tmp_path / "cut.rdb"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(rdbkit.RdbError) as e:
        for _ in rdbkit.open(bad):
            pass
    assert isinstance(e.value.offset, int) and 0 < e.value.offset <= len(data) // 2
    assert "cut.rdb" in str(e.value)


def test_bad_header_and_missing_file(tmp_path):
    bad = tmp_path / "bad.rdb"
    bad.write_bytes(b"REDIS0099\xff")
    with pytest.raises(rdbkit.RdbError) as e:
        list(rdbkit.open(bad))
    assert e.value.offset == 5
    with pytest.raises(rdbkit.RdbError) as e:
        list(rdbkit.open(tmp_path / "nope.rdb"))
    assert e.value.offset is None


def test_checksum_mismatch_raises():
    p = TESTDATA / "redis-7.4.1/default.rdb"
    data = bytearray(p.read_bytes())
    data[-1] ^= 0xFF
    import tempfile, os

    with tempfile.TemporaryDirectory() as d:
        bad = os.path.join(d, "crc.rdb")
        open(bad, "wb").write(bytes(data))
        with pytest.raises(rdbkit.RdbError) as e:
            list(rdbkit.open(bad))
        assert e.value.offset is not None
        assert len(list(rdbkit.open(bad, verify_checksum=False))) > 100


def test_abandoned_iterator_stops_cleanly():
    it = rdbkit.open(TESTDATA / "redis-7.0.15/default.rdb")
    first = next(it)
    assert first.key
    del it  # the reader thread must notice and stop
