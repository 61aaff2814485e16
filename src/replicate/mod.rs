//! `rdbkit load --mode replicate`: load an empty standalone server at its
//! own RDB-load speed by acting as its master for one full synchronisation.
//!
//! Flow: read every input whole first ([`census`]); check the target
//! ([`control`]: standalone, empty unless `--replace-all`, which RDB
//! versions it reads); open a listener that admits only the target with a
//! one-time secret ([`listener`]); set that secret as the target's
//! `masterauth` and `REPLICAOF` us ([`settings`], restored on every path);
//! serve the snapshot ([`stream`], [`session`]) and wait for the target's
//! loader; then `REPLICAOF NO ONE`, put the settings back, and check the
//! key counts per database against the census.
//!
//! A target with `tls-replication yes` connects to its master over TLS:
//! the listener then speaks TLS ([`link`]) with `--listen-cert` /
//! `--listen-key`, a certificate the target trusts (its
//! `tls-ca-cert-file`). Given those for a target replicating over plain
//! TCP, `tls-replication` is turned on for the load (and put back), so the
//! snapshot never crosses the network in clear.

pub mod census;
pub mod control;
pub mod link;
pub mod listener;
mod plan;
pub mod serve;
pub mod session;
pub mod settings;
pub mod stream;

use std::io::Read;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::load::conn::{Conn, TlsFiles};
use crate::load::{InputFile, KeyOptions, LoadError, Summary, Target};
use crate::scan::EngineOptions;

pub use plan::Plan;

/// What a replicated load needs besides the inputs.
#[derive(Debug, Clone)]
pub struct Options {
    pub target: Target,
    pub tls: TlsFiles,
    /// `--timeout`: how long the control connection waits for a reply.
    pub io_timeout: Option<std::time::Duration>,
    /// Address to listen on (default: the local address that reaches the
    /// target, ephemeral port).
    pub listen: Option<String>,
    /// HOST:PORT the target is told to connect to (default: the listener's).
    pub advertise: Option<String>,
    /// `--listen-cert` / `--listen-key`: PEM certificate chain and key the
    /// listener speaks TLS with (both or neither).
    pub listen_cert: Option<std::path::PathBuf>,
    pub listen_key: Option<std::path::PathBuf>,
    /// Load although the target holds keys (all of them are replaced).
    pub replace_all: bool,
    pub engine: EngineOptions,
    pub keys: KeyOptions,
    pub lossy: bool,
    /// How long the target may take to connect to the listener.
    pub connect_wait: Duration,
    /// Synchronisations tried when the replica drops mid-transfer.
    pub attempts: u32,
}

/// 40 random hex digits (replication ids, end marks, the one-time secret).
pub fn random_hex() -> String {
    let mut b = [0u8; 20];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    if ok.is_err() {
        // No /dev/urandom: mix the clock and a fresh hasher's random keys.
        use std::hash::{BuildHasher, Hasher};
        for (i, chunk) in b.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(Instant::now().elapsed().as_nanos() + i as u128);
            h.write_u128(crate::load::now_ms() as u128);
            let v = h.finish().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn target_ip(t: &Target) -> Result<SocketAddr, LoadError> {
    t.addr()
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| LoadError::Target {
            addr: t.addr(),
            msg: "cannot resolve".into(),
        })
}

/// The local address the target's packets would come back to (no packet
/// is sent: a UDP socket is only connected).
fn local_ip_towards(peer: SocketAddr) -> IpAddr {
    let any: SocketAddr = if peer.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    UdpSocket::bind(any)
        .and_then(|u| u.connect(peer).and_then(|_| u.local_addr()))
        .map(|a| a.ip())
        .unwrap_or(peer.ip())
}

/// The listener's bind address and the HOST:PORT the target is told.
fn addresses(opts: &Options, peer: SocketAddr) -> Result<SocketAddr, LoadError> {
    match &opts.listen {
        Some(l) => l
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| LoadError::Usage(format!("--listen {l}: not an ADDR:PORT"))),
        None => Ok(SocketAddr::new(local_ip_towards(peer), 0)),
    }
}

fn split_host_port(s: &str) -> Result<(String, u16), LoadError> {
    let bad = || LoadError::Usage(format!("--advertise {s}: expected HOST:PORT"));
    let (h, p) = s.rsplit_once(':').ok_or_else(bad)?;
    let h = h.trim_start_matches('[').trim_end_matches(']');
    Ok((h.to_string(), p.parse().map_err(|_| bad())?))
}

/// Runs a replicated load.
pub fn replicate(files: &[InputFile<'_>], opts: &Options) -> Result<Summary, LoadError> {
    let done = AtomicBool::new(false);
    std::thread::scope(|sc| {
        sc.spawn(|| pager(files, &done));
        let r = replicate_inner(files, opts);
        done.store(true, Ordering::Relaxed);
        r
    })
}

/// How often [`pager`] releases the inputs' pages.
const PAGER_TICK: Duration = Duration::from_millis(5);

/// Keeps the inputs' mapped pages out of the resident set while the load
/// runs (the census, the writer and the raw stream all read the maps):
/// every [`PAGER_TICK`] each map is released whole. The census and the raw
/// stream also release what they have read as they go, but only between
/// chunks, and one record is one chunk: the census walks a 100 MB value at
/// a few GB/s, so only a short tick keeps such a value from becoming
/// resident whole. Pages in use are faulted back in from the page cache,
/// and a release of unmapped pages is a walk of empty page tables, so this
/// costs little and bounds rdbkit's RSS independently of value and file size.
fn pager(files: &[InputFile<'_>], done: &AtomicBool) {
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(PAGER_TICK);
        if done.load(Ordering::Relaxed) {
            return;
        }
        for f in files {
            if let Some(r) = f.release {
                r(u64::MAX);
            }
        }
    }
}

/// The listener's TLS configuration, when `--listen-cert/--listen-key` ask for one.
fn listen_tls(opts: &Options) -> Result<Option<Arc<rustls::ServerConfig>>, LoadError> {
    match (&opts.listen_cert, &opts.listen_key) {
        (Some(c), Some(k)) => link::server_config(c, k)
            .map(Some)
            .map_err(LoadError::Usage),
        (None, None) => Ok(None),
        _ => Err(LoadError::Usage(
            "--listen-cert and --listen-key go together".into(),
        )),
    }
}

/// Matches the listener to how the target replicates: a TLS target needs
/// a TLS listener; a TLS listener turns the target's `tls-replication` on.
fn match_tls(guard: &mut settings::Guard, tls: bool, addr: String) -> Result<(), LoadError> {
    let on = guard.old("tls-replication") == Some(b"yes".as_slice());
    match (on, tls) {
        (true, false) => Err(LoadError::Target {
            addr,
            msg: "replicates over TLS (tls-replication yes): give rdbkit's listener a \
                  certificate the target trusts (signed by a CA of its tls-ca-cert-file) with \
                  --listen-cert FILE --listen-key FILE, or use --mode restore"
                .into(),
        }),
        (false, true) if guard.old("tls-replication").is_none() => Err(LoadError::Target {
            addr,
            msg: "has no tls-replication setting (built without TLS): drop --listen-cert".into(),
        }),
        // A server whose TLS is not set up refuses the switch.
        (false, true) => guard
            .set("tls-replication", b"yes")
            .map_err(|e| LoadError::Target {
                addr,
                msg: format!(
                "cannot replicate over TLS for --listen-cert: turning tls-replication on failed \
                 ({e}); set up TLS on the target (tls-cert-file, tls-key-file, tls-ca-cert-file) \
                 or drop --listen-cert"
            ),
            }),
        _ => Ok(()),
    }
}

fn replicate_inner(files: &[InputFile<'_>], opts: &Options) -> Result<Summary, LoadError> {
    let started = Instant::now();
    let tls_cfg = listen_tls(opts)?;
    let (mut control, tls) = Conn::open_target(&opts.target, &opts.tls, opts.io_timeout)?;
    let facts = control::facts(&mut control)?;
    let plan = plan::make(files, opts, &facts)?;
    let peer = target_ip(&opts.target)?;
    let bind = addresses(opts, peer)?;
    let secret = random_hex();
    let listener = listener::Listener::open(bind, Some(peer.ip()), secret.clone(), tls_cfg.clone())
        .map_err(LoadError::io(format!("cannot listen on {bind}")))?;
    let (host, port) = match &opts.advertise {
        Some(a) => split_host_port(a)?,
        // A wildcard bind (0.0.0.0, ::) is no address to connect to.
        None if listener.local.ip().is_unspecified() => {
            (local_ip_towards(peer).to_string(), listener.local.port())
        }
        None => (listener.local.ip().to_string(), listener.local.port()),
    };
    let master = format!("{host}:{port}");
    let mut guard = settings::Guard::new(control, opts.target.clone(), tls)?;
    match_tls(&mut guard, tls_cfg.is_some(), opts.target.addr())?;
    guard.set("masterauth", secret.as_bytes())?;
    if guard.old("masteruser").is_some_and(|u| !u.is_empty()) {
        guard.set("masteruser", b"")?;
    }
    if facts.total_keys() == 0 {
        // Load from the socket: no disk space needed on the target.
        guard.set("repl-diskless-load", b"on-empty-db")?;
    }
    control::replicaof(&mut guard.conn, Some((&host, port)))?;
    guard.replicating = true;
    let sent = Arc::new(AtomicU64::new(0));
    let ended = serve(&listener, &mut guard, &master, &plan, opts, &sent, bind);
    // The replica's link stays open until REPLICAOF NO ONE: closed first,
    // the target would log a lost master and start reconnecting.
    let restored = guard.restore_reconnecting();
    let (writer_summary, drops_seen) = match ended {
        Ok((s, _replica, drops)) => (s, drops),
        Err(e) => return Err(explain_failure(e, &mut guard, &facts, restored.err())),
    };
    restored?;
    let mut summary = plan::summarise(
        &plan,
        &facts,
        &mut guard.conn,
        writer_summary,
        sent.load(Ordering::Relaxed),
        &listener.refusals(),
        started.elapsed(),
    )?;
    summary.retries = drops_seen.len() as u64;
    if tls_cfg.is_some() {
        summary
            .notes
            .push("the snapshot went over TLS (tls-replication yes on the target)".into());
    }
    for d in drops_seen {
        summary.notes.push(format!(
            "the replica dropped a synchronisation ({d}); it was served again"
        ));
    }
    Ok(summary)
}

/// The writer's summary (when it wrote the stream), the replica's
/// connection (open until `REPLICAOF NO ONE`), the drops before success.
type Served = (
    Option<crate::writer::Summary>,
    listener::Replica,
    Vec<String>,
);

/// Waits for the target to connect and synchronises, again when the
/// replica drops mid-transfer, up to `opts.attempts` times.
fn serve(
    listener: &listener::Listener,
    guard: &mut settings::Guard,
    master: &str,
    plan: &Plan<'_>,
    opts: &Options,
    sent: &Arc<AtomicU64>,
    bind: SocketAddr,
) -> Result<Served, LoadError> {
    let target = opts.target.addr();
    let mut last = String::new();
    let mut drops = Vec::new();
    for _ in 0..opts.attempts.max(1) {
        let Some(rep) = wait_replica(listener, guard, master, opts.connect_wait)? else {
            let refused = listener.refusals();
            let why = if last.is_empty() {
                format!(
                    "did not connect to rdbkit's listener at {master} (bound to {bind}) within {} s{}; \
                     check that {target} can reach {master} (firewall, NAT: --advertise HOST:PORT, \
                     --listen ADDR:PORT)",
                    opts.connect_wait.as_secs(),
                    refused_text(&refused),
                )
            } else {
                format!("dropped the synchronisation ({last}) and did not come back")
            };
            return Err(LoadError::Target {
                addr: target,
                msg: why,
            });
        };
        sent.store(0, Ordering::Relaxed);
        match session::run(&rep, &mut guard.conn, master, &plan.source, sent)? {
            session::Ended::Loaded(s) => return Ok((s, rep, drops)),
            session::Ended::Dropped(e) => {
                drops.push(e.clone());
                last = e;
            }
            session::Ended::Left(now) => {
                return Err(LoadError::Target {
                    addr: target,
                    msg: format!(
                        "stopped replicating from rdbkit during the load (now {}): someone ran \
                         REPLICAOF on it",
                        now.as_deref().unwrap_or("a master itself")
                    ),
                })
            }
        }
    }
    Err(LoadError::Target {
        addr: target,
        msg: format!(
            "the synchronisation failed {} times (last: {last})",
            opts.attempts.max(1)
        ),
    })
}

fn refused_text(refused: &[String]) -> String {
    if refused.is_empty() {
        String::new()
    } else {
        format!(" (refused: {})", refused.join("; "))
    }
}

/// The next admitted replica within `wait`, watching that the target
/// still replicates from us meanwhile.
fn wait_replica(
    listener: &listener::Listener,
    guard: &mut settings::Guard,
    master: &str,
    wait: Duration,
) -> Result<Option<listener::Replica>, LoadError> {
    let until = Instant::now() + wait;
    while Instant::now() < until {
        if let Some(r) = listener.next(Duration::from_millis(250)) {
            return Ok(Some(r));
        }
        let st = control::link_state(&mut guard.conn)?;
        if st.master.as_deref() != Some(master) {
            return Err(LoadError::Target {
                addr: guard.conn.addr.clone(),
                msg: format!(
                    "stopped replicating from rdbkit before the load (now {}): someone ran \
                     REPLICAOF on it",
                    st.master.as_deref().unwrap_or("a master itself")
                ),
            });
        }
    }
    Ok(None)
}

/// A failed load's error, with what the target holds now.
fn explain_failure(
    e: LoadError,
    guard: &mut settings::Guard,
    facts: &control::TargetFacts,
    restore: Option<LoadError>,
) -> LoadError {
    let state = match (control::keyspace(&mut guard.conn), &restore) {
        (Ok(k), None) if k.iter().all(|(_, n)| *n == 0) && facts.total_keys() == 0 => {
            "the target holds nothing of this load (a partial full sync is discarded by the \
             server); its settings were restored"
                .to_string()
        }
        (Ok(k), None) => format!(
            "the target holds {} keys now; its settings were restored",
            k.iter().map(|(_, n)| n).sum::<u64>()
        ),
        (_, Some(r)) => {
            format!("the target's state is unknown and its settings could not be restored: {r}")
        }
        (Err(r), None) => {
            format!("the target's settings were restored, but its keys could not be counted: {r}")
        }
    };
    if e.is_usage() {
        return e;
    }
    LoadError::Aftermath {
        error: Box::new(e),
        state,
    }
}
