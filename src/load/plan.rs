//! What each input file needs before it is read: its worker configuration
//! (payload or commands, given what the target reads), where a resumed run
//! starts in it, and the checkpoint that records the run's progress.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::checkpoint::{self, Checkpoint, Tracker};
use super::session::Session;
use super::{changed_options, db_at, LoadError, LoadMode, LoadOptions, Summary};
use crate::restore::worker::{CommandChoice, WorkerConfig};
use crate::restore::{jsonl, worker_config, InputError, InputFile, OnConflict};

/// Each file's worker configuration and payload version, and the notes
/// that say which files go as commands and why.
pub(super) type Configs = (Vec<(WorkerConfig, u32)>, Vec<String>);

/// See [`Configs`].
pub(super) fn configs(
    files: &[InputFile<'_>],
    opts: &LoadOptions,
    session: &Session,
) -> Result<Configs, LoadError> {
    let mut keys = opts.keys.clone();
    if keys.db.is_none() {
        keys.db = opts.target.db;
    }
    let mut configs = Vec::new();
    let mut notes = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let is_json = jsonl::is_jsonl(f.data);
        // JSON Lines from `rdbkit json`: always written as commands.
        let version = if is_json {
            None
        } else {
            let h = crate::rdb::records::parse_header(f.data)
                .map_err(|e| InputError::new(&*f.name, e.into()))?;
            Some(h.version)
        };
        let policy = opts.on_conflict;
        let cfg = worker_config(
            i,
            f.data,
            &keys,
            session.cluster,
            policy,
            opts.dry_run,
            &f.name,
        )?;
        let (cfg, note) = choose_mode(cfg, f, version, opts, session)?;
        notes.extend(note);
        configs.push((with_resume(cfg, opts, i), version.unwrap_or(0)));
    }
    Ok((configs, notes))
}

/// Payloads, commands, or payloads with commands for the keys the target
/// cannot take as one (`--mode`); the note when the whole file goes as commands.
fn choose_mode(
    mut cfg: WorkerConfig,
    f: &InputFile<'_>,
    version: Option<u32>,
    opts: &LoadOptions,
    session: &Session,
) -> Result<(WorkerConfig, Option<String>), LoadError> {
    let is_json = version.is_none();
    let all = match opts.mode {
        LoadMode::Restore => false,
        LoadMode::Commands => true,
        LoadMode::Auto => !session.reads(version),
    };
    if is_json && opts.mode == LoadMode::Restore {
        return Err(LoadError::Usage(format!(
            "{}: JSON Lines input can only be loaded as commands (--mode commands or auto)",
            f.name
        )));
    }
    if opts.mode != LoadMode::Restore || is_json {
        cfg.commands = Some(CommandChoice {
            all,
            max_restore_bytes: if opts.mode == LoadMode::Auto {
                opts.max_restore_bytes
            } else {
                u64::MAX
            },
            check: opts.on_conflict != OnConflict::Rewrite,
            features: session.features,
        });
    }
    let note = (all && !is_json).then(|| match opts.mode {
        LoadMode::Commands => format!("{}: written as commands (--mode commands)", f.name),
        _ => format!(
            "{}: written as commands: target {} does not accept RDB version {} payloads",
            f.name,
            session.server_version,
            version.unwrap_or(0)
        ),
    });
    Ok((cfg, note))
}

/// The checkpointed run's state of file `i`, for the workers.
fn with_resume(mut cfg: WorkerConfig, opts: &LoadOptions, i: usize) -> WorkerConfig {
    if let Some(prev) = opts.resume.as_ref().and_then(|c| c.files.get(i)) {
        cfg.resume = Some(Arc::new(prev.clone()));
    }
    cfg
}

/// Where each file starts and what is known of it from a checkpoint.
pub(super) struct Starts {
    /// After the acknowledged prefix, with the database selected there.
    pub at: Vec<Option<(u64, u64)>>,
    /// Completed in the checkpointed run: not read at all.
    pub skip: Vec<bool>,
    pub trackers: Vec<Tracker>,
}

/// Where each file starts: from a checkpoint, after its acknowledged
/// prefix (with the database selected there); a completed file not at all.
/// Refuses a checkpoint of other files or (unless allowed) other options.
pub(super) fn starts(files: &[InputFile<'_>], opts: &LoadOptions) -> Result<Starts, LoadError> {
    let n = files.len();
    let mut st = Starts {
        at: vec![None; n],
        skip: vec![false; n],
        trackers: (0..n).map(|_| Default::default()).collect(),
    };
    if opts.checkpoint.is_some() || opts.resume.is_some() {
        if let Some(f) = files.iter().find(|f| jsonl::is_jsonl(f.data)) {
            return Err(LoadError::Usage(format!(
                "{}: --checkpoint/--resume work with RDB files, not JSON Lines",
                f.name
            )));
        }
    }
    let Some(ck) = &opts.resume else {
        return Ok(st);
    };
    if ck.files.len() != n {
        return Err(LoadError::Usage(format!(
            "the checkpoint is of {} input file(s), not {n}",
            ck.files.len(),
        )));
    }
    changed_options(&ck.options, &opts.recorded(), opts.allow_changed_options)?;
    for (i, (f, prev)) in files.iter().zip(&ck.files).enumerate() {
        if prev.size != f.data.len() as u64 || prev.fingerprint != checkpoint::fingerprint(f.data) {
            return Err(InputError::unusable(
                &*f.name,
                format!("not the file the checkpoint was made with ({})", prev.name),
            )
            .into());
        }
        let t = &mut st.trackers[i];
        t.failed = prev.failed.clone();
        t.conflicted = prev.conflicted.clone();
        t.floor = prev.acked;
        if prev.complete {
            st.skip[i] = true;
            continue;
        }
        // Keys that failed before the acknowledged prefix are read again.
        // (0: the interrupted run acknowledged nothing; from the start.)
        let at = prev.resume_at();
        if at > 0 {
            let db = db_at(f.data, at)
                .map_err(|e| InputError::new(&*f.name, e).at(format!("checkpoint offset {at}")))?;
            st.at[i] = Some((at, db));
        }
        t.start(at);
    }
    Ok(st)
}

/// Writes the checkpoint file (`--checkpoint`); does nothing without one.
pub(super) struct Checkpointer<'r, 'f> {
    path: Option<&'r PathBuf>,
    recorded: BTreeMap<String, String>,
    resume: Option<&'r Checkpoint>,
    files: &'r [InputFile<'f>],
    /// Keys per file, from the preflight walk (or the resumed run's walk).
    pub keys_in_files: Vec<Option<u64>>,
}

impl<'r, 'f> Checkpointer<'r, 'f> {
    pub fn new(files: &'r [InputFile<'f>], opts: &'r LoadOptions) -> Self {
        Checkpointer {
            path: opts.checkpoint.as_ref(),
            recorded: opts.recorded(),
            resume: opts.resume.as_ref(),
            files,
            keys_in_files: vec![None; files.len()],
        }
    }

    /// Records every file's acknowledged prefix and what is known beyond it.
    pub fn save(&self, trackers: &mut [Tracker], summary: &Summary) -> Result<(), LoadError> {
        let Some(path) = self.path else {
            return Ok(());
        };
        let ck = Checkpoint {
            options: self.recorded.clone(),
            totals: summary.totals_with(self.resume, &trackers[..]),
            files: (self.files.iter().zip(trackers.iter_mut()).enumerate())
                .map(|(i, (f, t))| self.file_state(i, f, t))
                .collect(),
        };
        ck.write(path)
            .map_err(LoadError::io(format!("checkpoint {}", path.display())))
    }

    fn file_state(&self, i: usize, f: &InputFile<'_>, t: &mut Tracker) -> checkpoint::FileState {
        let prev = self.resume.map(|c| &c.files[i]);
        let complete = prev.is_some_and(|p| p.complete)
            || (t.complete
                && t.pending.is_empty()
                && t.failed.is_empty()
                && t.conflicted.is_empty());
        let acked = t.prefix().min(f.data.len() as u64);
        checkpoint::FileState {
            name: f.name.clone(),
            size: f.data.len() as u64,
            fingerprint: checkpoint::fingerprint(f.data),
            acked,
            done: t.done.clone(),
            sent: t.sent.max(t.reserved).max(prev.map_or(0, |p| p.sent)),
            complete,
            keys: self.keys_in_files[i].or(prev.and_then(|p| p.keys)),
            failed: t.failed.clone(),
            conflicted: t.conflicted.clone(),
        }
    }
}
