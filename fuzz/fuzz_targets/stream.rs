//! Stream values of every layout (types 15, 19, 21, 26, 27): `decode_value` and
//! `skip_value` must agree on where the value ends; a value that decodes
//! must also convert to JSON inside a minimal file, with the same entries.
//!
//! Input: one byte choosing the layout (mod 5: type 15, 19, 21, 26, 27), then
//! the value bytes as they follow the key in a file.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rdbkit::rdb::stream::StreamVersion;
use rdbkit::rdb::value::ValueType;
use rdbkit::sink::json::{to_vec, JsonOptions};
use rdbkit_fuzz::check_value;

const VERSIONS: [StreamVersion; 5] = [
    StreamVersion::V1,
    StreamVersion::V2,
    StreamVersion::V3,
    StreamVersion::V4,
    StreamVersion::V5,
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, value)) = data.split_first() else {
        return;
    };
    let version = VERSIONS[(sel % 5) as usize];
    let (r, tally, used) = check_value(value, ValueType::Stream(version));
    if r.is_err() {
        return;
    }
    assert_eq!(tally.stream_meta, 1, "stream_meta called once");

    // The same value in a file: header, type byte, key "k", value, EOF,
    // zero checksum ("not computed").
    let mut file = b"REDIS0014".to_vec();
    file.push(version.type_byte());
    file.extend_from_slice(b"\x01k");
    file.extend_from_slice(&value[..used]);
    file.push(0xFF);
    file.extend_from_slice(&[0; 8]);
    let opts = JsonOptions {
        meta: false,
        verify_checksum: true,
    };
    let out =
        to_vec(&file, &opts).unwrap_or_else(|e| panic!("a decodable stream fails in a file: {e}"));
    let line: serde_json::Value = serde_json::from_slice(&out).expect("one JSON line");
    assert_eq!(line["type"], "stream");
    let entries = line["value"]["entries"].as_array().expect("entries array");
    assert_eq!(entries.len() as u64, tally.stream_entries);
});
