//! JSON Lines → RDB (`rdbkit rdb dump.jsonl -o out.rdb`), the encoders'
//! input, and the invariants of a write:
//!
//! - a refusal names a byte offset inside the input;
//! - a successful write is a whole RDB that rdbkit's own parser reads to
//!   the end with a matching CRC-64, every value decoding to exactly its
//!   bytes, and holds no more keys than the input has lines.
//!
//! The first input byte picks the output format, so the fuzzer explores
//! the encoders of every version.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rdbkit::rdb::cursor::Cursor;
use rdbkit::rdb::records::{Item, ParseOptions, Parser};
use rdbkit::rdb::value::{decode_value, Dialect, Scratch};
use rdbkit::rdb::write::Format;
use rdbkit::writer::{write_rdb, Input, Options, WriteError};
use rdbkit_fuzz::Tally;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    // JSON Lines is recognised by its first non-blank byte.
    let mut text = b"{".to_vec();
    text.extend_from_slice(body);
    let format = match pick % 9 {
        8 => Format::new(Dialect::Valkey, 80).unwrap(),
        n => Format::new(Dialect::Redis, 6 + n as u32).unwrap(),
    };
    let opts = Options {
        format: Some(format),
        lossy: pick & 0x80 != 0,
        ..Default::default()
    };
    let input = [Input {
        name: "fuzz".into(),
        data: &text,
    }];
    match write_rdb(&input, &opts, Vec::new()) {
        Err(WriteError::Failed(m)) => assert!(m.contains("byte offset") || m.contains("cannot hold"), "{m}"),
        Err(WriteError::Conflict(m)) => assert!(m.contains("byte offset") || m.contains("function"), "{m}"),
        // A damaged line: a format error, which always names its offset.
        Err(e @ WriteError::Input { .. }) => assert!(e.to_string().contains("byte offset"), "{e}"),
        Err(WriteError::Output { source, .. }) => panic!("writing into memory failed: {source}"),
        Ok((out, summary)) => {
            let lines = text.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
            assert!(summary.written <= lines);
            let mut p = Parser::new(&out, ParseOptions { verify_checksum: true }).expect("our own header");
            let mut keys = 0;
            loop {
                match p.next_item().expect("our own output reads back") {
                    Some(Item::Key(rec)) => {
                        keys += 1;
                        let mut cur = Cursor::new(rec.value, rec.value_offset);
                        decode_value(&mut cur, rec.vtype, &mut Scratch::default(), &mut Tally::default())
                            .expect("our own value decodes");
                        assert!(cur.is_empty(), "value bytes left over");
                    }
                    Some(Item::Eof { .. }) | None => break,
                    Some(_) => {}
                }
            }
            assert_eq!(keys, summary.written);
        }
    }
});
