//! Errors of the format layer.
//!
//! Every error carries the absolute byte offset in the input where the
//! problem was found and what the parser expected there, so that a user can
//! open the file in a hex editor at that spot. Errors are values, never
//! panics: a truncated or hostile file is ordinary input.

use std::fmt;

/// Result alias for the format layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A format error at a byte offset of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Absolute byte offset in the input file where the problem was found.
    pub offset: u64,
    /// What went wrong.
    pub kind: ErrorKind,
}

/// What went wrong, without the position.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ended while `what` was being read.
    Truncated {
        what: &'static str,
        needed: u64,
        available: u64,
    },
    /// The bytes do not form a valid `what`; `detail` says how.
    Invalid { what: &'static str, detail: String },
    /// The input does not start with `REDIS` or `VALKEY` magic.
    NotRdb,
    /// The RDB version is outside the range this build understands.
    UnsupportedVersion { version: u32, dialect: &'static str },
    /// A value type byte this build does not know.
    UnsupportedType {
        type_byte: u8,
        version: u32,
        dialect: &'static str,
    },
    /// An opcode this build does not know.
    UnsupportedOpcode { opcode: u8 },
    /// A construct known from newer servers that this build does not read;
    /// `feature` names it, e.g. "Redis 8.10 hash template (type 30)".
    UnsupportedFeature { feature: String },
    /// A value that cannot be decoded without the module that wrote it.
    UnsupportedModule { detail: String },
    /// The CRC-64 trailer does not match the content.
    ChecksumMismatch { stored: u64, computed: u64 },
    /// Not a fault of the input: a [`ValueVisitor`](crate::ValueVisitor)
    /// asked to stop the walk ([`Error::stop`]).
    Stopped,
    /// The bytes from the offset on could not be produced: the compressed
    /// file the input is being decompressed from is damaged or cut short
    /// (`detail` names the compressed byte offset). See [`crate::arrival`].
    Unreadable { detail: String },
}

impl Error {
    pub fn new(offset: u64, kind: ErrorKind) -> Self {
        Error { offset, kind }
    }

    /// What a [`ValueVisitor`](crate::ValueVisitor) method returns to stop
    /// the walk early; [`Record::visit`](crate::Record::visit) turns it into
    /// [`ControlFlow::Break`](std::ops::ControlFlow::Break).
    pub fn stop() -> Self {
        Error::new(0, ErrorKind::Stopped)
    }

    /// Whether this is a visitor's [`Error::stop`] rather than a fault.
    pub fn is_stop(&self) -> bool {
        self.kind == ErrorKind::Stopped
    }

    /// The input ended early while reading `what`.
    pub fn truncated(offset: u64, what: &'static str, needed: u64, available: u64) -> Self {
        Error::new(
            offset,
            ErrorKind::Truncated {
                what,
                needed,
                available,
            },
        )
    }

    /// The bytes at `offset` are not a valid `what`.
    pub fn invalid(offset: u64, what: &'static str, detail: impl Into<String>) -> Self {
        Error::new(
            offset,
            ErrorKind::Invalid {
                what,
                detail: detail.into(),
            },
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte offset {}: {}", self.offset, self.kind)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Truncated { what, needed, available } => write!(
                f,
                "unexpected end of data reading {what}: needed {needed} bytes, {available} left"
            ),
            ErrorKind::Invalid { what, detail } => write!(f, "invalid {what}: {detail}"),
            ErrorKind::NotRdb => write!(f, "not an RDB file: expected magic \"REDIS\" or \"VALKEY\""),
            ErrorKind::UnsupportedVersion { version, dialect } => {
                write!(f, "unsupported RDB version {version} ({dialect} magic)")
            }
            ErrorKind::UnsupportedType { type_byte, version, dialect } => write!(
                f,
                "unsupported type {type_byte} (RDB version {version}, {dialect} dialect)"
            ),
            ErrorKind::UnsupportedOpcode { opcode } => write!(f, "unsupported opcode {opcode}"),
            ErrorKind::UnsupportedFeature { feature } => write!(f, "{feature}: not supported"),
            ErrorKind::UnsupportedModule { detail } => write!(f, "unsupported module data: {detail}"),
            ErrorKind::ChecksumMismatch { stored, computed } => write!(
                f,
                "CRC-64 checksum mismatch: file says {stored:016x}, content hashes to {computed:016x}"
            ),
            ErrorKind::Stopped => write!(f, "stopped by the visitor"),
            ErrorKind::Unreadable { detail } => {
                write!(f, "the input cannot be read beyond here: {detail}")
            }
        }
    }
}

impl std::error::Error for Error {}
