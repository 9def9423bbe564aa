//! Helpers shared by the fuzz targets in `fuzz_targets/`.
//!
//! - [`Chunks`]: splits a fuzz input into a chunking plan (taken from its first
//!   bytes) and the payload, so one input exercises one particular chunking.
//! - [`Copying`]: the browser's byte input (`lightstream-wasm`'s `ChunkInput`),
//!   which copies out at most what the driver asks for per read.
//! - [`check_table`]: reads every value of every column of a decoded table and
//!   panics if a column is malformed (lengths, null masks, offsets, UTF-8,
//!   dictionary keys). A decoder must refuse such input with an error; handing
//!   back a table that breaks on first use is a bug the fuzzer should report.
//! - [`csv`]: the CSV targets' option bytes.

#[cfg(feature = "native")]
pub mod csv;

use std::convert::Infallible;
use std::task::{Context, Poll};

use lightstream_core::bytes::BufMut;
use lightstream_core::minarrow::{
    Array, Bitmask, FieldArray, Integer, NumericArray, Table, TemporalArray, TextArray,
};
use lightstream_core::{ByteInput, ReadTarget};

/// The browser's input: copies at most `step` bytes (and at most what the
/// driver wants) per read, as `lightstream-wasm`'s `ChunkInput` copies out of
/// a JavaScript array.
pub struct Copying<'a> {
    pub bytes: &'a [u8],
    pub step: usize,
}

impl ByteInput for Copying<'_> {
    type Error = Infallible;

    fn poll_read(
        &mut self,
        _cx: &mut Context<'_>,
        target: &mut ReadTarget<'_>,
    ) -> Poll<Result<(), Infallible>> {
        let n = self
            .bytes
            .len()
            .min(self.step)
            .min(target.wanted().max(1))
            .min(target.remaining_mut());
        assert!(n > 0 || self.bytes.is_empty(), "a read target with no room");
        target.put_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Poll::Ready(Ok(()))
    }
}

/// A chunking plan read from the first bytes of a fuzz input.
pub struct Chunks {
    sizes: Vec<usize>,
    next: usize,
}

impl Chunks {
    /// Takes the plan from `data`: the first byte says how many size bytes
    /// follow (0..=7); each size byte is a chunk length (0 means 1, and a
    /// value of 255 means "everything left"). Returns the plan and the payload.
    pub fn split(data: &[u8]) -> (Chunks, &[u8]) {
        let Some((&head, rest)) = data.split_first() else {
            return (Chunks::whole(), data);
        };
        let n = usize::from(head & 7).min(rest.len());
        let (plan, payload) = rest.split_at(n);
        let sizes = if plan.is_empty() {
            vec![usize::MAX]
        } else {
            plan.iter()
                .map(|&b| match b {
                    255 => usize::MAX,
                    0 => 1,
                    // Mostly small chunks, now and then a large one.
                    b if b >= 200 => usize::from(b - 199) * 4096,
                    b => usize::from(b),
                })
                .collect()
        };
        (Chunks { sizes, next: 0 }, payload)
    }

    /// One chunk: the whole payload.
    pub fn whole() -> Chunks {
        Chunks {
            sizes: vec![usize::MAX],
            next: 0,
        }
    }

    /// The length of the next chunk, cycling through the plan.
    pub fn next_len(&mut self) -> usize {
        let n = self.sizes[self.next % self.sizes.len()];
        self.next += 1;
        n
    }

    /// Cuts `payload` into slices following the plan.
    pub fn pieces<'a>(&mut self, mut payload: &'a [u8]) -> Vec<&'a [u8]> {
        let mut out = Vec::new();
        while !payload.is_empty() {
            let n = self.next_len().min(payload.len());
            let (a, b) = payload.split_at(n);
            out.push(a);
            payload = b;
        }
        out
    }
}

fn check_mask(mask: &Option<Bitmask>, n: usize, what: &str) {
    if let Some(m) = mask {
        assert_eq!(
            m.len(),
            n,
            "{what}: null mask has {} bits for {n} rows",
            m.len()
        );
        assert!(
            m.bits.len() * 8 >= n,
            "{what}: null mask buffer has {} bytes for {n} rows",
            m.bits.len()
        );
    }
}

fn is_valid(mask: &Option<Bitmask>, i: usize) -> bool {
    mask.as_ref().is_none_or(|m| m.get(i))
}

/// Sums the values so that the reads cannot be optimised away.
fn fold<T: Copy>(data: &[T], n: usize, what: &str, f: impl Fn(T) -> u64) -> u64 {
    assert_eq!(data.len(), n, "{what}: {} values for {n} rows", data.len());
    data.iter().fold(0u64, |acc, &v| acc.wrapping_add(f(v)))
}

fn strings<O: Integer>(
    offsets: &[O],
    data: &[u8],
    mask: &Option<Bitmask>,
    n: usize,
    what: &str,
) -> u64 {
    check_mask(mask, n, what);
    if n == 0 && offsets.is_empty() {
        return 0;
    }
    assert_eq!(
        offsets.len(),
        n + 1,
        "{what}: {} offsets for {n} strings",
        offsets.len()
    );
    let mut acc = 0u64;
    for i in 0..n {
        let start = Integer::to_usize(offsets[i]);
        let end = Integer::to_usize(offsets[i + 1]);
        assert!(start <= end, "{what}: offsets decrease at string {i}");
        assert!(
            end <= data.len(),
            "{what}: string {i} ends at {end} past a {}-byte buffer",
            data.len()
        );
        if is_valid(mask, i) {
            let s = std::str::from_utf8(&data[start..end])
                .unwrap_or_else(|e| panic!("{what}: string {i} is not UTF-8: {e}"));
            acc = acc.wrapping_add(s.len() as u64);
        }
    }
    acc
}

fn categorical<K: Integer>(keys: &[K], values: &[String], mask: &Option<Bitmask>, n: usize) -> u64 {
    check_mask(mask, n, "categorical");
    assert_eq!(
        keys.len(),
        n,
        "categorical: {} keys for {n} rows",
        keys.len()
    );
    let mut acc = 0u64;
    for (i, k) in keys.iter().enumerate() {
        if is_valid(mask, i) {
            let k = Integer::to_usize(*k);
            let v = values.get(k).unwrap_or_else(|| {
                panic!(
                    "categorical: row {i} has key {k} outside a dictionary of {} values",
                    values.len()
                )
            });
            acc = acc.wrapping_add(v.len() as u64);
        }
    }
    acc
}

/// Reads every value of `col` (a column of `n` rows), panicking on anything malformed.
pub fn check_column(col: &FieldArray, n: usize) -> u64 {
    macro_rules! num {
        ($a:expr, $f:expr) => {{
            check_mask(&$a.null_mask, n, "numeric");
            fold(&$a.data, n, "numeric", $f)
        }};
    }
    match &col.array {
        Array::Null => 0,
        Array::BooleanArray(a) => {
            check_mask(&a.null_mask, n, "boolean");
            assert_eq!(
                a.data.len(),
                n,
                "boolean: {} bits for {n} rows",
                a.data.len()
            );
            assert!(a.data.bits.len() * 8 >= n, "boolean: short value buffer");
            (0..n).filter(|&i| a.data.get(i)).count() as u64
        }
        Array::NumericArray(v) => match v {
            NumericArray::Int8(a) => num!(a, |x| x as u64),
            NumericArray::Int16(a) => num!(a, |x| x as u64),
            NumericArray::Int32(a) => num!(a, |x| x as u64),
            NumericArray::Int64(a) => num!(a, |x| x as u64),
            NumericArray::UInt8(a) => num!(a, |x| x as u64),
            NumericArray::UInt16(a) => num!(a, |x| x as u64),
            NumericArray::UInt32(a) => num!(a, |x| x as u64),
            NumericArray::UInt64(a) => num!(a, |x| x),
            NumericArray::Float32(a) => num!(a, |x| x.to_bits() as u64),
            NumericArray::Float64(a) => num!(a, |x| x.to_bits()),
            NumericArray::Decimal32(a) => num!(a, |x| x as u64),
            NumericArray::Decimal64(a) => num!(a, |x| x as u64),
            NumericArray::Decimal128(a) => num!(a, |x| x as u64),
            NumericArray::Null => 0,
        },
        Array::TextArray(t) => match t {
            TextArray::String32(a) => strings(&a.offsets, &a.data, &a.null_mask, n, "utf8"),
            TextArray::String64(a) => strings(&a.offsets, &a.data, &a.null_mask, n, "large utf8"),
            TextArray::Categorical8(a) => {
                categorical(a.indices(), a.unique_values(), &a.null_mask, n)
            }
            TextArray::Categorical16(a) => {
                categorical(a.indices(), a.unique_values(), &a.null_mask, n)
            }
            TextArray::Categorical32(a) => {
                categorical(a.indices(), a.unique_values(), &a.null_mask, n)
            }
            TextArray::Categorical64(a) => {
                categorical(a.indices(), a.unique_values(), &a.null_mask, n)
            }
            TextArray::Null => 0,
        },
        Array::TemporalArray(t) => match t {
            TemporalArray::Datetime32(a) => num!(a, |x| x as u64),
            TemporalArray::Datetime64(a) => num!(a, |x| x as u64),
            TemporalArray::Null => 0,
        },
    }
}

/// Reads every value of every column of `table`, panicking on anything malformed.
pub fn check_table(table: &Table) -> u64 {
    let mut acc = 0u64;
    for col in &table.cols {
        acc = acc.wrapping_add(check_column(col, table.n_rows));
    }
    std::hint::black_box(acc)
}
