//! `rdbkit fetch URL -o FILE`, and `load`'s inputs given as URLs (fetched
//! to an unlinked spool file, then loaded as a file).

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

use clap::Args;

use rdbkit::fetch::{self, Checksum, FetchOptions, Source};
use rdbkit::input::Input;
use rdbkit::load::conn::TlsFiles;
use rdbkit::load::target::Auth;

use super::{exit, progress, Fail};

/// Download a one-time snapshot of a live server over the replication
/// protocol (as `redis-cli --rdb`), from redis://, rediss:// or
/// sentinel://HOST:26379[,HOST2...]/MASTER[?role=replica|master&tls=1]
/// (default role=replica: the snapshot comes from a healthy replica). The
/// CRC-64 is checked before the file takes its name. Not continuous sync:
/// writes after the snapshot are not fetched.
#[derive(Args, Debug)]
pub struct FetchArgs {
    /// redis://[user:pass@]host:port, rediss://..., or sentinel://...
    url: String,
    /// Where to write the RDB file (renamed into place once complete and checked).
    #[arg(short, long)]
    output: PathBuf,
    /// Read the server's password from this file (first line). Also: REDISCLI_AUTH.
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Read the sentinels' own password from this file (first line).
    #[arg(long)]
    sentinel_password_file: Option<PathBuf>,
    #[command(flatten)]
    tls: TlsArgs,
    /// Seconds without progress before the server counts as gone; 0: no limit.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    timeout: u64,
    /// No progress bar and no summary.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args, Debug, Clone, Default)]
pub struct TlsArgs {
    /// CA certificate(s) (PEM) for rediss:// and ?tls=1.
    #[arg(long)]
    tls_ca: Option<PathBuf>,
    /// Client certificate chain (PEM).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Client private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

fn first_line(p: &Path) -> Result<String, Fail> {
    let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(text.lines().next().unwrap_or("").to_string())
}

fn source(url: &str, password_file: Option<&Path>) -> Result<Source, Fail> {
    let mut s =
        match Source::parse(url) {
            Some(Ok(s)) => s,
            Some(Err(e)) => return Err(Fail::Usage(e)),
            None => return Err(Fail::Usage(
                "fetch takes redis://host:port, rediss://host:port or sentinel://host:port/MASTER"
                    .into(),
            )),
        };
    if let Some(p) = password_file {
        s.set_default_password(first_line(p)?);
    } else if let Ok(p) = std::env::var("REDISCLI_AUTH") {
        s.set_default_password(p);
    }
    Ok(s)
}

fn bar_progress(bar: &progress::Bar) -> impl FnMut(u64, Option<u64>) + '_ {
    move |done, total| {
        bar.set_len(total);
        bar.set(done, "fetching");
    }
}

fn describe(f: &fetch::Fetched) -> String {
    format!(
        "{} bytes from {}, checksum {}",
        f.bytes,
        f.from,
        match f.checksum {
            Checksum::Verified(c) => format!("{c:016x} verified"),
            Checksum::Absent => "absent (the server writes none)".into(),
        }
    )
}

pub fn run(a: FetchArgs) -> Result<u8, Fail> {
    let src = source(&a.url, a.password_file.as_deref())?;
    let opts = FetchOptions {
        tls: a.tls.files(),
        io_timeout: rdbkit::redis::conn::io_timeout_secs(a.timeout),
        sentinel_auth: Auth {
            user: None,
            pass: match &a.sentinel_password_file {
                Some(p) => Some(first_line(p)?),
                None => None,
            },
        },
    };
    let bar = progress::Bar::new(a.quiet || !io::stderr().is_terminal(), 0);
    let r = fetch::fetch_file(&src, &opts, &a.output, &mut bar_progress(&bar));
    bar.finish();
    let f = r?;
    if !a.quiet {
        eprintln!("rdbkit: {}: {}", a.output.display(), describe(&f));
    }
    Ok(exit::OK)
}

impl TlsArgs {
    pub fn files(&self) -> TlsFiles {
        TlsFiles {
            ca: self.tls_ca.clone(),
            cert: self.tls_cert.clone(),
            key: self.tls_key.clone(),
        }
    }
}

/// A `load` input: a file, or a URL fetched first to an unlinked spool
/// file under `$TMPDIR` (the TLS files given for the target are used for
/// the source too).
pub fn open_or_fetch(file: &Path, tls: TlsFiles, quiet: bool) -> Result<Input, Fail> {
    let Some(url) = file.to_str().filter(|s| Source::parse(s).is_some()) else {
        return Ok(super::files::open(file)?);
    };
    let src = source(url, None)?;
    let opts = FetchOptions {
        tls,
        io_timeout: Some(rdbkit::redis::conn::DEFAULT_IO_TIMEOUT),
        sentinel_auth: Auth::default(),
    };
    let (mut spool, _) = rdbkit::compress::temp_file("fetch").map_err(|e| e.to_string())?;
    let bar = progress::Bar::new(quiet || !io::stderr().is_terminal(), 0);
    let r = fetch::fetch_into(&src, &opts, &mut spool, &mut bar_progress(&bar));
    bar.finish();
    let f = r?;
    if !quiet {
        eprintln!("rdbkit: fetched {}", describe(&f));
    }
    Ok(Input::map_spooled(&spool).map_err(|e| e.to_string())?)
}
