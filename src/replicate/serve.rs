//! `rdbkit serve`: the master side on its own. rdbkit listens; any replica
//! the operator points at it (`REPLICAOF host port` with `masterauth` set
//! to the serve password) gets one full synchronisation of the snapshot —
//! the file's own bytes, or the RDB writer's output when filters,
//! `--db-map`, expired keys, several inputs or `--to` ask for it, exactly as
//! `load --mode replicate` decides. Without a control connection rdbkit
//! cannot read the replica's `INFO`, so "loaded" is the replica's first
//! `REPLCONF ACK`: a replica acknowledges its offset only once its link is
//! up, that is after its RDB loader has finished.
//!
//! Replicas are served one after another; a served replica's link is kept
//! alive (PINGs) until every replica has acknowledged, so that it does not
//! reconnect and ask for a second synchronisation.

use std::io::{BufReader, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::control::TargetFacts;
use super::link::Link;
use super::listener::{read_command, Listener, Replica};
use super::stream::{self, StreamError};
use super::{plan, Options};
use crate::load::conn::ServerInfo;
use crate::load::{InputFile, LoadError};
use crate::rdb::write::Format;

/// What `serve` needs besides the inputs.
pub struct ServeOptions {
    /// `replace_all`, `listen`, `advertise`, `target` of these are unused.
    pub base: Options,
    pub listen: SocketAddr,
    /// The password replicas present (`masterauth`).
    pub secret: String,
    /// Speak TLS to replicas (`--listen-cert`/`--listen-key`), for replicas
    /// with `tls-replication yes`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Replicas to serve before exiting.
    pub replicas: u32,
    /// Write the stream in this format (`--to`), else the inputs' own.
    pub to: Option<Format>,
    /// How long to wait for the next replica (`None`: for ever).
    pub accept_wait: Option<Duration>,
    /// How long a served replica may take to load and acknowledge.
    pub ack_wait: Duration,
}

/// One served replica.
#[derive(Debug, Clone)]
pub struct Served {
    pub peer: SocketAddr,
    pub bytes: u64,
    /// The offset of its first `REPLCONF ACK`.
    pub ack: u64,
}

/// What a serve run did.
#[derive(Debug, Clone, Default)]
pub struct ServeSummary {
    pub served: Vec<Served>,
    /// Synchronisations that failed (the replica dropped, or never acked).
    pub dropped: Vec<String>,
    /// Connections refused at the door (no or a wrong password).
    pub refused: Vec<String>,
    pub keys: u64,
    pub filtered: u64,
    pub skipped_expired: u64,
    /// How the stream was made.
    pub how: String,
    pub took: Duration,
}

impl ServeSummary {
    pub fn to_json(&self) -> String {
        let served: Vec<serde_json::Value> = self
            .served
            .iter()
            .map(|s| serde_json::json!({"replica": s.peer.to_string(), "bytes": s.bytes, "ack_offset": s.ack}))
            .collect();
        serde_json::json!({
            "served": served,
            "dropped": self.dropped,
            "refused": self.refused,
            "keys": self.keys,
            "filtered": self.filtered,
            "skipped_expired": self.skipped_expired,
            "stream": self.how,
            "seconds": self.took.as_secs_f64(),
        })
        .to_string()
    }

    pub fn to_text(&self) -> String {
        let mut t = format!(
            "rdbkit serve: {} keys per replica ({}; {} filtered, {} expired left out), {:.1} s\n",
            self.keys,
            self.how,
            self.filtered,
            self.skipped_expired,
            self.took.as_secs_f64()
        );
        for s in &self.served {
            t += &format!(
                "  served {}: {} bytes, acknowledged offset {}\n",
                s.peer, s.bytes, s.ack
            );
        }
        for d in &self.dropped {
            t += &format!("  dropped: {d}\n");
        }
        for r in &self.refused {
            t += &format!("  refused: {r}\n");
        }
        t
    }
}

/// The facts `plan::make` decides by: a server that reads the inputs as
/// they are, or what `--to` names.
fn facts_for(to: Option<Format>) -> TargetFacts {
    let (rdb_max, valkey) = match to {
        Some(f) => (f.version, f.dialect == crate::rdb::value::Dialect::Valkey),
        None => (u32::from(u8::MAX), true),
    };
    TargetFacts {
        info: ServerInfo {
            redis_version: Some("replica".into()),
            valkey_version: None,
        },
        rdb_max,
        valkey,
        keys: Vec::new(),
        master_of_it: None,
        connected_replicas: 0,
    }
}

/// Serves `opts.replicas` replicas; `on_listen` is told the bound address
/// before the first is awaited.
pub fn serve(
    files: &[InputFile<'_>],
    opts: &ServeOptions,
    on_listen: &dyn Fn(SocketAddr),
) -> Result<ServeSummary, LoadError> {
    let started = Instant::now();
    let mut facts = facts_for(opts.to);
    if opts.to.is_none() {
        // Read every input as it is, in either dialect.
        facts.valkey = files.iter().any(|f| {
            crate::rdb::records::parse_header(f.data)
                .is_ok_and(|h| h.dialect == crate::rdb::value::Dialect::Valkey)
        });
        if !facts.valkey {
            facts.rdb_max = u32::from(u8::MAX);
        }
    }
    let plan = plan::make(files, &opts.base, &facts)?;
    let listener = Listener::open(opts.listen, None, opts.secret.clone(), opts.tls.clone())
        .map_err(LoadError::io(format!("cannot listen on {}", opts.listen)))?;
    on_listen(listener.local);
    let c = &plan.census;
    let mut sum = ServeSummary {
        keys: plan.expected.values().sum(),
        filtered: c.filtered,
        skipped_expired: if plan.skip_expired { c.expired } else { 0 },
        how: plan.how.clone(),
        ..Default::default()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let mut held = Vec::new();
    let r = (|| {
        while sum.served.len() < opts.replicas as usize {
            let Some(rep) = next_replica(&listener, opts.accept_wait) else {
                return Err(LoadError::GaveUp(format!(
                    "no replica came within {} s ({} of {} served)",
                    opts.accept_wait.unwrap_or_default().as_secs(),
                    sum.served.len(),
                    opts.replicas
                )));
            };
            let sent = Arc::new(AtomicU64::new(0));
            let psync_id = super::random_hex();
            let psync = rep.psync.then_some(psync_id.as_str());
            let mark = super::random_hex();
            match stream::send(&rep.link, psync, rep.eof_capa, &mark, &plan.source, &sent) {
                Ok(_) => {}
                Err(StreamError::Input(e)) => return Err(stream::input_error(e)),
                Err(e) => {
                    sum.dropped.push(format!("{}: {e}", rep.peer));
                    continue;
                }
            }
            match wait_ack(&rep.link, opts.ack_wait) {
                Ok(ack) => {
                    sum.served.push(Served {
                        peer: rep.peer,
                        bytes: sent.load(Ordering::Relaxed),
                        ack,
                    });
                    held.push(keep_alive(rep, Arc::clone(&stop)));
                }
                Err(e) => sum.dropped.push(format!("{}: {e}", rep.peer)),
            }
        }
        Ok(())
    })();
    stop.store(true, Ordering::Relaxed);
    for h in held {
        let _ = h.join();
    }
    r?;
    sum.refused = listener.refusals();
    sum.took = started.elapsed();
    Ok(sum)
}

fn next_replica(listener: &Listener, wait: Option<Duration>) -> Option<Replica> {
    let until = wait.map(|w| Instant::now() + w);
    loop {
        if let Some(r) = listener.next(Duration::from_millis(250)) {
            return Some(r);
        }
        if until.is_some_and(|u| Instant::now() >= u) {
            return None;
        }
    }
}

/// The offset of the replica's first `REPLCONF ACK`, PINGing it every
/// second meanwhile (a replica drops a silent master after `repl-timeout`).
fn wait_ack(sock: &Link, limit: Duration) -> Result<u64, String> {
    let until = Instant::now() + limit;
    let mut w = sock.clone();
    sock.set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| e.to_string())?;
    let mut r = BufReader::new(sock.clone());
    while Instant::now() < until {
        match read_command(&mut r) {
            Ok(args) => {
                let is_ack = args.len() >= 3
                    && args[0].eq_ignore_ascii_case(b"REPLCONF")
                    && args[1].eq_ignore_ascii_case(b"ACK");
                if is_ack {
                    return std::str::from_utf8(&args[2])
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| "a bad REPLCONF ACK offset".to_string());
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                w.write_all(b"*1\r\n$4\r\nPING\r\n")
                    .and_then(|_| w.flush())
                    .map_err(|e| e.to_string())?;
            }
            Err(e) => return Err(format!("closed before acknowledging ({e})")),
        }
    }
    Err(format!("did not acknowledge within {} s", limit.as_secs()))
}

/// PINGs a served replica every second until `stop`, reading and dropping
/// its ACKs, so that it stays linked (and does not ask for another sync).
fn keep_alive(rep: Replica, stop: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut s = rep.link;
        let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
        let mut buf = [0u8; 4096];
        let mut last = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            if matches!(s.read(&mut buf), Ok(0)) {
                return;
            }
            if last.elapsed() >= Duration::from_secs(1) {
                let ping = s.write_all(b"*1\r\n$4\r\nPING\r\n").and_then(|_| s.flush());
                if ping.is_err() {
                    return;
                }
                last = Instant::now();
            }
        }
    })
}
