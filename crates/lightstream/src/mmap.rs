//! Memory-mapped Arrow IPC files and streams (feature `mmap`).
//!
//! [`MmapFile::open`] maps an IPC file read-only and checks its magics,
//! footer and every block against the file size before any batch is read;
//! [`MmapFile::read_batch`] then decodes any batch on demand. The tables
//! borrow the mapping: a buffer that starts on a 64-byte boundary in the file
//! (every buffer Lightstream writes) is used in place, and the mapping stays
//! alive, reference counted, as long as any table or column points into it.
//! A buffer that is only 8-byte aligned (pyarrow pads to 8) is copied once,
//! when its batch is read, at memcpy speed: minarrow borrows only 64-byte
//! aligned memory.
//!
//! [`MmapStream::open`] maps an IPC stream file and yields its tables in
//! order, with the same borrowing.
//!
//! Bytes are never read past the end of the mapping: every offset and length
//! from the file is checked against its size by the core. What a map cannot
//! protect against is another process truncating or rewriting the file while
//! it is mapped: reading a page past the new end raises SIGBUS, and changed
//! bytes change the tables. Map only files that are not modified while open.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lightstream_core::framing::Decoded;
use lightstream_core::minarrow::Table;
use lightstream_core::{
    FieldInfo, IpcFileReader, IpcStreamDecoder, ReadOptions, Schema, SharedBuffer, StreamItem,
};
use memmap2::Mmap;

use crate::error::{Error, Result};

/// A codec error with what was being read in front of its message (its kind
/// is kept; its location stays in the message).
fn in_file(e: lightstream_core::Error, what: String) -> Error {
    Error::Codec(lightstream_core::Error::new(
        e.kind(),
        format!("{what}: {e}"),
    ))
}

/// Maps `path` read-only into a shared buffer that owns the mapping.
fn map(path: &Path) -> Result<SharedBuffer> {
    let what = || format!("memory-mapping {}", path.display());
    let file = File::open(path).map_err(|e| Error::io(what(), e))?;
    let meta = file.metadata().map_err(|e| Error::io(what(), e))?;
    if !meta.is_file() {
        return Err(Error::Config(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    if meta.len() == 0 {
        // An empty map is not allowed on every platform; nothing to decode.
        return Ok(SharedBuffer::from_vec(Vec::new()));
    }
    // SAFETY: the mapping is read-only and private to this process. The
    // documented condition of use (see the module docs) is that the file is
    // not truncated or modified while mapped; the core never reads outside
    // the mapping's length.
    let mmap = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(what(), e))?;
    Ok(SharedBuffer::from_owner(mmap))
}

/// An Arrow IPC file, memory-mapped, with random access to its batches.
pub struct MmapFile {
    path: PathBuf,
    bytes: SharedBuffer,
    reader: IpcFileReader,
}

impl MmapFile {
    /// Maps and validates the IPC file at `path` (magics, footer, every
    /// block against the file size, schema and dictionaries). `options`
    /// carries the limits and an optional projection of columns.
    pub fn open(path: impl AsRef<Path>, options: ReadOptions) -> Result<MmapFile> {
        let path = path.as_ref().to_path_buf();
        let bytes = map(&path)?;
        let reader = IpcFileReader::new(bytes.clone(), options)
            .map_err(|e| in_file(e, format!("reading the IPC file {}", path.display())))?;
        Ok(MmapFile {
            path,
            bytes,
            reader,
        })
    }

    /// The (projected) schema.
    pub fn schema(&self) -> &Arc<Schema> {
        self.reader.schema()
    }

    /// Every field of the file as Arrow describes it, supported or not.
    pub fn fields(&self) -> &[FieldInfo] {
        self.reader.fields()
    }

    /// Number of record batches.
    pub fn num_batches(&self) -> usize {
        self.reader.num_batches()
    }

    /// Size of the mapped file in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True for an empty file (which `open` refuses, so never in practice).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The mapped bytes (shared; cloning does not copy).
    pub fn bytes(&self) -> &SharedBuffer {
        &self.bytes
    }

    /// Decodes batch `i` (an error names the batch and the file when `i` is
    /// out of range or the batch is malformed).
    pub fn read_batch(&self, i: usize) -> Result<Table> {
        self.reader.read_batch(i).map_err(|e| {
            let what = format!(
                "batch {i} of {} ({} batches)",
                self.path.display(),
                self.num_batches()
            );
            in_file(e, what)
        })
    }

    /// Every batch in order.
    pub fn batches(&self) -> impl Iterator<Item = Result<Table>> + '_ {
        (0..self.num_batches()).map(|i| self.read_batch(i))
    }
}

/// An Arrow IPC stream file, memory-mapped, read from start to end.
pub struct MmapStream {
    path: PathBuf,
    schema: Arc<Schema>,
    bytes: SharedBuffer,
    at: usize,
    decoder: IpcStreamDecoder,
    done: bool,
}

impl MmapStream {
    /// Maps the IPC stream file at `path` and reads up to its schema.
    pub fn open(path: impl AsRef<Path>, options: ReadOptions) -> Result<MmapStream> {
        let path = path.as_ref().to_path_buf();
        let bytes = map(&path)?;
        let mut stream = MmapStream {
            path,
            schema: Arc::new(Schema::new(Vec::new(), Default::default())),
            bytes,
            at: 0,
            decoder: IpcStreamDecoder::new(options),
            done: false,
        };
        match stream.step()? {
            Some(StreamItem::Schema(schema)) => {
                stream.schema = schema;
                Ok(stream)
            }
            _ => Err(stream.error(lightstream_core::Error::new(
                lightstream_core::ErrorKind::Truncated,
                "the stream ended before its schema message",
            ))),
        }
    }

    /// The (projected) schema.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    fn error(&self, e: lightstream_core::Error) -> Error {
        in_file(e, format!("reading the IPC stream {}", self.path.display()))
    }

    /// The next item of the stream; `None` at the end of the bytes.
    fn step(&mut self) -> Result<Option<StreamItem>> {
        while self.at < self.bytes.len() {
            let rest = self.bytes.slice(self.at..);
            match self.decoder.push_shared(&rest).map_err(|e| self.error(e))? {
                Decoded::Frame { frame, consumed } => {
                    self.at += consumed;
                    return Ok(Some(frame));
                }
                Decoded::NeedMore => self.at = self.bytes.len(),
            }
        }
        self.decoder.finish().map_err(|e| self.error(e))?;
        Ok(None)
    }
}

impl Iterator for MmapStream {
    type Item = Result<Table>;

    fn next(&mut self) -> Option<Result<Table>> {
        while !self.done {
            match self.step() {
                Ok(Some(StreamItem::Table(t))) => return Some(Ok(t)),
                Ok(Some(StreamItem::Schema(_))) => {}
                Ok(Some(StreamItem::End)) | Ok(None) => self.done = true,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}
