//! Errors of the client layer.
//!
//! [`ServerError`] is an error reply (`-CODE message`) parsed once, where it
//! is read, so callers match on variants instead of comparing prefixes.
//! The codes are the ones Redis and Valkey send (`cluster.c`
//! `clusterRedirectClient`, `server.c` `processCommand`, `cluster.c`
//! `getNodeByQuery`); any other code is [`ServerError::Other`] and keeps the
//! server's text unchanged.

use std::fmt;
use std::io;

/// An error reply from a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerError {
    /// `-MOVED slot host:port`: the slot lives on another master for good.
    /// (A part the client cannot read is `None`: the caller then asks for
    /// the whole slot map again.)
    Moved {
        slot: Option<u16>,
        addr: Option<String>,
        text: String,
    },
    /// `-ASK slot host:port`: the slot is migrating; ask the other node once,
    /// after `ASKING`.
    Ask {
        slot: Option<u16>,
        addr: String,
        text: String,
    },
    /// `-TRYAGAIN`: a multi-key command during a slot migration.
    TryAgain(String),
    /// `-CLUSTERDOWN`: the cluster cannot serve the slot now.
    ClusterDown(String),
    /// `-LOADING`: the server is loading its dataset.
    Loading(String),
    /// `-BUSY`: a script or function runs too long.
    Busy(String),
    /// `-BUSYKEY`: RESTORE onto a key that exists.
    BusyKey(String),
    /// `-NOAUTH`: a password is needed.
    NoAuth(String),
    /// `-OOM`: the server is over `maxmemory`.
    Oom(String),
    /// `-READONLY`: a replica (or a failed-over master) refused a write.
    ReadOnly(String),
    /// `-MASTERDOWN`: a replica lost its master (`replica-serve-stale-data no`).
    MasterDown(String),
    /// `-WRONGTYPE`: the key holds another type.
    WrongType(String),
    /// Any other error reply, as the server wrote it.
    Other(String),
}

impl ServerError {
    /// Parses the text of an error reply (without the leading `-`).
    pub fn parse(text: &str) -> ServerError {
        let code = text.split(' ').next().unwrap_or("");
        let t = text.to_string();
        match code {
            "MOVED" | "ASK" => {
                let mut it = text.split(' ').skip(1);
                let slot = it.next().and_then(|x| x.parse::<u16>().ok());
                let addr = it.next().map(str::to_string);
                if code == "MOVED" {
                    ServerError::Moved {
                        slot,
                        addr,
                        text: t,
                    }
                } else {
                    ServerError::Ask {
                        slot,
                        addr: addr.unwrap_or_default(),
                        text: t,
                    }
                }
            }
            "TRYAGAIN" => ServerError::TryAgain(t),
            "CLUSTERDOWN" => ServerError::ClusterDown(t),
            "LOADING" => ServerError::Loading(t),
            "BUSY" => ServerError::Busy(t),
            "BUSYKEY" => ServerError::BusyKey(t),
            "NOAUTH" => ServerError::NoAuth(t),
            "OOM" => ServerError::Oom(t),
            "READONLY" => ServerError::ReadOnly(t),
            "MASTERDOWN" => ServerError::MasterDown(t),
            "WRONGTYPE" => ServerError::WrongType(t),
            _ => ServerError::Other(t),
        }
    }

    /// The reply's text as the server sent it.
    pub fn text(&self) -> &str {
        match self {
            ServerError::Moved { text, .. } | ServerError::Ask { text, .. } => text,
            ServerError::TryAgain(t)
            | ServerError::ClusterDown(t)
            | ServerError::Loading(t)
            | ServerError::Busy(t)
            | ServerError::BusyKey(t)
            | ServerError::NoAuth(t)
            | ServerError::Oom(t)
            | ServerError::ReadOnly(t)
            | ServerError::MasterDown(t)
            | ServerError::WrongType(t)
            | ServerError::Other(t) => t,
        }
    }

    /// A state the server leaves by itself (slot migration, failover,
    /// loading its dataset, a long script): the same command may succeed a
    /// little later. (`MASTERDOWN` is not one here: a load writes to
    /// masters, and a replica that says it is not a master stays one.)
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ServerError::TryAgain(_)
                | ServerError::ClusterDown(_)
                | ServerError::Loading(_)
                | ServerError::Busy(_)
        )
    }
}

impl ServerError {
    // Some refusals come as a plain `ERR` whose words alone say what
    // happened; they are recognised here, next to the parser, so that the
    // callers match on a question instead of on the server's text.

    /// `FUNCTION LOAD` of a library that is there (`ERR Library 'NAME'
    /// already exists`, `functions.c`).
    pub fn is_library_exists(&self) -> bool {
        self.text().contains("already exists")
    }

    /// `RESTORE` of a payload whose RDB version the server does not read
    /// (`ERR DUMP payload version or checksum are wrong`, `cluster.c`
    /// `verifyDumpPayload`).
    pub fn is_payload_version(&self) -> bool {
        self.text().contains("DUMP payload version")
    }

    /// `CLUSTER SHARDS` (or `SLOTS`) on a server that is not a cluster node
    /// (`ERR This instance has cluster support disabled`).
    pub fn is_cluster_disabled(&self) -> bool {
        self.text().contains("cluster support disabled")
    }
}

/// The wait before the `n`th resend (from 0) of a command refused with a
/// [transient](ServerError::is_transient) error: 50 ms, doubling, at most
/// 2 s. The load path and the AOF replay pace their retries alike.
pub fn backoff(n: u32) -> std::time::Duration {
    std::time::Duration::from_millis((50u64 << n.min(6)).min(2000))
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl std::error::Error for ServerError {}

/// Why the client could not do what was asked. Messages name the address,
/// never the password. Each variant keeps its cause as a value
/// ([`std::error::Error::source`] returns it); the message is one line
/// with the context and the cause's text.
#[derive(Debug)]
pub enum ClientError {
    /// A bad URL or option: the user's to fix. The text is the message.
    Usage(String),
    /// A TLS setting that cannot be used (`what`: which setting and file,
    /// e.g. "TLS CA file ca.pem"): the user's to fix.
    Tls {
        what: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Setting up the connection to a target failed (`doing`: the step,
    /// e.g. "cannot connect", "TLS handshake failed").
    Connect {
        addr: String,
        doing: &'static str,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The connection to a target failed while it was used (a reset, a
    /// timeout: see [`describe_io`](super::conn::describe_io)).
    Io { addr: String, source: io::Error },
    /// A target answered `command` with an error reply.
    Refused {
        addr: String,
        command: String,
        source: ServerError,
    },
    /// A target refused the password.
    Auth { addr: String, source: ServerError },
    /// Anything else a target did wrong (an unexpected reply), in words.
    Target { addr: String, msg: String },
}

impl ClientError {
    /// Whether the user's input is at fault (a bad URL, option or TLS
    /// file), not a target.
    pub fn is_usage(&self) -> bool {
        matches!(self, ClientError::Usage(_) | ClientError::Tls { .. })
    }

    /// The target's address, when a target failed.
    pub fn addr(&self) -> Option<&str> {
        match self {
            ClientError::Usage(_) | ClientError::Tls { .. } => None,
            ClientError::Connect { addr, .. }
            | ClientError::Io { addr, .. }
            | ClientError::Refused { addr, .. }
            | ClientError::Auth { addr, .. }
            | ClientError::Target { addr, .. } => Some(addr),
        }
    }

    /// What happened, without the leading `target ADDR: ` (for a message
    /// that names the address itself).
    pub fn detail(&self) -> String {
        struct Detail<'e>(&'e ClientError);
        impl fmt::Display for Detail<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt_detail(f)
            }
        }
        Detail(self).to_string()
    }

    fn fmt_detail(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Usage(m) => f.write_str(m),
            ClientError::Tls { what, source } => write!(f, "{what}: {source}"),
            ClientError::Connect { doing, source, .. } => write!(f, "{doing}: {source}"),
            ClientError::Io { source, .. } => f.write_str(&super::conn::describe_io(source)),
            ClientError::Refused {
                command, source, ..
            } => {
                let hint = match source {
                    ServerError::NoAuth(_) => super::conn::NOAUTH_HINT,
                    _ => "",
                };
                write!(f, "{command} failed: {source}{hint}")
            }
            ClientError::Auth { source, .. } => write!(f, "authentication failed: {source}"),
            ClientError::Target { msg, .. } => f.write_str(msg),
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(addr) = self.addr() {
            write!(f, "target {addr}: ")?;
        }
        self.fmt_detail(f)
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Usage(_) | ClientError::Target { .. } => None,
            ClientError::Tls { source, .. } | ClientError::Connect { source, .. } => {
                Some(&**source)
            }
            ClientError::Io { source, .. } => Some(source),
            ClientError::Refused { source, .. } | ClientError::Auth { source, .. } => Some(source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_error_replies() {
        let m = |s: &str| ServerError::parse(s);
        let table: &[(&str, ServerError)] = &[
            (
                "MOVED 3999 127.0.0.1:6381",
                ServerError::Moved {
                    slot: Some(3999),
                    addr: Some("127.0.0.1:6381".into()),
                    text: "MOVED 3999 127.0.0.1:6381".into(),
                },
            ),
            (
                "ASK 1 [::1]:7000",
                ServerError::Ask {
                    slot: Some(1),
                    addr: "[::1]:7000".into(),
                    text: "ASK 1 [::1]:7000".into(),
                },
            ),
            (
                "MOVED nonsense",
                ServerError::Moved {
                    slot: None,
                    addr: None,
                    text: "MOVED nonsense".into(),
                },
            ),
            (
                "ASK 1",
                ServerError::Ask {
                    slot: Some(1),
                    addr: String::new(),
                    text: "ASK 1".into(),
                },
            ),
            (
                "TRYAGAIN Multiple keys request during rehashing of slot",
                ServerError::TryAgain(
                    "TRYAGAIN Multiple keys request during rehashing of slot".into(),
                ),
            ),
            (
                "CLUSTERDOWN The cluster is down",
                ServerError::ClusterDown("CLUSTERDOWN The cluster is down".into()),
            ),
            (
                "LOADING Redis is loading the dataset in memory",
                ServerError::Loading("LOADING Redis is loading the dataset in memory".into()),
            ),
            (
                "BUSY running script",
                ServerError::Busy("BUSY running script".into()),
            ),
            (
                "BUSYKEY Target key name already exists.",
                ServerError::BusyKey("BUSYKEY Target key name already exists.".into()),
            ),
            (
                "NOAUTH Authentication required.",
                ServerError::NoAuth("NOAUTH Authentication required.".into()),
            ),
            (
                "OOM command not allowed",
                ServerError::Oom("OOM command not allowed".into()),
            ),
            (
                "READONLY You can't write against a read only replica.",
                ServerError::ReadOnly(
                    "READONLY You can't write against a read only replica.".into(),
                ),
            ),
            (
                "MASTERDOWN Link down",
                ServerError::MasterDown("MASTERDOWN Link down".into()),
            ),
            (
                "WRONGTYPE Operation against a key",
                ServerError::WrongType("WRONGTYPE Operation against a key".into()),
            ),
            (
                "ERR syntax error",
                ServerError::Other("ERR syntax error".into()),
            ),
            (
                "BUSYGROUP exists",
                ServerError::Other("BUSYGROUP exists".into()),
            ),
            ("", ServerError::Other(String::new())),
        ];
        for (text, want) in table {
            let got = m(text);
            assert_eq!(&got, want, "{text:?}");
            assert_eq!(got.text(), *text, "text kept for {text:?}");
        }
    }

    #[test]
    fn refusals_told_by_their_words() {
        let e = ServerError::parse("ERR Library 'lib' already exists");
        assert!(e.is_library_exists() && !e.is_payload_version());
        let e = ServerError::parse("ERR DUMP payload version or checksum are wrong");
        assert!(e.is_payload_version() && !e.is_cluster_disabled());
        let e = ServerError::parse("ERR This instance has cluster support disabled");
        assert!(e.is_cluster_disabled() && !e.is_library_exists());
    }

    #[test]
    fn client_error_messages_and_sources() {
        use std::error::Error as _;
        let e = ClientError::Refused {
            addr: "h:1".into(),
            command: "INFO".into(),
            source: ServerError::parse("NOAUTH Authentication required."),
        };
        let text = e.to_string();
        assert!(
            text.starts_with("target h:1: INFO failed: NOAUTH Authentication required. (the server needs a password"),
            "{text}"
        );
        assert!(e.source().is_some_and(|s| s.is::<ServerError>()));
        let e = ClientError::Io {
            addr: "h:1".into(),
            source: io::Error::new(io::ErrorKind::TimedOut, "x"),
        };
        assert_eq!(
            e.to_string(),
            "target h:1: timed out: no reply within the I/O timeout (--timeout)"
        );
        assert_eq!(
            e.detail(),
            "timed out: no reply within the I/O timeout (--timeout)"
        );
        assert!(e.source().is_some_and(|s| s.is::<io::Error>()));
        assert!(!e.is_usage());
        assert_eq!(ClientError::Usage("bad".into()).to_string(), "bad");
    }

    #[test]
    fn transient_states() {
        for t in ["TRYAGAIN x", "CLUSTERDOWN x", "LOADING x", "BUSY x"] {
            assert!(ServerError::parse(t).is_transient(), "{t}");
        }
        for t in [
            "BUSYKEY x",
            "OOM x",
            "ERR x",
            "MOVED 1 h:1",
            "READONLY x",
            "NOAUTH x",
            "MASTERDOWN x",
        ] {
            assert!(!ServerError::parse(t).is_transient(), "{t}");
        }
    }
}
