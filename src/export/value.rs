//! Values for consumers that need a whole value at once (Arrow columns,
//! Python objects) rather than a stream of borrowed elements: the format
//! layer's owned [`Value`] for most kinds, and for module values and arrays
//! the `value` member of `rdbkit json`'s line as JSON text, since their
//! shapes are open-ended and that is how export and Python show them. Both
//! come from the ordinary decoders, so they say what `rdbkit json` says.

use crate::error::Result;
use crate::rdb::records::Record;
use crate::rdb::stream::StreamId;
use crate::rdb::value::{Kind, Scratch, Value, ValueVisitor};
use crate::sink::json::JsonEncoder;

/// Reusable buffers for decoding values.
#[derive(Default)]
pub struct Collector {
    scratch: Scratch,
    json: JsonEncoder,
    line: Vec<u8>,
}

impl Collector {
    /// Whether export and Python show values of `kind` as JSON text
    /// ([`Collector::json`]) rather than as an owned [`Value`].
    pub fn shows_json(kind: Kind) -> bool {
        matches!(kind, Kind::Module | Kind::Array)
    }

    /// Decodes `rec`'s value into an owned [`Value`].
    pub fn collect(&mut self, rec: &Record<'_>) -> Result<Value> {
        let mut v = Value::empty(rec.vtype.kind());
        rec.decode(&mut self.scratch, &mut v)?;
        Ok(v)
    }

    /// Decodes `rec`'s value into a visitor of the caller's, with this
    /// collector's scratch buffers: for consumers that keep values their
    /// own way (the Python package keeps a chunk's bytes in one buffer).
    pub fn visit(&mut self, rec: &Record<'_>, v: &mut impl ValueVisitor) -> Result<()> {
        rec.decode(&mut self.scratch, v)
    }

    /// The `value` member of `rec`'s `rdbkit json` line, as JSON text (the
    /// JSON encoder reused, its `value` cut out).
    pub fn json(&mut self, rec: &Record<'_>) -> Result<String> {
        self.line.clear();
        self.json.record(&mut self.line, rec)?;
        let parsed: serde_json::Value = serde_json::from_slice(&self.line).unwrap_or_default();
        let value = parsed.get("value").cloned().unwrap_or_default();
        Ok(value.to_string())
    }
}

/// A stream ID as `ms-seq`.
pub fn id_string(id: StreamId) -> String {
    format!("{}-{}", id.ms, id.seq)
}
