//! Progress bar on stderr, only when stderr is a terminal and not `--quiet`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use rdbkit::input::Release;

/// `--quiet` of the command being run, for bars drawn where the command's
/// options are not at hand (decompressing an input while it is opened).
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_quiet(q: bool) {
    QUIET.store(q, std::sync::atomic::Ordering::Relaxed);
}

pub fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

pub struct Bar {
    bar: Option<ProgressBar>,
}

impl Bar {
    pub fn new(hidden: bool, total: u64) -> Bar {
        if hidden {
            return Bar { bar: None };
        }
        let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(8));
        b.set_style(
            ProgressStyle::with_template(
                "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Bar { bar: Some(b) }
    }

    /// The engine's progress callback: releases consumed input pages and
    /// moves the bar, if one is shown.
    pub fn callback<'i>(
        &self,
        input: &'i (dyn Release + Sync),
    ) -> impl Fn(u64, u64, u64) + Sync + 'i {
        let bar = self.bar.clone();
        move |done: u64, _total: u64, keys: u64| {
            input.release_before(done);
            if let Some(b) = &bar {
                b.set_position(done);
                b.set_message(format!("{keys} keys"));
            }
        }
    }

    /// Progress of a load, in keys whose reply came back (not keys read:
    /// those may still be in flight), out of the keys the walk counted.
    pub fn load_callback(&self) -> impl Fn(&rdbkit::load::Summary) + Sync {
        let bar = self.bar.clone();
        let styled = std::sync::atomic::AtomicBool::new(false);
        move |s: &rdbkit::load::Summary| {
            let Some(b) = &bar else { return };
            if !styled.swap(true, std::sync::atomic::Ordering::Relaxed) {
                b.set_style(
                    ProgressStyle::with_template(
                        "{bar:30} {human_pos}/{human_len} keys {per_sec} ETA {eta} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                b.set_length(s.keys_in_files.unwrap_or(s.keys_read.max(1)));
                b.reset_eta();
            }
            if s.keys_in_files.is_none() {
                b.set_length(s.keys_read.max(1));
            }
            b.set_position(s.earlier + s.settled());
            b.set_message(format!(
                "{} loaded, {} conflicts, {} failed",
                s.loaded, s.conflicts, s.failed
            ));
        }
    }

    /// Sets the total (unknown: `None`).
    pub fn set_len(&self, total: Option<u64>) {
        if let (Some(b), Some(t)) = (&self.bar, total) {
            b.set_length(t);
        }
    }

    /// Moves the bar to `done` bytes, with a message (decompression).
    pub fn set(&self, done: u64, msg: &str) {
        if let Some(b) = &self.bar {
            b.set_position(done);
            b.set_message(msg.to_string());
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
