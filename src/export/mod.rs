//! `rdbkit export`: a table with one row per key — the facts of `rdbkit
//! memory` (estimated memory, encoding, elements, largest element) plus
//! TTL, LRU/LFU, serialized size, offset and source file, and optionally
//! the value — as Parquet, Arrow IPC or CSV, for DuckDB, pandas, Polars or
//! Spark.
//!
//! Workers of the parallel engine turn their chunk into rows and the rows
//! into an Arrow record batch (or CSV text); the writer receives batches in
//! file order, encodes their columns on a few threads ([`parquet_file`])
//! and writes a row group whenever `batch_rows` rows (or 64 MiB of encoded
//! data) are buffered, so memory stays bounded whatever the file size. Several inputs go into one table (the `file` column tells them
//! apart) or, with [`Layout::PartPerFile`], into a directory of part files.

#[cfg(feature = "parquet")]
pub mod arrow;
pub mod csv;
#[cfg(feature = "parquet")]
pub mod parquet_file;
pub mod row;
#[cfg(feature = "parquet")]
pub mod stream_cols;
pub mod table;
pub mod value;

use crate::inspect::memory::{Model, ModelConfig};
use crate::rdb::records::Item;
use crate::scan::{self, Admit, Chunk, EngineOptions, Progress, Worker};
use crate::sink::SinkError;

use row::{RowMaker, Rows};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Apache Parquet (needs the `parquet` cargo feature).
    Parquet,
    /// Arrow IPC file format, a.k.a. Feather v2 (needs `parquet`).
    Arrow,
    /// CSV of the key table (no values).
    Csv,
}

impl Format {
    /// File name extension of a part file.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Arrow => "arrow",
            Format::Csv => "csv",
        }
    }
}

/// Several inputs: one table, or one part file per input in a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    #[default]
    OneTable,
    PartPerFile,
}

/// What to write.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub format: Format,
    /// Add the value columns (Parquet and Arrow only).
    pub values: bool,
    /// Rows per row group (Parquet) or record batch (Arrow).
    pub batch_rows: usize,
    /// zstd level; `None` writes uncompressed.
    pub zstd_level: Option<i32>,
    /// The memory model for the `memory`/`encoding` columns.
    pub model: ModelConfig,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            format: Format::Parquet,
            values: false,
            batch_rows: 128 * 1024,
            zstd_level: Some(1),
            model: ModelConfig::default(),
        }
    }
}

/// A chunk's rows, encoded by the worker for the writer.
pub enum Piece {
    #[cfg(feature = "parquet")]
    Batch(arrow_array::RecordBatch),
    Csv(Vec<u8>),
}

/// Counts of one file's export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileSummary {
    pub rows: u64,
    /// Keys read, including those the filter left out.
    pub keys_read: u64,
}

/// Where pieces go: a table being written (see [`table`]).
pub trait TableSink: Send {
    fn write(&mut self, piece: Piece) -> Result<(), SinkError>;
    /// Writes the footer and moves the file into place.
    fn finish(self: Box<Self>) -> Result<(), SinkError>;
}

struct ExportWorker<'o> {
    model: &'o Model,
    opts: &'o ExportOptions,
    file: &'o str,
    #[cfg(feature = "parquet")]
    schema: &'o arrow_schema::SchemaRef,
    maker: RowMaker,
    key_buf: Vec<u8>,
}

/// A chunk's output: its piece and how many keys it read.
pub struct Out {
    piece: Piece,
    rows: u64,
    keys_read: u64,
}

impl<'a> Worker<'a> for ExportWorker<'_> {
    type Out = Out;
    type Error = SinkError;

    fn process(&mut self, chunk: &Chunk<'a>) -> Result<Out, SinkError> {
        let (rows, keys_read) = self.rows(chunk)?;
        let n = rows.rows.len() as u64;
        let piece = match self.opts.format {
            Format::Csv => Piece::Csv(csv::rows(&rows, self.file)),
            #[cfg(feature = "parquet")]
            _ => Piece::Batch(
                arrow::batch(rows, self.file, self.schema)
                    .map_err(|e| SinkError::Abort(format!("building a record batch: {e}")))?,
            ),
            #[cfg(not(feature = "parquet"))]
            _ => return Err(SinkError::Abort(NO_PARQUET.into())),
        };
        Ok(Out {
            piece,
            rows: n,
            keys_read,
        })
    }
}

/// The message when Parquet/Arrow was asked of a build without them.
pub const NO_PARQUET: &str =
    "this build of rdbkit has no Parquet/Arrow support (cargo feature `parquet`)";

impl ExportWorker<'_> {
    /// The rows of a chunk's kept records, and the number of keys read.
    fn rows(&mut self, chunk: &Chunk<'_>) -> Result<(Rows, u64), SinkError> {
        // A row is large: growing the vector by doubling copied every row
        // a few times (a chunk's key count is known, and bounded by its size).
        let mut rows = Rows {
            rows: Vec::with_capacity(chunk.keys.min(chunk.end - chunk.start) as usize),
            keys: Vec::new(),
        };
        let mut keys_read = 0;
        let mut parser = chunk.parser()?;
        while let Some(item) = parser.next_item()? {
            let Item::Key(rec) = item else { continue };
            match chunk.admit(&rec, &mut self.key_buf)? {
                Admit::Damaged => continue,
                Admit::Filtered => {
                    keys_read += 1;
                    continue;
                }
                Admit::Keep => keys_read += 1,
            }
            if let Err(e) = self
                .maker
                .push(&mut rows, self.model, &rec, self.opts.values)
            {
                chunk.value_error(&rec, e)?;
            }
        }
        Ok((rows, keys_read))
    }
}

/// Exports one file's keys into `sink`, `file` naming it in the `file`
/// column. Rows arrive in file order.
pub fn export_file(
    data: &[u8],
    file: &str,
    opts: &ExportOptions,
    engine: &EngineOptions,
    sink: &mut dyn TableSink,
    progress: Option<Progress<'_>>,
) -> Result<FileSummary, SinkError> {
    if opts.values && opts.format == Format::Csv {
        return Err(SinkError::Abort(
            "--values needs --format parquet or arrow (CSV holds the key table only)".into(),
        ));
    }
    let model = Model::new(opts.model);
    #[cfg(feature = "parquet")]
    let schema = arrow::schema(opts.values);
    let mut sum = FileSummary::default();
    scan::run(
        data,
        engine,
        || ExportWorker {
            model: &model,
            opts,
            file,
            #[cfg(feature = "parquet")]
            schema: &schema,
            maker: RowMaker::default(),
            key_buf: Vec::new(),
        },
        |out: Out, _| {
            sum.rows += out.rows;
            sum.keys_read += out.keys_read;
            sink.write(out.piece)
        },
        progress,
    )
    .map_err(SinkError::from)?;
    Ok(sum)
}
