//! Table files: Parquet, Arrow IPC or CSV, each written under a temporary
//! name and renamed into place by `finish` (see [`AtomicFile`]).

use std::io::Write;
use std::path::Path;

use crate::outpath::AtomicFile;
use crate::sink::SinkError;

use super::{ExportOptions, Format, Piece, TableSink};

/// Opens a table file at `path` for `opts.format`.
pub fn create(path: &Path, opts: &ExportOptions) -> Result<Box<dyn TableSink>, SinkError> {
    let file = AtomicFile::create(path)
        .map_err(|e| SinkError::Abort(format!("{}: {e}", path.display())))?;
    match opts.format {
        Format::Csv => {
            let mut file = file;
            file.write_all(super::csv::HEADER.as_bytes())?;
            Ok(Box::new(CsvSink { file }))
        }
        #[cfg(feature = "parquet")]
        Format::Parquet => Ok(Box::new(arrow_files::ParquetSink::new(file, opts)?)),
        #[cfg(feature = "parquet")]
        Format::Arrow => Ok(Box::new(arrow_files::IpcSink::new(file, opts)?)),
        #[cfg(not(feature = "parquet"))]
        _ => Err(SinkError::Abort(super::NO_PARQUET.into())),
    }
}

struct CsvSink {
    file: AtomicFile,
}

impl TableSink for CsvSink {
    fn write(&mut self, piece: Piece) -> Result<(), SinkError> {
        match piece {
            Piece::Csv(b) => Ok(self.file.write_all(&b)?),
            #[cfg(feature = "parquet")]
            Piece::Batch(_) => Err(SinkError::Abort("internal: a batch for CSV".into())),
        }
    }

    fn finish(self: Box<Self>) -> Result<(), SinkError> {
        Ok(self.file.commit()?)
    }
}

#[cfg(feature = "parquet")]
mod arrow_files {
    use arrow_array::RecordBatch;
    use arrow_ipc::writer::{FileWriter, IpcWriteOptions};
    use arrow_ipc::CompressionType;

    use super::*;
    use crate::export::arrow::schema;
    pub use crate::export::parquet_file::ParquetSink;

    fn abort(what: &str, e: impl std::fmt::Display) -> SinkError {
        SinkError::Abort(format!("{what}: {e}"))
    }

    fn batch(piece: Piece) -> Result<RecordBatch, SinkError> {
        match piece {
            Piece::Batch(b) => Ok(b),
            Piece::Csv(_) => Err(SinkError::Abort("internal: CSV for a table".into())),
        }
    }

    impl TableSink for ParquetSink {
        fn write(&mut self, piece: Piece) -> Result<(), SinkError> {
            ParquetSink::write(self, &batch(piece)?)
        }

        fn finish(self: Box<Self>) -> Result<(), SinkError> {
            Ok(ParquetSink::finish(*self)?.commit()?)
        }
    }

    pub struct IpcSink {
        w: FileWriter<AtomicFile>,
        pending: Vec<RecordBatch>,
        pending_rows: usize,
        batch_rows: usize,
    }

    impl IpcSink {
        pub fn new(file: AtomicFile, opts: &ExportOptions) -> Result<Self, SinkError> {
            let c = opts.zstd_level.map(|_| CompressionType::ZSTD);
            let o = IpcWriteOptions::default()
                .try_with_compression(c)
                .map_err(|e| abort("Arrow options", e))?;
            let w = FileWriter::try_new_with_options(file, &schema(opts.values), o)
                .map_err(|e| abort("starting the Arrow file", e))?;
            Ok(IpcSink {
                w,
                pending: Vec::new(),
                pending_rows: 0,
                batch_rows: opts.batch_rows.max(1),
            })
        }

        /// Writes the pending chunks' rows as one record batch.
        fn flush(&mut self) -> Result<(), SinkError> {
            if self.pending.is_empty() {
                return Ok(());
            }
            let schema = self.pending[0].schema();
            let b = arrow_select_concat(&schema, &self.pending)?;
            self.pending.clear();
            self.pending_rows = 0;
            self.w.write(&b).map_err(|e| abort("writing Arrow", e))
        }
    }

    fn arrow_select_concat(
        schema: &arrow_schema::SchemaRef,
        batches: &[RecordBatch],
    ) -> Result<RecordBatch, SinkError> {
        if batches.len() == 1 {
            return Ok(batches[0].clone());
        }
        arrow_select::concat::concat_batches(schema, batches).map_err(|e| abort("Arrow", e))
    }

    impl TableSink for IpcSink {
        fn write(&mut self, piece: Piece) -> Result<(), SinkError> {
            let b = batch(piece)?;
            self.pending_rows += b.num_rows();
            self.pending.push(b);
            if self.pending_rows >= self.batch_rows {
                self.flush()?;
            }
            Ok(())
        }

        fn finish(mut self: Box<Self>) -> Result<(), SinkError> {
            self.flush()?;
            self.w
                .finish()
                .map_err(|e| abort("finishing the Arrow file", e))?;
            let file = self
                .w
                .into_inner()
                .map_err(|e| abort("finishing the Arrow file", e))?;
            Ok(file.commit()?)
        }
    }
}
