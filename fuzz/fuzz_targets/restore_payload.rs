//! RESTORE payloads for every record (and FUNCTION RESTORE payloads for
//! every function) of a fuzzed file, as `rdbkit load` / `rdbkit resp` build
//! them. Invariants:
//!
//! - the payload is `[KEY_META] type value | version (2 bytes LE) | CRC-64`,
//!   its length is `payload_len`, and the CRC-64 (both implementations, and
//!   computed in two pieces) matches the bytes before it;
//! - the value inside the payload is skipped by the boundary pass to exactly
//!   its end, with nothing after it (as the server reads it);
//! - the RESTORE command is well-formed RESP carrying exactly that payload,
//!   and its numeric arguments are ones the server accepts.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rdbkit::load::payload::{
    payload_len, write_function_payload, write_function_restore, write_payload, write_restore,
    RestoreArgs,
};
use rdbkit::rdb::consts::RDB_OPCODE_KEY_META;
use rdbkit::rdb::crc64::{crc64, crc64_table};
use rdbkit::rdb::cursor::Cursor;
use rdbkit::rdb::records::{Item, ParseOptions, Parser, Record};
use rdbkit::rdb::value::{skip_value, Dialect, ValueType};
use rdbkit_fuzz::parse_command;

/// Checks the `version | CRC-64` trailer of `p`; returns the bytes before it.
fn check_trailer(p: &[u8], version: u32) -> &[u8] {
    assert!(p.len() >= 10, "payload shorter than its trailer");
    let (body, crc) = p.split_at(p.len() - 8);
    let crc = u64::from_le_bytes(crc.try_into().unwrap());
    assert_eq!(crc64(0, body), crc, "CRC-64 of the payload");
    assert_eq!(crc64_table(0, body), crc, "table CRC-64 differs");
    let (a, b) = body.split_at(body.len() / 3);
    assert_eq!(crc64(crc64(0, a), b), crc, "CRC-64 in two pieces differs");
    let (content, ver) = body.split_at(body.len() - 2);
    assert_eq!(
        u16::from_le_bytes([ver[0], ver[1]]) as u32,
        version,
        "payload RDB version"
    );
    content
}

fn check_record(rec: &Record<'_>, version: u32, dialect: Dialect, knob: u8) {
    // Appending after other bytes must not change the payload.
    let junk = (knob % 5) as usize;
    let mut out = vec![0x5A; junk];
    write_payload(&mut out, rec, version);
    assert!(
        out[..junk].iter().all(|&b| b == 0x5A),
        "bytes before the payload changed"
    );
    let p = &out[junk..];
    assert_eq!(p.len(), payload_len(rec), "payload_len");

    let mut content = check_trailer(p, version);
    if let Some(m) = rec.key_meta {
        assert_eq!(content[0], RDB_OPCODE_KEY_META);
        assert_eq!(&content[1..1 + m.len()], m, "KEY_META body");
        content = &content[1 + m.len()..];
    }
    assert_eq!(content[0], rec.type_byte, "type byte");
    assert_eq!(
        ValueType::from_byte(rec.type_byte, dialect),
        Some(rec.vtype)
    );
    let value = &content[1..];
    assert_eq!(value, rec.value, "value bytes");
    // What the server does with the payload: read one value, then expect
    // the trailer. The boundary pass must find the same end.
    let mut cur = Cursor::new(value, 0);
    if let Err(e) = skip_value(&mut cur, rec.vtype) {
        panic!(
            "{:?}: the payload's value does not skip on its own: {e}",
            rec.vtype
        );
    }
    assert_eq!(
        cur.remaining(),
        0,
        "{:?}: value ends early in the payload",
        rec.vtype
    );

    // The RESTORE command around it.
    // The parser does not decompress keys; an LZF key can still be bad.
    let mut key = Vec::new();
    let key = match rec.key.bytes(&mut key) {
        Ok(k) => k,
        Err(e) => {
            assert!(
                e.offset >= rec.offset && e.offset <= rec.value_offset,
                "key error offset: {e}"
            );
            return;
        }
    };
    let args = RestoreArgs {
        replace: knob & 1 != 0,
        expire_ms: rec.expire_ms.filter(|&x| x >= 0),
        idle: rec.idle,
        freq: rec.freq,
    };
    let mut cmd = Vec::new();
    write_restore(&mut cmd, key, rec, version, &args);
    let (argv, rest) = parse_command(&cmd);
    assert!(rest.is_empty(), "bytes after the RESTORE command");
    assert_eq!(argv[0], b"RESTORE");
    assert_eq!(argv[1], key);
    let ttl: i64 = std::str::from_utf8(argv[2])
        .unwrap()
        .parse()
        .expect("integer TTL");
    assert_eq!(ttl, args.expire_ms.unwrap_or(0));
    assert_eq!(argv[3], p, "the command's payload");
    let mut i = 4;
    let mut flag = |name: &[u8], on: bool| {
        if on {
            assert_eq!(argv.get(i).copied(), Some(name));
            i += 1;
        }
    };
    flag(b"REPLACE", args.replace);
    flag(b"ABSTTL", args.expire_ms.is_some());
    for (name, v) in [
        (&b"IDLETIME"[..], args.idle),
        (b"FREQ", args.freq.map(u64::from)),
    ] {
        if let Some(v) = v {
            assert_eq!(argv[i], name);
            // RESTORE refuses a negative IDLETIME / FREQ ("must be >= 0").
            let got: i64 = std::str::from_utf8(argv[i + 1])
                .unwrap()
                .parse()
                .expect("integer");
            assert!(
                got >= 0,
                "{} {got} for {v} in the file",
                String::from_utf8_lossy(name)
            );
            i += 2;
        }
    }
    assert_eq!(i, argv.len(), "extra RESTORE arguments");
}

fn check_function(raw: &[u8], version: u32, replace: bool) {
    let mut out = Vec::new();
    write_function_payload(&mut out, raw, version);
    assert_eq!(check_trailer(&out, version), raw);
    let mut cmd = Vec::new();
    write_function_restore(&mut cmd, raw, version, replace);
    let (argv, rest) = parse_command(&cmd);
    assert!(rest.is_empty());
    assert_eq!(&argv[..3], &[&b"FUNCTION"[..], b"RESTORE", &out[..]]);
    assert_eq!(argv.len(), 3 + replace as usize);
}

fuzz_target!(|data: &[u8]| {
    let knob = data.last().copied().unwrap_or(0);
    let Ok(mut p) = Parser::new(
        data,
        ParseOptions {
            verify_checksum: false,
        },
    ) else {
        return;
    };
    let h = p.header();
    while let Ok(Some(item)) = p.next_item() {
        match item {
            Item::Key(rec) => check_record(&rec, h.version, h.dialect, knob),
            Item::Function { raw, .. } => check_function(raw, h.version, knob & 2 != 0),
            Item::FunctionPreGa(f) => check_function(f.raw, h.version, knob & 2 != 0),
            _ => {}
        }
    }
});
