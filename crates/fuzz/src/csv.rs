//! The CSV targets' reading of their option bytes (`csv`, `csv_pieces`), so
//! that both targets, and the seeds written for them, mean the same options
//! by the same bytes. Not a decoder of anything.

use std::sync::Arc;

use lightstream_core::Schema;
use lightstream_core::csv::{BadRowPolicy, CsvReadOptions, StringNulls};
use lightstream_core::minarrow::{ArrowType, Field, TimeUnit};

/// Column types a given schema is drawn from.
fn column_type(b: u8) -> ArrowType {
    use lightstream_core::minarrow::ffi::arrow_dtype::CategoricalIndexType as C;
    match b % 16 {
        0 => ArrowType::Int64,
        1 => ArrowType::Float64,
        2 => ArrowType::Boolean,
        3 => ArrowType::String,
        4 => ArrowType::Date32,
        5 => ArrowType::Timestamp(TimeUnit::Microseconds, None),
        6 => ArrowType::Timestamp(TimeUnit::Nanoseconds, Some("UTC".into())),
        7 => ArrowType::Time32(TimeUnit::Milliseconds),
        8 => ArrowType::Time64(TimeUnit::Nanoseconds),
        9 => ArrowType::UInt8,
        10 => ArrowType::Int16,
        11 => ArrowType::Float32,
        12 => ArrowType::Decimal128(10, 3),
        13 => ArrowType::Dictionary(C::UInt32),
        14 => ArrowType::LargeString,
        _ => ArrowType::Date64,
    }
}

/// Read options from two bytes: `a` the bad-row policy (`a % 3`), no
/// header (4), the delimiter (bits 3-4: `,;\t|`), strings can be null (32),
/// small batches (64), inference from 2 rows (128); `b` string nulls
/// ignoring quotes (0x40), a given schema (0x80) of `(b & 3) + 1` columns
/// named a, b, c, d whose types are the first bytes of `payload`.
pub fn read_options(a: u8, b: u8, payload: &[u8]) -> CsvReadOptions {
    let mut options = CsvReadOptions {
        bad_rows: match a % 3 {
            0 => BadRowPolicy::Error,
            1 => BadRowPolicy::Null,
            _ => BadRowPolicy::Skip,
        },
        has_header: a & 4 == 0,
        delimiter: b",;\t|"[usize::from(a >> 3) & 3],
        strings_can_be_null: a & 32 != 0,
        string_nulls: if b & 0x40 != 0 {
            StringNulls::QuotingIgnored
        } else {
            StringNulls::Unquoted
        },
        batch_size: if a & 64 != 0 { 3 } else { 65_536 },
        infer_rows: if a & 128 != 0 { 2 } else { 10_000 },
        ..CsvReadOptions::default()
    };
    if b & 0x80 != 0 {
        let n = usize::from(b & 3) + 1;
        let types = payload.iter().copied().chain(std::iter::repeat(0)).take(n);
        let fields = types
            .enumerate()
            .map(|(i, t)| {
                Arc::new(Field::new(
                    ["a", "b", "c", "d"][i],
                    column_type(t),
                    true,
                    None,
                ))
            })
            .collect();
        options.schema = Some(Schema::new(fields, Default::default()));
    }
    options
}
