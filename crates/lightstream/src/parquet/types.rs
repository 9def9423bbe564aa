//! The type mapping between minarrow fields and Parquet columns, both ways,
//! and the `ARROW:schema` footer key.
//!
//! Writing: [`parquet_type`] turns a minarrow field (and its dictionary
//! encoding) into a Parquet primitive column. Reading: [`ColumnPlan`] says, for
//! one Parquet leaf column, which minarrow type it becomes and how stored
//! values convert, taken from `ARROW:schema` when that is present and
//! consistent, otherwise from the Parquet physical and logical types.
//!
//! Not here: the values themselves (reader.rs / writer.rs decode and encode
//! them), and nested types, which are refused.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use lightstream_core::display::arrow_type_name;
use lightstream_core::minarrow::{ArrowType, Field, TimeUnit};
use lightstream_core::{
    DictionaryEncoding, IpcStreamDecoder, IpcStreamEncoder, Projection, ReadOptions, Schema,
    WriteOptions,
};
use parquet::basic::{
    ConvertedType, LogicalType, Repetition, TimeUnit as PqTimeUnit, Type as PhysicalType,
};
use parquet::schema::types::{ColumnDescriptor, Type, TypePtr};

use crate::error::{Error, Result};

/// The footer key under which Arrow writers keep the Arrow schema.
pub const ARROW_SCHEMA_KEY: &str = "ARROW:schema";

pub(crate) fn parquet_error(msg: impl Into<String>) -> Error {
    Error::Parquet(msg.into())
}

// ------------------------------------------------------------------ writing

/// The smallest FIXED_LEN_BYTE_ARRAY width that holds every decimal of `precision` digits.
pub(crate) fn decimal_bytes(precision: u8) -> usize {
    let top = 10f64.powi(i32::from(precision)) - 1.0;
    (1..=16)
        .find(|&n| top < 2f64.powi(8 * n as i32 - 1))
        .unwrap_or(16)
}

/// The Parquet column for a minarrow field.
pub(crate) fn parquet_type(field: &Field) -> Result<TypePtr> {
    use PhysicalType as P;
    let name = field.name.as_str();
    let refuse = |why: &str| {
        parquet_error(format!(
            "column \"{name}\" of type {}: {why}",
            arrow_type_name(&field.dtype, None)
        ))
    };
    let (physical, logical, length, precision_scale) = match &field.dtype {
        ArrowType::Null => (P::INT32, Some(LogicalType::Unknown), None, None),
        ArrowType::Boolean => (P::BOOLEAN, None, None, None),
        ArrowType::Int8 => (P::INT32, Some(LogicalType::integer(8, true)), None, None),
        ArrowType::Int16 => (P::INT32, Some(LogicalType::integer(16, true)), None, None),
        ArrowType::Int32 => (P::INT32, Some(LogicalType::integer(32, true)), None, None),
        ArrowType::Int64 => (P::INT64, Some(LogicalType::integer(64, true)), None, None),
        ArrowType::UInt8 => (P::INT32, Some(LogicalType::integer(8, false)), None, None),
        ArrowType::UInt16 => (P::INT32, Some(LogicalType::integer(16, false)), None, None),
        ArrowType::UInt32 => (P::INT32, Some(LogicalType::integer(32, false)), None, None),
        ArrowType::UInt64 => (P::INT64, Some(LogicalType::integer(64, false)), None, None),
        ArrowType::Float32 => (P::FLOAT, None, None, None),
        ArrowType::Float64 => (P::DOUBLE, None, None, None),
        ArrowType::String | ArrowType::LargeString | ArrowType::Dictionary(_) => {
            (P::BYTE_ARRAY, Some(LogicalType::String), None, None)
        }
        ArrowType::Date32 | ArrowType::Date64 => (P::INT32, Some(LogicalType::Date), None, None),
        ArrowType::Time32(TimeUnit::Seconds | TimeUnit::Milliseconds) => (
            P::INT32,
            Some(LogicalType::time(false, PqTimeUnit::MILLIS)),
            None,
            None,
        ),
        ArrowType::Time64(TimeUnit::Microseconds) => (
            P::INT64,
            Some(LogicalType::time(false, PqTimeUnit::MICROS)),
            None,
            None,
        ),
        ArrowType::Time64(TimeUnit::Nanoseconds) => (
            P::INT64,
            Some(LogicalType::time(false, PqTimeUnit::NANOS)),
            None,
            None,
        ),
        ArrowType::Timestamp(u, tz) => {
            let unit = match u {
                // Parquet has no seconds: stored as milliseconds, like pyarrow.
                TimeUnit::Seconds | TimeUnit::Milliseconds => PqTimeUnit::MILLIS,
                TimeUnit::Microseconds => PqTimeUnit::MICROS,
                TimeUnit::Nanoseconds => PqTimeUnit::NANOS,
                TimeUnit::Days => return Err(refuse("a timestamp in days has no Parquet type")),
            };
            (
                P::INT64,
                Some(LogicalType::timestamp(tz.is_some(), unit)),
                None,
                None,
            )
        }
        ArrowType::Duration64(u) | ArrowType::Duration32(u) if *u != TimeUnit::Days => {
            (P::INT64, None, None, None)
        }
        ArrowType::Decimal32(p, s) | ArrowType::Decimal64(p, s) | ArrowType::Decimal128(p, s) => {
            if *s < 0 {
                return Err(refuse(
                    "Parquet decimals need a scale of 0 or more (pyarrow refuses these too)",
                ));
            }
            let ps = Some((i32::from(*p), i32::from(*s)));
            let dec = Some(LogicalType::decimal(i32::from(*s), i32::from(*p)));
            match &field.dtype {
                ArrowType::Decimal32(..) => (P::INT32, dec, None, ps),
                ArrowType::Decimal64(..) => (P::INT64, dec, None, ps),
                _ => (
                    P::FIXED_LEN_BYTE_ARRAY,
                    dec,
                    Some(decimal_bytes(*p) as i32),
                    ps,
                ),
            }
        }
        _ => return Err(refuse("minarrow type with no Parquet mapping here")),
    };
    let repetition = if field.nullable || field.dtype == ArrowType::Null {
        Repetition::OPTIONAL
    } else {
        Repetition::REQUIRED
    };
    let mut b = Type::primitive_type_builder(name, physical)
        .with_repetition(repetition)
        .with_logical_type(logical);
    if let Some(l) = length {
        b = b.with_length(l);
    }
    if let Some((p, s)) = precision_scale {
        b = b.with_precision(p).with_scale(s);
    }
    b.build().map(Arc::new).map_err(|e| refuse(&e.to_string()))
}

/// The `ARROW:schema` value of `schema`: base64 of the encapsulated IPC schema
/// message (continuation marker, length, flatbuffer padded to 8), as Arrow C++ writes it.
pub(crate) fn encode_arrow_schema(schema: &Schema) -> Result<String> {
    let options = WriteOptions {
        alignment: 8,
        ..WriteOptions::default()
    };
    let mut encoder = IpcStreamEncoder::new(Arc::new(schema.clone()), options)?;
    let message = encoder.schema_message()?.to_vec();
    Ok(base64::engine::general_purpose::STANDARD.encode(message))
}

/// What `ARROW:schema` says about the fields: per top-level field, the minarrow
/// field and dictionary encoding when minarrow can hold it.
pub(crate) struct ArrowSchemaHint {
    pub fields: Vec<Option<(Arc<Field>, Option<DictionaryEncoding>)>>,
    pub names: Vec<String>,
    pub metadata: BTreeMap<String, String>,
}

/// Decodes an `ARROW:schema` value; `None` when it is not a readable schema
/// (the caller then falls back to the Parquet types).
pub(crate) fn decode_arrow_schema(value: &str) -> Option<ArrowSchemaHint> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    // One pass: the columns minarrow holds, and every field's description.
    let mut d = IpcStreamDecoder::new(ReadOptions {
        projection: Some(Projection::Supported),
        ..ReadOptions::default()
    });
    d.push(&bytes).ok()?;
    let schema = d.schema()?.clone();
    let infos = d.fields();
    let supported: Vec<usize> = (0..infos.len()).filter(|&i| infos[i].supported).collect();
    let mut fields = vec![None; infos.len()];
    for (k, &i) in supported.iter().enumerate() {
        fields[i] = Some((schema.fields[k].clone(), schema.dictionaries[k]));
    }
    Some(ArrowSchemaHint {
        fields,
        names: infos.iter().map(|f| f.name.clone()).collect(),
        metadata: schema.metadata.clone(),
    })
}

// ------------------------------------------------------------------ reading

/// How stored values become minarrow values for one column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decode {
    /// Every row is null (Parquet `UNKNOWN` / Arrow null).
    Null,
    Bool,
    /// INT32 / INT64 values cast (bit pattern) to the target integer, decimal,
    /// date or time width.
    Int,
    Float32,
    Float64,
    /// Byte arrays as UTF-8 strings, 32- or 64-bit offsets.
    Utf8 {
        large: bool,
    },
    /// Byte arrays as categorical keys (per batch dictionary).
    Dictionary(DictionaryEncoding),
    /// DATE (days) -> Date64 milliseconds.
    DaysToMillis,
    /// Time or timestamp stored in `from`, returned in the target's unit.
    Rescale {
        from: TimeUnit,
    },
    /// INT96 (Impala timestamps) -> nanoseconds, then the target's unit.
    Int96,
    /// Big-endian two's complement bytes (FIXED_LEN_BYTE_ARRAY / BYTE_ARRAY decimals).
    DecimalBytes,
}

/// One projected column: where it is, what it becomes, how to decode it.
#[derive(Debug, Clone)]
pub(crate) struct ColumnPlan {
    /// Leaf index in the Parquet schema.
    pub leaf: usize,
    pub field: Arc<Field>,
    pub dictionary: Option<DictionaryEncoding>,
    pub decode: Decode,
    pub physical: PhysicalType,
    pub max_def: i16,
}

fn pq_unit(u: &PqTimeUnit) -> TimeUnit {
    match u {
        PqTimeUnit::MILLIS => TimeUnit::Milliseconds,
        PqTimeUnit::MICROS => TimeUnit::Microseconds,
        PqTimeUnit::NANOS => TimeUnit::Nanoseconds,
    }
}

/// The stored time unit of a TIME / TIMESTAMP column (logical or converted type).
fn stored_time_unit(col: &ColumnDescriptor) -> Option<(TimeUnit, bool)> {
    match col.logical_type_ref() {
        Some(LogicalType::Timestamp(t)) => Some((pq_unit(&t.unit), t.is_adjusted_to_u_t_c)),
        Some(LogicalType::Time(t)) => Some((pq_unit(&t.unit), t.is_adjusted_to_u_t_c)),
        _ => match col.converted_type() {
            ConvertedType::TIMESTAMP_MILLIS | ConvertedType::TIME_MILLIS => {
                Some((TimeUnit::Milliseconds, true))
            }
            ConvertedType::TIMESTAMP_MICROS | ConvertedType::TIME_MICROS => {
                Some((TimeUnit::Microseconds, true))
            }
            _ => None,
        },
    }
}

/// Describes a Parquet column for error messages: `INT64 (TIMESTAMP(MICROS, utc))`.
pub(crate) fn describe_column(col: &ColumnDescriptor) -> String {
    let mut s = format!("{}", col.physical_type());
    if col.physical_type() == PhysicalType::FIXED_LEN_BYTE_ARRAY {
        s.push_str(&format!("({})", col.type_length()));
    }
    match col.logical_type_ref() {
        Some(l) => s.push_str(&format!(" ({l:?})")),
        None if col.converted_type() != ConvertedType::NONE => {
            s.push_str(&format!(" ({})", col.converted_type()))
        }
        None => {}
    }
    s
}

/// The type a Parquet column maps to without `ARROW:schema`, or why it cannot be held.
pub(crate) fn native_type(
    col: &ColumnDescriptor,
) -> std::result::Result<(ArrowType, Decode), String> {
    use PhysicalType as P;
    let logical = col.logical_type_ref();
    let converted = col.converted_type();
    let decimal = || -> std::result::Result<(u8, i8), String> {
        let (p, s) = match logical {
            Some(LogicalType::Decimal(d)) => (d.precision, d.scale),
            _ => (col.type_precision(), col.type_scale()),
        };
        match (u8::try_from(p), i8::try_from(s)) {
            (Ok(p), Ok(s)) if (1..=38).contains(&p) && s >= 0 && i32::from(s) <= i32::from(p) => {
                Ok((p, s))
            }
            _ => Err(format!("decimal precision {p} / scale {s} out of range")),
        }
    };
    let is_decimal =
        matches!(logical, Some(LogicalType::Decimal(_))) || converted == ConvertedType::DECIMAL;
    let int_logical = match logical {
        Some(LogicalType::Integer(i)) => Some((i.bit_width, i.is_signed)),
        _ => match converted {
            ConvertedType::INT_8 => Some((8, true)),
            ConvertedType::INT_16 => Some((16, true)),
            ConvertedType::INT_32 => Some((32, true)),
            ConvertedType::INT_64 => Some((64, true)),
            ConvertedType::UINT_8 => Some((8, false)),
            ConvertedType::UINT_16 => Some((16, false)),
            ConvertedType::UINT_32 => Some((32, false)),
            ConvertedType::UINT_64 => Some((64, false)),
            _ => None,
        },
    };
    if matches!(logical, Some(LogicalType::Unknown)) {
        return Ok((ArrowType::Null, Decode::Null));
    }
    let out = match col.physical_type() {
        P::BOOLEAN => (ArrowType::Boolean, Decode::Bool),
        P::FLOAT => (ArrowType::Float32, Decode::Float32),
        P::DOUBLE => (ArrowType::Float64, Decode::Float64),
        P::INT32 if is_decimal => {
            let (p, s) = decimal()?;
            (ArrowType::Decimal128(p, s), Decode::Int)
        }
        P::INT64 if is_decimal => {
            let (p, s) = decimal()?;
            (ArrowType::Decimal128(p, s), Decode::Int)
        }
        P::FIXED_LEN_BYTE_ARRAY | P::BYTE_ARRAY if is_decimal => {
            if col.physical_type() == P::FIXED_LEN_BYTE_ARRAY
                && !(1..=16).contains(&col.type_length())
            {
                return Err(format!(
                    "decimal of {} bytes (at most 16 fit in 128 bits)",
                    col.type_length()
                ));
            }
            let (p, s) = decimal()?;
            (ArrowType::Decimal128(p, s), Decode::DecimalBytes)
        }
        P::INT32 => {
            if matches!(logical, Some(LogicalType::Date)) || converted == ConvertedType::DATE {
                (ArrowType::Date32, Decode::Int)
            } else if let Some((TimeUnit::Milliseconds, _)) = stored_time_unit(col) {
                (ArrowType::Time32(TimeUnit::Milliseconds), Decode::Int)
            } else {
                match int_logical {
                    None | Some((32, true)) => (ArrowType::Int32, Decode::Int),
                    Some((8, true)) => (ArrowType::Int8, Decode::Int),
                    Some((16, true)) => (ArrowType::Int16, Decode::Int),
                    Some((8, false)) => (ArrowType::UInt8, Decode::Int),
                    Some((16, false)) => (ArrowType::UInt16, Decode::Int),
                    Some((32, false)) => (ArrowType::UInt32, Decode::Int),
                    Some((b, s)) => {
                        return Err(format!(
                            "INT32 holding a {b}-bit {} integer",
                            if s { "signed" } else { "unsigned" }
                        ));
                    }
                }
            }
        }
        P::INT64 => {
            let is_ts = matches!(logical, Some(LogicalType::Timestamp(_)))
                || matches!(
                    converted,
                    ConvertedType::TIMESTAMP_MILLIS | ConvertedType::TIMESTAMP_MICROS
                );
            let is_time = matches!(logical, Some(LogicalType::Time(_)))
                || matches!(converted, ConvertedType::TIME_MICROS);
            if is_ts {
                let (unit, utc) = stored_time_unit(col).ok_or("timestamp without a unit")?;
                (
                    ArrowType::Timestamp(unit, utc.then(|| "UTC".to_string())),
                    Decode::Int,
                )
            } else if is_time {
                let (unit, _) = stored_time_unit(col).ok_or("time without a unit")?;
                if unit == TimeUnit::Milliseconds {
                    return Err("INT64 time in milliseconds".into());
                }
                (ArrowType::Time64(unit), Decode::Int)
            } else {
                match int_logical {
                    None | Some((64, true)) => (ArrowType::Int64, Decode::Int),
                    Some((64, false)) => (ArrowType::UInt64, Decode::Int),
                    Some((b, _)) => return Err(format!("INT64 holding a {b}-bit integer")),
                }
            }
        }
        P::INT96 => (
            ArrowType::Timestamp(TimeUnit::Nanoseconds, None),
            Decode::Int96,
        ),
        P::BYTE_ARRAY => {
            let text = matches!(
                logical,
                Some(LogicalType::String | LogicalType::Enum | LogicalType::Json)
            ) || matches!(
                converted,
                ConvertedType::UTF8 | ConvertedType::ENUM | ConvertedType::JSON
            );
            if !text {
                return Err("binary (BYTE_ARRAY without a string logical type): minarrow holds no binary arrays".into());
            }
            (ArrowType::String, Decode::Utf8 { large: false })
        }
        P::FIXED_LEN_BYTE_ARRAY => {
            return Err("fixed-size binary: minarrow holds no binary arrays".into());
        }
    };
    Ok(out)
}

/// How a column decodes into the `ARROW:schema` type `target`, or `None` when
/// the two do not fit together (the hint is then ignored for the whole file).
pub(crate) fn hinted_decode(
    col: &ColumnDescriptor,
    target: &ArrowType,
    dict: Option<&DictionaryEncoding>,
    native: &(ArrowType, Decode),
) -> Option<Decode> {
    use PhysicalType as P;
    let phys = col.physical_type();
    let (native_type, native_decode) = native;
    let stored_unit = stored_time_unit(col).map(|u| u.0);
    Some(match target {
        ArrowType::Null => Decode::Null,
        ArrowType::Boolean if phys == P::BOOLEAN => Decode::Bool,
        ArrowType::Int8
        | ArrowType::Int16
        | ArrowType::Int32
        | ArrowType::UInt8
        | ArrowType::UInt16
        | ArrowType::UInt32
        | ArrowType::Date32
            if phys == P::INT32 =>
        {
            Decode::Int
        }
        ArrowType::Int64 | ArrowType::UInt64 | ArrowType::Duration64(_) if phys == P::INT64 => {
            Decode::Int
        }
        ArrowType::Float32 if phys == P::FLOAT => Decode::Float32,
        ArrowType::Float64 if phys == P::DOUBLE => Decode::Float64,
        ArrowType::String | ArrowType::LargeString
            if matches!(native_decode, Decode::Utf8 { .. }) =>
        {
            Decode::Utf8 {
                large: *target == ArrowType::LargeString,
            }
        }
        ArrowType::Dictionary(_) if matches!(native_decode, Decode::Utf8 { .. }) => {
            Decode::Dictionary(*dict?)
        }
        ArrowType::Date64 if *native_type == ArrowType::Date32 => Decode::DaysToMillis,
        ArrowType::Date64 if phys == P::INT64 && stored_unit.is_none() => Decode::Int,
        ArrowType::Time32(_) if phys == P::INT32 => match stored_unit {
            Some(from) => Decode::Rescale { from },
            None => Decode::Int,
        },
        ArrowType::Time64(_) if phys == P::INT64 => match stored_unit {
            Some(from) => Decode::Rescale { from },
            None => Decode::Int,
        },
        ArrowType::Timestamp(..) if phys == P::INT96 => Decode::Int96,
        ArrowType::Timestamp(..) if phys == P::INT64 => match stored_unit {
            Some(from) => Decode::Rescale { from },
            None => Decode::Int,
        },
        ArrowType::Decimal32(..) | ArrowType::Decimal64(..) | ArrowType::Decimal128(..)
            if matches!(native_type, ArrowType::Decimal128(..)) =>
        {
            native_decode.clone()
        }
        _ => return None,
    })
}

/// The message of the error for a column that cannot be read.
pub(crate) fn refuse_column(label: &str, col: &ColumnDescriptor, why: &str) -> String {
    format!(
        "{label}: column \"{}\" ({}) cannot be read: {why}; leave it out with \
         ParquetReadOptions::projection",
        col.path().string(),
        describe_column(col)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_widths_match_arrow_cpp() {
        // Arrow C++ DecimalType::DecimalSize.
        assert_eq!(decimal_bytes(1), 1);
        assert_eq!(decimal_bytes(2), 1);
        assert_eq!(decimal_bytes(3), 2);
        assert_eq!(decimal_bytes(9), 4);
        assert_eq!(decimal_bytes(10), 5);
        assert_eq!(decimal_bytes(18), 8);
        assert_eq!(decimal_bytes(38), 16);
    }

    #[test]
    fn arrow_schema_round_trips() {
        let field = Field::new(
            "t",
            ArrowType::Timestamp(TimeUnit::Seconds, Some("UTC".into())),
            true,
            None,
        );
        let schema = Schema::new(
            vec![Arc::new(field)],
            BTreeMap::from([("k".into(), "v".into())]),
        );
        let b64 = encode_arrow_schema(&schema).unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&b64)
            .unwrap();
        assert_eq!(
            &raw[..4],
            &[0xff; 4],
            "continuation marker first, as Arrow C++ writes"
        );
        let hint = decode_arrow_schema(&b64).unwrap();
        assert_eq!(hint.names, ["t"]);
        assert_eq!(hint.metadata["k"], "v");
        let (f, d) = hint.fields[0].clone().unwrap();
        assert_eq!(
            f.dtype,
            ArrowType::Timestamp(TimeUnit::Seconds, Some("UTC".into()))
        );
        assert!(d.is_none());
        assert!(decode_arrow_schema("not base64!").is_none());
        assert!(decode_arrow_schema("AAAA").is_none());
    }
}
