//! Real `redis-server` processes started by the tests: standalone servers
//! and 3-master clusters, each on free loopback ports in its own temporary
//! directory, killed by a `Drop` guard (also when a test panics).
//!
//! Safety net for abnormal ends (the test process killed by a signal, where
//! no `Drop` runs): every server gets a tiny watchdog shell that kills it
//! (and removes its directory) when the test process is gone. `Drop` stops
//! the watchdog first, then the server, so the watchdog never acts on a pid
//! that is not its server.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::resp::{Conn, Reply};

/// Debian's `redis-server` (7.0.15), or the one on the PATH.
pub const REDIS_SERVER: &str = if cfg!(unix) {
    "/usr/bin/redis-server"
} else {
    "redis-server"
};
/// Debian's `redis-cli`.
pub const REDIS_CLI: &str = if cfg!(unix) {
    "/usr/bin/redis-cli"
} else {
    "redis-cli"
};

// ---------------------------------------------------------------------------
// Temporary directories
// ---------------------------------------------------------------------------

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

static DIR_COUNTER: AtomicUsize = AtomicUsize::new(0);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = DIR_COUNTER.fetch_add(1, Ordering::SeqCst);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let p = std::env::temp_dir().join(format!(
            "rdbkit-it-{}-{tag}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&p)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", p.display()));
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------

/// Ports handed out in this process (never handed out twice, so parallel
/// tests do not race for the same one).
static PORTS: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

fn port_is_free(p: u16) -> bool {
    TcpListener::bind(("127.0.0.1", p)).is_ok()
}

/// A free loopback port (bind port 0, release it). For cluster nodes the
/// cluster bus port (`port + 10000`) must be free too.
pub fn free_port(cluster: bool) -> u16 {
    for _ in 0..1000 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let p = l.local_addr().unwrap().port();
        drop(l);
        if cluster && (p as u32 + 10000 > 65535 || !port_is_free(p + 10000)) {
            continue;
        }
        let mut used = PORTS.lock().unwrap_or_else(|e| e.into_inner());
        if used.contains(&p) || (cluster && used.contains(&(p + 10000))) {
            continue;
        }
        used.insert(p);
        if cluster {
            used.insert(p + 10000);
        }
        return p;
    }
    panic!("no free port found");
}

// ---------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------

/// How to start a server.
#[derive(Clone, Default)]
pub struct ServerOpts {
    /// Cluster mode (`--cluster-enabled yes` ...).
    pub cluster: bool,
    /// `--requirepass`.
    pub password: Option<String>,
    /// More `--name value` arguments.
    pub args: Vec<String>,
    /// A file to use as `dump.rdb` at start-up.
    pub rdb: Option<PathBuf>,
    /// Return as soon as the server accepts connections, even while it is
    /// still loading its dump (it answers `-LOADING` then).
    pub loading_ok: bool,
    /// Another server binary than [`REDIS_SERVER`] (e.g. a Redis 8.8 build,
    /// see [`redis_unstable`]).
    pub binary: Option<PathBuf>,
}

/// The Redis `unstable` (8.8+, RDB 14) server binary named by
/// `RDBKIT_REDIS_UNSTABLE`, if set and present; tests that need it print why
/// they skip otherwise.
pub fn redis_unstable() -> Option<PathBuf> {
    let p = PathBuf::from(std::env::var_os("RDBKIT_REDIS_UNSTABLE")?);
    p.is_file().then_some(p)
}

/// A running `redis-server`, killed on drop.
pub struct Server {
    binary: PathBuf,
    pub port: u16,
    pub dir: TempDir,
    pub password: Option<String>,
    child: Child,
    watchdog: Option<Child>,
    /// The command line, to start it again after a crash.
    argv: Vec<std::ffi::OsString>,
    /// `ServerOpts::loading_ok`.
    loading_ok: bool,
}

impl Server {
    /// A standalone server with default settings.
    pub fn start() -> Server {
        Server::start_with(ServerOpts::default())
    }

    pub fn start_with(opts: ServerOpts) -> Server {
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port(opts.cluster);
            let dir = TempDir::new(if opts.cluster { "node" } else { "server" });
            if let Some(rdb) = &opts.rdb {
                std::fs::copy(rdb, dir.join("dump.rdb")).expect("copy rdb");
            }
            let binary: PathBuf = opts.binary.clone().unwrap_or(REDIS_SERVER.into());
            let mut cmd = Command::new(&binary);
            cmd.arg("--port")
                .arg(port.to_string())
                .arg("--bind")
                .arg("127.0.0.1")
                .arg("--dir")
                .arg(dir.path())
                .arg("--save")
                .arg("")
                .arg("--appendonly")
                .arg("no")
                .arg("--daemonize")
                .arg("no")
                .arg("--dbfilename")
                .arg("dump.rdb")
                .arg("--logfile")
                .arg(dir.join("server.log"));
            if opts.cluster {
                cmd.args([
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "5000",
                ]);
            }
            if let Some(p) = &opts.password {
                cmd.arg("--requirepass").arg(p);
            }
            cmd.args(&opts.args);
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let argv: Vec<std::ffi::OsString> = cmd.get_args().map(|a| a.to_owned()).collect();
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let watchdog = Command::new("/bin/sh")
                .arg("-c")
                .arg(
                    "while kill -0 \"$1\" 2>/dev/null && kill -0 \"$2\" 2>/dev/null; \
                     do sleep 1; done; \
                     if ! kill -0 \"$1\" 2>/dev/null; then \
                     kill -9 \"$2\" 2>/dev/null; sleep 0.2; rm -rf \"$3\"; fi",
                )
                .arg("watchdog")
                .arg(std::process::id().to_string())
                .arg(child.id().to_string())
                .arg(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .ok();
            let mut s = Server {
                binary,
                port,
                dir,
                password: opts.password.clone(),
                child,
                watchdog,
                argv,
                loading_ok: opts.loading_ok,
            };
            match s.wait_ready(Duration::from_secs(20)) {
                Ok(()) => return s,
                Err(log) => {
                    last_log = log;
                    if last_log.contains("Address already in use") {
                        continue; // drop kills it; try another port
                    }
                    panic!("redis-server on port {port} did not start:\n{last_log}");
                }
            }
        }
        panic!("redis-server did not start after 5 attempts:\n{last_log}");
    }

    /// Waits until the server answers PING (not LOADING). Err(log) when
    /// it exits or does not answer in time.
    /// The server's process id (to stop it with SIGSTOP, say).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server with SIGKILL (a crash: no shutdown save).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the server with SIGKILL (a crash: no shutdown save) and starts
    /// it again on the same port and directory, as a supervisor would.
    pub fn crash_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Command::new(&self.binary)
            .args(&self.argv)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot restart {}: {e}", self.binary.display()));
        if let Err(log) = self.wait_ready(Duration::from_secs(60)) {
            panic!("redis-server did not restart:\n{log}");
        }
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Err(self.log());
            }
            if let Ok(mut c) = Conn::connect_auth(self.port, self.password.as_deref()) {
                match c.try_cmd(["PING"]) {
                    Ok(Reply::Status(s)) if s == "PONG" => return Ok(()),
                    Ok(Reply::Error(e)) if self.loading_ok && e.starts_with("LOADING") => {
                        return Ok(())
                    }
                    _ => {}
                }
            }
            if Instant::now() > deadline {
                return Err(format!("(no PONG after {timeout:?})\n{}", self.log()));
            }
            sleep(Duration::from_millis(20));
        }
    }

    /// The server log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// A new authenticated connection.
    pub fn conn(&self) -> Conn {
        Conn::connect_auth(self.port, self.password.as_deref())
            .unwrap_or_else(|e| panic!("cannot connect to port {}: {e}", self.port))
    }

    /// `redis://127.0.0.1:PORT` (no credentials).
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// FLUSHALL + FUNCTION FLUSH.
    pub fn flush(&self) {
        let mut c = self.conn();
        c.ok(["FLUSHALL"]);
        c.ok(["FUNCTION", "FLUSH"]);
    }

    /// DBSIZE of every DB (0..16) summed.
    pub fn total_keys(&self) -> u64 {
        let mut c = self.conn();
        let mut n = 0;
        for (k, v) in c.info("keyspace") {
            if k.starts_with("db") {
                let keys = v
                    .split(',')
                    .find_map(|p| p.strip_prefix("keys="))
                    .and_then(|x| x.parse::<u64>().ok())
                    .unwrap_or_else(|| panic!("bad keyspace line {k}:{v}"));
                n += keys;
            }
        }
        n
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut used = PORTS.lock().unwrap_or_else(|e| e.into_inner());
        used.remove(&self.port);
    }
}

// ---------------------------------------------------------------------------
// Clusters
// ---------------------------------------------------------------------------

/// A cluster of masters without replicas, killed on drop.
pub struct Cluster {
    pub nodes: Vec<Server>,
}

impl Cluster {
    /// `n` masters (n >= 3), created with `redis-cli --cluster create`,
    /// returned once every node reports `cluster_state:ok` and all nodes
    /// agree on the slot map.
    pub fn start(n: usize) -> Cluster {
        Cluster::start_with(n, 0, &[])
    }

    /// `n` nodes of which `n / (replicas + 1)` are masters, each with
    /// `replicas` replicas; `args` go to every node (they override the
    /// defaults, e.g. `--cluster-node-timeout`).
    pub fn start_with(n: usize, replicas: usize, args: &[&str]) -> Cluster {
        let nodes: Vec<Server> = (0..n)
            .map(|_| {
                Server::start_with(ServerOpts {
                    cluster: true,
                    args: args.iter().map(|a| a.to_string()).collect(),
                    ..Default::default()
                })
            })
            .collect();
        let mut cmd = Command::new(REDIS_CLI);
        cmd.arg("--cluster").arg("create");
        for s in &nodes {
            cmd.arg(s.addr());
        }
        cmd.args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"]);
        let out = cmd.output().expect("run redis-cli --cluster create");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let c = Cluster { nodes };
        c.wait_ok(Duration::from_secs(60));
        c
    }

    /// Waits until every node says `cluster_state:ok` and the nodes'
    /// slot maps agree.
    pub fn wait_ok(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let mut all_ok = true;
            let mut maps = Vec::new();
            for s in &self.nodes {
                let mut c = s.conn();
                let info = c.must(["CLUSTER", "INFO"]).text();
                if !info.lines().any(|l| l.trim() == "cluster_state:ok") {
                    all_ok = false;
                }
                maps.push(self.slot_map_of(&mut c));
            }
            if all_ok && maps.windows(2).all(|w| w[0] == w[1]) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "cluster not ok after {timeout:?}; maps: {maps:?}"
            );
            sleep(Duration::from_millis(100));
        }
    }

    /// `(start, end, port)` ranges of `CLUSTER SLOTS` as seen by a node, sorted.
    fn slot_map_of(&self, c: &mut Conn) -> Vec<(i64, i64, i64)> {
        let r = c.must(["CLUSTER", "SLOTS"]);
        let mut v: Vec<(i64, i64, i64)> = r
            .array()
            .iter()
            .map(|e| {
                let a = e.array();
                (a[0].int(), a[1].int(), a[2].array()[1].int())
            })
            .collect();
        v.sort();
        v
    }

    /// The slot map as seen by node 0.
    pub fn slot_map(&self) -> Vec<(i64, i64, i64)> {
        let mut c = self.nodes[0].conn();
        self.slot_map_of(&mut c)
    }

    /// The node owning `slot` (per node 0's view).
    pub fn owner_of(&self, slot: i64) -> &Server {
        let port = self
            .slot_map()
            .into_iter()
            .find(|(a, b, _)| *a <= slot && slot <= *b)
            .map(|(_, _, p)| p)
            .unwrap_or_else(|| panic!("slot {slot} not served"));
        self.nodes
            .iter()
            .find(|s| s.port as i64 == port)
            .expect("owner is one of our nodes")
    }

    /// FLUSHALL + FUNCTION FLUSH on every master.
    pub fn flush(&self) {
        for s in &self.nodes {
            s.flush();
        }
    }

    /// Sum of DBSIZE over the masters.
    pub fn total_keys(&self) -> u64 {
        self.nodes.iter().map(|s| s.total_keys()).sum()
    }
}

/// The node id (`CLUSTER MYID`) of a server.
pub fn node_id(s: &Server) -> String {
    s.conn().must(["CLUSTER", "MYID"]).text()
}

/// CRC16-XMODEM, the cluster key hash.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The cluster slot of a key (hash tags honoured).
pub fn key_slot(key: &[u8]) -> u16 {
    let mut k = key;
    if let Some(s) = key.iter().position(|&c| c == b'{') {
        if let Some(e) = key[s + 1..].iter().position(|&c| c == b'}') {
            if e > 0 {
                k = &key[s + 1..s + 1 + e];
            }
        }
    }
    crc16(k) % 16384
}
