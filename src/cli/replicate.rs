//! `load --mode replicate`: flags to [`rdbkit::replicate::Options`], the
//! summary printed as `load` prints its own.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use rdbkit::input::Input;
use rdbkit::load::{self, Ending};
use rdbkit::replicate::{self, Options};
use rdbkit::scan::EngineOptions;

use super::load::LoadFlags;
use super::target::parse_target;
use super::{exit, Fail};

/// Flags of `--mode replicate` only.
#[derive(Args, Debug, Clone)]
pub struct ReplicateArgs {
    /// --mode replicate: listen on ADDR:PORT for the target's replication
    /// connection (default: the local address that reaches the target, an
    /// ephemeral port).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// --mode replicate: tell the target to connect to HOST:PORT (when NAT
    /// or a proxy puts the listener elsewhere for it).
    #[arg(long, value_name = "HOST:PORT")]
    pub advertise: Option<String>,
    /// --mode replicate: the listener speaks TLS with this PEM certificate
    /// chain, which the target must trust (signed by a CA of its
    /// tls-ca-cert-file). Needed for a target with tls-replication yes;
    /// for any other, tls-replication is turned on for the load.
    #[arg(long, value_name = "FILE", requires = "listen_key")]
    pub listen_cert: Option<PathBuf>,
    /// --mode replicate: the private key (PEM) of --listen-cert.
    #[arg(long, value_name = "FILE", requires = "listen_cert")]
    pub listen_key: Option<PathBuf>,
    /// --mode replicate: load although the target holds keys. A full
    /// synchronisation replaces EVERYTHING the target holds (every
    /// database); --on-conflict does not apply in this mode.
    #[arg(long)]
    pub replace_all: bool,
    /// --mode replicate: seconds the target may take to connect to the listener.
    #[arg(long, value_name = "SECS", default_value_t = 15)]
    pub connect_wait: u64,
}

pub fn run(
    files: &[PathBuf],
    inputs: &[Input],
    a: &LoadFlags,
    engine: EngineOptions,
    json: bool,
    quiet: bool,
) -> Result<u8, Fail> {
    let target = parse_target(&a.target, a.password_file.as_deref())?;
    let r = &a.replicate;
    let opts = Options {
        target,
        tls: load::conn::TlsFiles {
            ca: a.tls_ca.clone(),
            cert: a.tls_cert.clone(),
            key: a.tls_key.clone(),
        },
        io_timeout: rdbkit::redis::conn::io_timeout_secs(a.timeout),
        listen: r.listen.clone(),
        advertise: r.advertise.clone(),
        listen_cert: r.listen_cert.clone(),
        listen_key: r.listen_key.clone(),
        replace_all: r.replace_all,
        engine,
        keys: a.keys.options(),
        lossy: a.lossy,
        connect_wait: Duration::from_secs(r.connect_wait.max(1)),
        attempts: 3,
    };
    let releases = super::files::releases(inputs);
    let named = super::files::named_inputs(
        files
            .iter()
            .zip(inputs)
            .map(|(f, i)| (f.display().to_string(), &i[..])),
        &releases,
    );
    let summary = replicate::replicate(&named, &opts)?;
    if json {
        println!("{}", summary.to_json());
    } else if !quiet {
        eprint!("{}", summary.to_text());
    }
    match &summary.ending {
        Ending::Error(e) => Err(e.clone().into()),
        _ => Ok(exit::OK),
    }
}

/// Whether a RESTORE load's target is an empty standalone server, where
/// `--mode replicate` would have loaded at the server's own speed (asked
/// before the load; any failure to ask just means no hint).
pub fn empty_standalone(opts: &load::LoadOptions) -> bool {
    if opts.dry_run || opts.resume.is_some() || opts.cluster == Some(true) {
        return false;
    }
    let Ok((mut c, _)) = load::conn::Conn::open_target(&opts.target, &opts.tls, opts.io_timeout)
    else {
        return false;
    };
    replicate::control::facts(&mut c).is_ok_and(|f| f.total_keys() == 0 && f.master_of_it.is_none())
}

/// The hint added to a completed RESTORE load's summary.
pub const FASTER_HINT: &str =
    "the target was empty: `--mode replicate` loads it at the server's own speed";
