//! The Parquet table file, its columns encoded by several threads.
//!
//! Encoding and zstd-compressing the columns is half of an export's work,
//! and the sink runs on the one thread that receives the engine's batches in
//! file order: with `ArrowWriter` that thread was the export's bottleneck.
//! So the sink keeps one parquet `ArrowColumnWriter` per leaf column of the
//! current row group and hands each batch's leaves to a few scoped threads
//! (a column writer is independent of the others: parquet's own
//! parallel-encoding interface); when the row group is full, the column
//! chunks are closed the same way and appended in schema order. Rows stay
//! in file order, and the file is what `ArrowWriter` would write (the Arrow
//! schema in the footer, the same properties).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory,
};
use parquet::arrow::{add_encoded_arrow_schema_to_metadata, ArrowSchemaConverter};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;

use super::arrow::schema;
use super::ExportOptions;
use crate::outpath::AtomicFile;
use crate::sink::SinkError;

/// Columns written without a dictionary: keys, offsets and sizes are
/// (nearly) unique, so a dictionary would only be built and thrown away.
const UNIQUE_COLUMNS: [&str; 9] = [
    "key",
    "offset",
    "memory",
    "serialized_bytes",
    "num_elements",
    "len_largest_element",
    "expire_ms",
    "idle",
    "value_bytes",
];

/// Integer columns written DELTA_BINARY_PACKED instead of PLAIN: their
/// values are small (sizes, counts) or ascending (offsets), so a few bits a
/// value are left for zstd instead of eight bytes. Compressing the plain
/// columns was the largest part of the export's zstd time; the file is as
/// small (a read back is identical, DuckDB, pyarrow and Spark read the
/// encoding).
const DELTA_COLUMNS: [&str; 7] = [
    "offset",
    "memory",
    "serialized_bytes",
    "num_elements",
    "len_largest_element",
    "expire_ms",
    "idle",
];

/// Buffered column bytes at which a row group is cut early (big values).
const ROW_GROUP_BYTES: usize = 64 << 20;

/// Encoding threads at most (the engine's workers need the rest).
const MAX_THREADS: usize = 4;

fn abort(what: &str, e: impl std::fmt::Display) -> SinkError {
    SinkError::Abort(format!("{what}: {e}"))
}

/// The writer properties of `opts`. Statistics per column chunk, not per
/// page: page statistics cost time and the key table's pages are small.
/// None for the key column: its min/max took a byte comparison or two per
/// key and prune nothing (keys are in hash-slot order, not sorted).
fn properties(opts: &ExportOptions) -> Result<WriterProperties, SinkError> {
    let compression = match opts.zstd_level {
        Some(l) => Compression::ZSTD(ZstdLevel::try_new(l).map_err(|e| abort("zstd", e))?),
        None => Compression::UNCOMPRESSED,
    };
    let mut props = WriterProperties::builder()
        .set_compression(compression)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_max_row_group_size(opts.batch_rows.max(1));
    for col in UNIQUE_COLUMNS {
        props = props.set_column_dictionary_enabled(ColumnPath::from(col), false);
    }
    for col in DELTA_COLUMNS {
        props = props.set_column_encoding(ColumnPath::from(col), Encoding::DELTA_BINARY_PACKED);
    }
    props = props.set_column_statistics_enabled(ColumnPath::from("key"), EnabledStatistics::None);
    Ok(props.build())
}

/// A Parquet file being written; see the module docs.
pub struct ParquetSink {
    file: SerializedFileWriter<AtomicFile>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// The current row group's column writers, one per leaf column.
    writers: Vec<ArrowColumnWriter>,
    group_rows: usize,
    batch_rows: usize,
    threads: usize,
}

impl ParquetSink {
    pub fn new(file: AtomicFile, opts: &ExportOptions) -> Result<Self, SinkError> {
        let schema = schema(opts.values);
        let mut props = properties(opts)?;
        // As `ArrowWriter` does: readers get back the exact Arrow types
        // (large lists and binaries, not their Parquet defaults).
        add_encoded_arrow_schema_to_metadata(&schema, &mut props);
        let start = |e: ParquetError| abort("starting the Parquet file", e);
        let descr = ArrowSchemaConverter::new()
            .with_coerce_types(props.coerce_types())
            .convert(&schema)
            .map_err(start)?;
        let file = SerializedFileWriter::new(file, descr.root_schema_ptr(), Arc::new(props))
            .map_err(start)?;
        let factory = ArrowRowGroupWriterFactory::new(&file, schema.clone());
        let writers = factory.create_column_writers(0).map_err(start)?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(ParquetSink {
            file,
            factory,
            schema,
            writers,
            group_rows: 0,
            batch_rows: opts.batch_rows.max(1),
            threads: cores.clamp(1, MAX_THREADS),
        })
    }

    /// Writes `b`, cutting row groups at `batch_rows` rows (and at
    /// [`ROW_GROUP_BYTES`] of buffered data).
    pub fn write(&mut self, b: &RecordBatch) -> Result<(), SinkError> {
        let mut at = 0;
        while at < b.num_rows() {
            let n = (b.num_rows() - at).min(self.batch_rows - self.group_rows);
            self.encode(&b.slice(at, n))?;
            at += n;
            let buffered: usize = self.writers.iter().map(|w| w.memory_size()).sum();
            if self.group_rows >= self.batch_rows || buffered >= ROW_GROUP_BYTES {
                self.end_group()?;
            }
        }
        Ok(())
    }

    /// Encodes a slice that fits the current row group.
    fn encode(&mut self, b: &RecordBatch) -> Result<(), SinkError> {
        let mut leaves = Vec::with_capacity(self.writers.len());
        for (field, col) in self.schema.fields().iter().zip(b.columns()) {
            leaves.extend(compute_leaves(field, col).map_err(|e| abort("Parquet", e))?);
        }
        let jobs: Vec<_> = self.writers.iter_mut().zip(&leaves).collect();
        in_parallel(jobs, self.threads, |(w, leaf)| w.write(leaf))
            .map_err(|e| abort("writing Parquet", e))?;
        self.group_rows += b.num_rows();
        Ok(())
    }

    /// Closes the current row group's columns and appends them to the file.
    fn end_group(&mut self) -> Result<(), SinkError> {
        if self.group_rows == 0 {
            return Ok(());
        }
        let fail = |e: ParquetError| abort("writing Parquet", e);
        let index = self.file.flushed_row_groups().len();
        let next = self
            .factory
            .create_column_writers(index + 1)
            .map_err(fail)?;
        let writers = std::mem::replace(&mut self.writers, next);
        // Closing compresses each column's last page: in parallel too.
        let chunks: Vec<ArrowColumnChunk> =
            in_parallel(writers, self.threads, |w| w.close()).map_err(fail)?;
        let mut rg = self.file.next_row_group().map_err(fail)?;
        for c in chunks {
            c.append_to_row_group(&mut rg).map_err(fail)?;
        }
        rg.close().map_err(fail)?;
        self.group_rows = 0;
        Ok(())
    }

    /// Writes the last row group and the footer; the file, to commit.
    pub fn finish(mut self) -> Result<AtomicFile, SinkError> {
        self.end_group()?;
        self.file
            .into_inner()
            .map_err(|e| abort("finishing the Parquet file", e))
    }
}

/// `f` over `items` on up to `threads` threads (this one included), taking
/// items in order as threads come free; the results in `items`' order, or
/// the first error by position.
fn in_parallel<T: Send, R: Send, E: Send>(
    items: Vec<T>,
    threads: usize,
    f: impl Fn(T) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E> {
    let n = items.len();
    if threads <= 1 || n <= 1 {
        return items.into_iter().map(f).collect();
    }
    let slots: Vec<Slot<T, R, E>> = items
        .into_iter()
        .map(|t| Mutex::new((Some(t), None)))
        .collect();
    let next = AtomicUsize::new(0);
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(slot) = slots.get(i) else { break };
        let item = lock(slot).0.take();
        if let Some(item) = item {
            let r = f(item);
            lock(slot).1 = Some(r);
        }
    };
    std::thread::scope(|s| {
        for _ in 1..threads.min(n) {
            s.spawn(work);
        }
        work();
    });
    slots
        .into_iter()
        .map(|m| {
            let (_, r) = m.into_inner().unwrap_or_else(|p| p.into_inner());
            r.expect("every slot is taken by one thread")
        })
        .collect()
}

/// An item waiting for a thread, and then its result.
type Slot<T, R, E> = Mutex<(Option<T>, Option<Result<R, E>>)>;

/// The guard of a slot; a panic elsewhere cannot leave a slot half-written.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
