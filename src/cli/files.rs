//! Opening inputs and outputs: the checks and messages every command
//! shares (an output that is an input is refused; a closed pipe is a
//! normal end; a compressed input shows a bar while it is decompressed).

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

use rdbkit::input::Input;
use rdbkit::outpath::{self, Output};
use rdbkit::restore::InputFile;
use rdbkit::sink::SinkError;

use super::{progress, Fail};

/// Refuses an output that is an input (exit 2); see [`outpath::check`].
pub fn check_outputs(inputs: &[PathBuf], outputs: &[(&str, Option<&PathBuf>)]) -> Result<(), Fail> {
    let ins: Vec<&Path> = inputs.iter().map(|p| p.as_path()).collect();
    let outs: Vec<(&str, &Path)> = outputs
        .iter()
        .filter_map(|(o, p)| p.map(|p| (*o, p.as_path())))
        .collect();
    Ok(outpath::check(&ins, &outs)?)
}

/// A reader that went away (`rdbkit json f.rdb | head`): a normal end,
/// not a failure.
pub fn is_broken_pipe(e: &SinkError) -> bool {
    matches!(e, SinkError::Io(io) if io.kind() == io::ErrorKind::BrokenPipe)
}

/// Page-release hints for `inputs`, lent to [`InputFile::release`]: the
/// engine tells each file how far it will not read again, so its mapped
/// pages can go.
pub fn releases<'a>(inputs: impl IntoIterator<Item = &'a Input>) -> Vec<impl Fn(u64) + Sync + 'a> {
    inputs
        .into_iter()
        .map(|i| move |upto: u64| i.release_before(upto))
        .collect()
}

/// The engine's view of each input: its name, its bytes and the hint from
/// [`releases`] (in the same order).
pub fn named_inputs<'a>(
    inputs: impl IntoIterator<Item = (String, &'a [u8])>,
    releases: &'a [impl Fn(u64) + Sync],
) -> Vec<InputFile<'a>> {
    inputs
        .into_iter()
        .zip(releases)
        .map(|((name, data), r)| InputFile {
            name,
            data,
            release: Some(r as &(dyn Fn(u64) + Sync)),
        })
        .collect()
}

pub fn open(file: &Path) -> Result<Input, String> {
    // A compressed input shows a bar while it is decompressed.
    let bar = std::sync::OnceLock::<progress::Bar>::new();
    let cb = |done: u64, total: u64| {
        bar.get_or_init(|| {
            progress::Bar::new(progress::quiet() || !io::stderr().is_terminal(), total)
        })
        .set(done, "decompressing");
    };
    let r = Input::open_with(file, Some(&cb));
    if let Some(b) = bar.get() {
        b.finish();
    }
    let input = r.map_err(|e| format!("{}: {e}", file.display()))?;
    if input.is_empty() {
        return Err(format!("{}: empty file (0 bytes)", file.display()));
    }
    Ok(input)
}

/// Standard output, or `path` written atomically (committed by the caller
/// once the run succeeded).
pub fn output(path: &Option<PathBuf>) -> Result<Output, String> {
    Output::open(path.as_deref()).map_err(|e| {
        format!(
            "{}: {e}",
            path.as_deref().unwrap_or(Path::new("-")).display()
        )
    })
}

/// The end of a run that wrote to an output: a closed pipe is fine, any
/// other error names the input it came from.
pub fn finish<T>(file: &Path, r: Result<T, SinkError>) -> Result<(), Fail> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if is_broken_pipe(&e) => Ok(()),
        Err(e) => Err(Fail::runtime(format!("{}: {e}", file.display()), &e)),
    }
}
