//! Encode → decode round trips of every kind in every output format.

use crate::rdb::cursor::Cursor;
use crate::rdb::stream::{Consumer, Group, PendingEntry, StreamId, StreamMeta};
use crate::rdb::value::{decode_value, Dialect, Scratch, StreamEntry, Value, ValueType};

use super::*;

fn formats() -> Vec<Format> {
    let mut v: Vec<Format> = (6..=13)
        .map(|n| Format::new(Dialect::Redis, n).unwrap())
        .collect();
    v.push(Format::new(Dialect::Valkey, 80).unwrap());
    v
}

fn round_trip(v: &Value, fmt: Format) -> (u8, Value) {
    let e = encode(v, fmt).unwrap_or_else(|l| panic!("{fmt:?}: {l}"));
    assert!(
        fmt.accepts_type(e.type_byte, fmt.dialect),
        "{fmt:?} type {}",
        e.type_byte
    );
    let vt = ValueType::from_byte(e.type_byte, fmt.dialect).unwrap();
    let mut back = Value::empty(vt.kind());
    let mut cur = Cursor::new(&e.bytes, 0);
    decode_value(&mut cur, vt, &mut Scratch::default(), &mut back).unwrap();
    assert!(cur.is_empty(), "{fmt:?}: trailing bytes");
    (e.type_byte, back)
}

fn sorted(v: Value) -> Value {
    match v {
        Value::Set(mut m) => {
            m.sort();
            Value::Set(m)
        }
        Value::Hash(mut m) => {
            m.sort();
            Value::Hash(m)
        }
        Value::ZSet(mut m) => {
            m.sort_by(|a, b| a.0.cmp(&b.0));
            Value::ZSet(m)
        }
        v => v,
    }
}

fn strs(n: usize, len: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("{i:0>len$}x").into_bytes())
        .collect()
}

#[test]
fn collections_in_every_format() {
    let values = vec![
        Value::String(b"hello".to_vec()),
        Value::String(b"12345".to_vec()),
        Value::String(vec![7; 100_000]),
        Value::List(strs(5, 3)),
        Value::List(strs(3000, 20)),
        Value::List(vec![b"1".to_vec(), b"-700".to_vec(), vec![b'q'; 9000]]),
        Value::Set((0..10).map(|i| i.to_string().into_bytes()).collect()),
        Value::Set((0..600).map(|i| i.to_string().into_bytes()).collect()),
        Value::Set(strs(10, 5)),
        Value::Set(strs(200, 5)),
        Value::ZSet(vec![
            (b"a".to_vec(), 1.5),
            (b"b".to_vec(), -2.0),
            (b"c".to_vec(), f64::INFINITY),
            (b"d".to_vec(), 0.1),
        ]),
        Value::ZSet(
            strs(300, 4)
                .into_iter()
                .enumerate()
                .map(|(i, m)| (m, i as f64 / 3.0))
                .collect(),
        ),
        Value::Hash(vec![
            (b"f".to_vec(), b"v".to_vec(), None),
            (b"n".to_vec(), b"42".to_vec(), None),
        ]),
        Value::Hash(
            strs(600, 3)
                .into_iter()
                .map(|f| (f.clone(), f, None))
                .collect(),
        ),
        Value::Hash(vec![(b"big".to_vec(), vec![b'v'; 100], None)]),
    ];
    for fmt in formats() {
        for v in &values {
            let (_, back) = round_trip(v, fmt);
            assert_eq!(sorted(back), sorted(v.clone()), "{fmt:?}");
        }
    }
}

#[test]
fn field_ttls_where_the_format_has_them() {
    let small = Value::Hash(vec![
        (b"a".to_vec(), b"1".to_vec(), Some(1_900_000_000_000)),
        (b"b".to_vec(), b"2".to_vec(), None),
        (b"c".to_vec(), b"3".to_vec(), Some(1_800_000_000_000)),
    ]);
    let big = Value::Hash(
        strs(700, 2)
            .into_iter()
            .enumerate()
            .map(|(i, f)| {
                (
                    f.clone(),
                    f,
                    (i % 2 == 0).then_some(1_800_000_000_000 + i as i64),
                )
            })
            .collect(),
    );
    for fmt in formats() {
        for v in [&small, &big] {
            if fmt.has_field_ttl() {
                let (_, back) = round_trip(v, fmt);
                assert_eq!(sorted(back), sorted(v.clone()), "{fmt:?}");
            } else {
                let e = encode(v, fmt).unwrap();
                assert!(
                    matches!(e.losses[..], [Loss::FieldTtls(n)] if n >= 2),
                    "{fmt:?}"
                );
            }
        }
    }
}

#[test]
fn streams_in_every_format_that_has_them() {
    let entries: Vec<StreamEntry> = (0..250u64)
        .map(|i| {
            let fields = if i % 7 == 0 {
                vec![(b"other".to_vec(), i.to_string().into_bytes())]
            } else {
                vec![
                    (b"f".to_vec(), vec![b'x'; (i % 50) as usize]),
                    (b"n".to_vec(), i.to_string().into_bytes()),
                ]
            };
            (
                StreamId {
                    ms: 1000 + i / 3,
                    seq: i % 3,
                },
                fields,
            )
        })
        .collect();
    let last = entries.last().unwrap().0;
    let pending = vec![PendingEntry {
        id: entries[3].0,
        delivery_time_ms: 5,
        delivery_count: 2,
    }];
    let meta = StreamMeta {
        length: entries.len() as u64,
        last_id: last,
        first_id: Some(entries[0].0),
        max_deleted_id: Some(StreamId::default()),
        entries_added: Some(entries.len() as u64),
        groups: vec![Group {
            name: b"g".to_vec(),
            last_delivered_id: entries[3].0,
            entries_read: None,
            pending: pending.clone(),
            nacked: None,
            consumers: vec![Consumer {
                name: b"c".to_vec(),
                seen_time_ms: 9,
                active_time_ms: Some(9),
                pending: vec![entries[3].0],
            }],
        }],
        idmp: None,
    };
    let v = Value::Stream(entries, Box::new(meta));
    for fmt in formats() {
        if fmt.level() < 9 {
            assert!(encode(&v, fmt).is_err());
            continue;
        }
        let (_, back) = round_trip(&v, fmt);
        let (Value::Stream(e1, m1), Value::Stream(e2, m2)) = (&back, &v) else {
            panic!()
        };
        assert_eq!(e1, e2, "{fmt:?}");
        assert_eq!(m1.length, m2.length);
        assert_eq!(m1.groups[0].pending, m2.groups[0].pending);
        assert_eq!(
            m1.groups[0].consumers[0].pending,
            m2.groups[0].consumers[0].pending
        );
    }
}

#[test]
fn what_loaders_refuse_is_found() {
    let dup = |f: &[u8]| (f.to_vec(), b"v".to_vec(), None);
    assert!(validate(&Value::Hash(vec![dup(b"a"), dup(b"a")])).is_err());
    assert!(validate(&Value::Hash(vec![dup(b"a"), dup(b"b")])).is_ok());
    assert!(validate(&Value::Set(vec![b"x".to_vec(), b"x".to_vec()])).is_err());
    assert!(validate(&Value::ZSet(vec![(b"m".to_vec(), f64::NAN)])).is_err());
    assert!(validate(&Value::ZSet(vec![
        (b"m".to_vec(), 1.0),
        (b"m".to_vec(), 2.0)
    ]))
    .is_err());
    let id = |ms| StreamId { ms, seq: 0 };
    let meta = |last| {
        Box::new(StreamMeta {
            last_id: id(last),
            ..Default::default()
        })
    };
    let e = |ms| (id(ms), vec![(b"f".to_vec(), b"v".to_vec())]);
    assert!(validate(&Value::Stream(vec![e(2), e(1)], meta(5))).is_err());
    assert!(validate(&Value::Stream(vec![e(0)], meta(5))).is_err());
    assert!(validate(&Value::Stream(vec![e(1), e(9)], meta(5))).is_err());
    assert!(validate(&Value::Stream(vec![e(1), e(2)], meta(5))).is_ok());
}
