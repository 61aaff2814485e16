//! Consumers of records: JSON Lines output and the `stats` report, and the
//! error type the command-line consumers share.

pub mod json;
pub mod jsonfmt;
pub mod stats;

use std::fmt;

/// Error of the sink layer: a format error from the file or an I/O error
/// writing the output.
#[derive(Debug)]
#[non_exhaustive]
pub enum SinkError {
    Format(crate::Error),
    Io(std::io::Error),
    /// The consumer asked the run to stop (not an error of its own).
    Stopped,
    /// A sink-level condition that ends the run, with its message.
    Abort(String),
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkError::Format(e) => e.fmt(f),
            SinkError::Io(e) => write!(f, "writing output: {e}"),
            SinkError::Stopped => write!(f, "stopped"),
            SinkError::Abort(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for SinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SinkError::Format(e) => Some(e),
            SinkError::Io(e) => Some(e),
            SinkError::Stopped | SinkError::Abort(_) => None,
        }
    }
}

impl From<crate::Error> for SinkError {
    fn from(e: crate::Error) -> Self {
        SinkError::Format(e)
    }
}

impl From<std::io::Error> for SinkError {
    fn from(e: std::io::Error) -> Self {
        SinkError::Io(e)
    }
}

/// A run's end as the engine reports it, in the sink layer's terms.
impl From<crate::scan::ScanError<SinkError>> for SinkError {
    fn from(e: crate::scan::ScanError<SinkError>) -> Self {
        match e {
            crate::scan::ScanError::Format(e) => SinkError::Format(e),
            crate::scan::ScanError::Consumer(e) => e,
        }
    }
}
