//! `rdbkit serve FILE... --listen ADDR:PORT`: flags to
//! [`rdbkit::replicate::serve::ServeOptions`]. The password replicas
//! present never goes through argv (where `ps` shows it): it comes from
//! `RDBKIT_SERVE_PASSWORD`, from `--password-file`, or is generated and
//! printed once on stderr.

use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use rdbkit::input::Input;
use rdbkit::load;
use rdbkit::rdb::write::Format;
use rdbkit::replicate::serve::{serve, ServeOptions};
use rdbkit::replicate::{self, Options};

use super::common::Common;
use super::files::open;
use super::target::KeyArgs;
use super::{exit, Fail};

/// The environment variable holding the serve password.
pub const PASSWORD_ENV: &str = "RDBKIT_SERVE_PASSWORD";

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// RDB files (several are merged into one stream).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Listen on ADDR:PORT for replicas (`REPLICAOF` this address, with
    /// `masterauth` set to the password).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: String,
    /// Speak TLS to replicas (those with tls-replication yes) with this PEM
    /// certificate chain, which they must trust (their tls-ca-cert-file).
    #[arg(long, value_name = "FILE", requires = "listen_key")]
    listen_cert: Option<PathBuf>,
    /// The private key (PEM) of --listen-cert.
    #[arg(long, value_name = "FILE", requires = "listen_cert")]
    listen_key: Option<PathBuf>,
    /// Serve this many replicas (each acknowledges having loaded), then exit.
    #[arg(long, default_value_t = 1)]
    replicas: u32,
    /// A file whose first line is the password replicas present (else
    /// $RDBKIT_SERVE_PASSWORD, else a random one printed once on stderr).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Write the stream as this server reads it: redis-2.8 ... redis-8.6,
    /// valkey-7.2 ... valkey-9.1 (default: the inputs' own format).
    #[arg(long, value_name = "SERVER")]
    to: Option<String>,
    /// Drop what the --to version cannot hold, counted, instead of refusing.
    #[arg(long)]
    lossy: bool,
    /// Give up when no replica has come for SECS (default: wait for ever).
    #[arg(long, value_name = "SECS")]
    accept_wait: Option<u64>,
    /// Seconds a served replica may take to load and acknowledge.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    ack_wait: u64,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    keys: KeyArgs,
    #[command(flatten)]
    common: Common,
}

/// The password, and whether it was generated (then printed once).
fn password(a: &ServeArgs) -> Result<(String, bool), Fail> {
    if let Some(f) = &a.password_file {
        let t = std::fs::read_to_string(f)
            .map_err(|e| Fail::Usage(format!("--password-file {}: {e}", f.display())))?;
        let p = t.lines().next().unwrap_or_default().to_string();
        if p.is_empty() {
            return Err(Fail::Usage(format!(
                "--password-file {}: empty",
                f.display()
            )));
        }
        return Ok((p, false));
    }
    match std::env::var(PASSWORD_ENV) {
        Ok(p) if !p.is_empty() => Ok((p, false)),
        _ => Ok((replicate::random_hex(), true)),
    }
}

pub fn run(a: ServeArgs) -> Result<u8, Fail> {
    let listen = a
        .listen
        .to_socket_addrs()
        .ok()
        .and_then(|mut s| s.next())
        .ok_or_else(|| Fail::Usage(format!("--listen {}: not an ADDR:PORT", a.listen)))?;
    let to = match &a.to {
        Some(t) => Some(Format::for_server(t).map_err(Fail::Usage)?.0),
        None => None,
    };
    let tls = match (&a.listen_cert, &a.listen_key) {
        (Some(c), Some(k)) => Some(replicate::link::server_config(c, k).map_err(Fail::Usage)?),
        _ => None,
    };
    let (secret, generated) = password(&a)?;
    let label = a
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let engine = a.common.engine(&label)?;
    let base = Options {
        target: rdbkit::redis::target::Target {
            host: listen.ip().to_string(),
            port: listen.port(),
            db: None,
            tls: false,
            auth: Default::default(),
        },
        tls: load::conn::TlsFiles::default(),
        io_timeout: None,
        listen: None,
        advertise: None,
        listen_cert: None,
        listen_key: None,
        replace_all: true,
        engine,
        keys: a.keys.options(),
        lossy: a.lossy,
        connect_wait: Duration::from_secs(1),
        attempts: 1,
    };
    let opts = ServeOptions {
        base,
        listen,
        secret: secret.clone(),
        tls,
        replicas: a.replicas.max(1),
        to,
        accept_wait: a.accept_wait.map(Duration::from_secs),
        ack_wait: Duration::from_secs(a.ack_wait.max(1)),
    };
    let inputs: Vec<Input> = a.files.iter().map(|f| open(f)).collect::<Result<_, _>>()?;
    let releases = super::files::releases(&inputs);
    let named = super::files::named_inputs(
        a.files
            .iter()
            .zip(&inputs)
            .map(|(f, i)| (f.display().to_string(), &i[..])),
        &releases,
    );
    let on_listen = |at: std::net::SocketAddr| {
        eprintln!(
            "rdbkit serve: listening on {at}{} for {} replica(s): REPLICAOF {} {} with masterauth set",
            if opts.tls.is_some() { " (TLS)" } else { "" },
            opts.replicas,
            at.ip(),
            at.port()
        );
        if generated {
            // Printed once, here only: never in argv, logs or the summary.
            eprintln!("rdbkit serve: the replicas' masterauth: {secret}");
        }
    };
    let summary = serve(&named, &opts, &on_listen)?;
    if a.json {
        println!("{}", summary.to_json());
    } else if !a.common.quiet {
        eprint!("{}", summary.to_text());
    }
    Ok(exit::OK)
}
