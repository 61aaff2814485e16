//! Array values (type 28, Redis 8.8): `decode_value` and `skip_value` must
//! agree on where the value ends; a value that decodes must also convert to
//! JSON inside a minimal file, with the same number of elements.
//!
//! Input: the value bytes as they follow the key in a file.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rdbkit::rdb::value::ValueType;
use rdbkit::sink::json::{to_vec, JsonOptions};
use rdbkit_fuzz::check_value;

fuzz_target!(|value: &[u8]| {
    let (r, tally, used) = check_value(value, ValueType::Array);
    if r.is_err() {
        return;
    }
    let mut file = b"REDIS0014\x1c\x01k".to_vec();
    file.extend_from_slice(&value[..used]);
    file.push(0xFF);
    file.extend_from_slice(&[0; 8]);
    let opts = JsonOptions {
        meta: false,
        verify_checksum: true,
    };
    let out =
        to_vec(&file, &opts).unwrap_or_else(|e| panic!("a decodable array fails in a file: {e}"));
    let line: serde_json::Value = serde_json::from_slice(&out).expect("one JSON line");
    assert_eq!(line["type"], "array");
    let elements = line["value"]["elements"].as_array().expect("elements array");
    assert_eq!(elements.len() as u64, tally.array_elements);
});
