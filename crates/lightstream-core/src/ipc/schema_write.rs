//! minarrow schema -> the Arrow `Schema` flatbuffer: the writing half of
//! schema conversion (reading is `schema.rs`), used by the stream and file
//! encoders. Every minarrow type has a wire form; a time unit a type cannot
//! carry (Days outside Date32) is an error, never a silent change.

use std::collections::BTreeMap;

use flatbuffers::{FlatBufferBuilder, ForwardsUOffset, Vector, WIPOffset};
use minarrow::{ArrowType, TimeUnit};

use super::schema::{DictionaryEncoding, Schema};
use crate::error::{Error, Result};
use crate::fbs;

fn fb_time_unit(u: &TimeUnit) -> Result<fbs::TimeUnit> {
    Ok(match u {
        TimeUnit::Seconds => fbs::TimeUnit::SECOND,
        TimeUnit::Milliseconds => fbs::TimeUnit::MILLISECOND,
        TimeUnit::Microseconds => fbs::TimeUnit::MICROSECOND,
        TimeUnit::Nanoseconds => fbs::TimeUnit::NANOSECOND,
        TimeUnit::Days => {
            return Err(Error::schema(
                "time unit Days is only valid for Date32 fields",
            ));
        }
    })
}

pub(crate) fn write_metadata<'b>(
    fbb: &mut FlatBufferBuilder<'b>,
    map: &BTreeMap<String, String>,
) -> Option<WIPOffset<Vector<'b, ForwardsUOffset<fbs::KeyValue<'b>>>>> {
    if map.is_empty() {
        return None;
    }
    let kvs: Vec<_> = map
        .iter()
        .map(|(k, v)| {
            let key = fbb.create_string(k);
            let value = fbb.create_string(v);
            fbs::KeyValue::create(
                fbb,
                &fbs::KeyValueArgs {
                    key: Some(key),
                    value: Some(value),
                },
            )
        })
        .collect();
    Some(fbb.create_vector(&kvs))
}

/// The flatbuffer type union of a minarrow type (dictionary fields give their value type).
fn write_type(
    fbb: &mut FlatBufferBuilder<'_>,
    dtype: &ArrowType,
    dict: Option<&DictionaryEncoding>,
    name: &str,
) -> Result<(fbs::Type, WIPOffset<flatbuffers::UnionWIPOffset>)> {
    let int = |fbb: &mut FlatBufferBuilder<'_>, bits: i32, signed: bool| {
        fbs::Int::create(
            fbb,
            &fbs::IntArgs {
                bitWidth: bits,
                is_signed: signed,
            },
        )
        .as_union_value()
    };
    Ok(match dtype {
        ArrowType::Null => (
            fbs::Type::Null,
            fbs::Null::create(fbb, &fbs::NullArgs {}).as_union_value(),
        ),
        ArrowType::Boolean => (
            fbs::Type::Bool,
            fbs::Bool::create(fbb, &fbs::BoolArgs {}).as_union_value(),
        ),
        ArrowType::Int8 => (fbs::Type::Int, int(fbb, 8, true)),
        ArrowType::Int16 => (fbs::Type::Int, int(fbb, 16, true)),
        ArrowType::Int32 => (fbs::Type::Int, int(fbb, 32, true)),
        ArrowType::Int64 => (fbs::Type::Int, int(fbb, 64, true)),
        ArrowType::UInt8 => (fbs::Type::Int, int(fbb, 8, false)),
        ArrowType::UInt16 => (fbs::Type::Int, int(fbb, 16, false)),
        ArrowType::UInt32 => (fbs::Type::Int, int(fbb, 32, false)),
        ArrowType::UInt64 => (fbs::Type::Int, int(fbb, 64, false)),
        ArrowType::Float32 | ArrowType::Float64 => {
            let precision = if *dtype == ArrowType::Float32 {
                fbs::Precision::SINGLE
            } else {
                fbs::Precision::DOUBLE
            };
            (
                fbs::Type::FloatingPoint,
                fbs::FloatingPoint::create(fbb, &fbs::FloatingPointArgs { precision })
                    .as_union_value(),
            )
        }
        ArrowType::String => (
            fbs::Type::Utf8,
            fbs::Utf8::create(fbb, &fbs::Utf8Args {}).as_union_value(),
        ),
        ArrowType::LargeString => (
            fbs::Type::LargeUtf8,
            fbs::LargeUtf8::create(fbb, &fbs::LargeUtf8Args {}).as_union_value(),
        ),
        ArrowType::Dictionary(_) => {
            let large = dict.is_some_and(|d| d.large_values);
            if large {
                (
                    fbs::Type::LargeUtf8,
                    fbs::LargeUtf8::create(fbb, &fbs::LargeUtf8Args {}).as_union_value(),
                )
            } else {
                (
                    fbs::Type::Utf8,
                    fbs::Utf8::create(fbb, &fbs::Utf8Args {}).as_union_value(),
                )
            }
        }
        ArrowType::Decimal32(p, s) | ArrowType::Decimal64(p, s) | ArrowType::Decimal128(p, s) => {
            let bits = match dtype {
                ArrowType::Decimal32(..) => 32,
                ArrowType::Decimal64(..) => 64,
                _ => 128,
            };
            (
                fbs::Type::Decimal,
                fbs::Decimal::create(
                    fbb,
                    &fbs::DecimalArgs {
                        precision: *p as i32,
                        scale: *s as i32,
                        bitWidth: bits,
                    },
                )
                .as_union_value(),
            )
        }
        ArrowType::Date32 | ArrowType::Date64 => {
            let unit = if *dtype == ArrowType::Date32 {
                fbs::DateUnit::DAY
            } else {
                fbs::DateUnit::MILLISECOND
            };
            (
                fbs::Type::Date,
                fbs::Date::create(fbb, &fbs::DateArgs { unit }).as_union_value(),
            )
        }
        ArrowType::Time32(u) | ArrowType::Time64(u) => {
            let bits = if matches!(dtype, ArrowType::Time32(_)) {
                32
            } else {
                64
            };
            let unit = fb_time_unit(u)?;
            let ok = matches!(
                (bits, unit),
                (32, fbs::TimeUnit::SECOND | fbs::TimeUnit::MILLISECOND)
                    | (64, fbs::TimeUnit::MICROSECOND | fbs::TimeUnit::NANOSECOND)
            );
            if !ok {
                return Err(Error::schema(format!(
                    "field \"{name}\": Time{bits} cannot have unit {u:?} in Arrow"
                )));
            }
            (
                fbs::Type::Time,
                fbs::Time::create(
                    fbb,
                    &fbs::TimeArgs {
                        unit,
                        bitWidth: bits,
                    },
                )
                .as_union_value(),
            )
        }
        ArrowType::Timestamp(u, tz) => {
            let unit = fb_time_unit(u)?;
            let timezone = tz.as_ref().map(|t| fbb.create_string(t));
            (
                fbs::Type::Timestamp,
                fbs::Timestamp::create(fbb, &fbs::TimestampArgs { unit, timezone })
                    .as_union_value(),
            )
        }
        ArrowType::Duration32(u) | ArrowType::Duration64(u) => {
            let unit = fb_time_unit(u)?;
            (
                fbs::Type::Duration,
                fbs::Duration::create(fbb, &fbs::DurationArgs { unit }).as_union_value(),
            )
        }
        other => {
            return Err(Error::unsupported(format!(
                "field \"{name}\" has type {other:?}, which Lightstream does not write"
            )));
        }
    })
}

/// Builds the `Schema` table into `fbb`.
pub(crate) fn write_schema<'b>(
    fbb: &mut FlatBufferBuilder<'b>,
    schema: &Schema,
) -> Result<WIPOffset<fbs::Schema<'b>>> {
    schema.check_consistent()?;
    let mut fields = Vec::with_capacity(schema.fields.len());
    for (f, d) in schema.fields.iter().zip(&schema.dictionaries) {
        let name = fbb.create_string(&f.name);
        let (type_type, type_) = write_type(fbb, &f.dtype, d.as_ref(), &f.name)?;
        let dictionary = d.as_ref().map(|d| {
            let index = fbs::Int::create(
                fbb,
                &fbs::IntArgs {
                    bitWidth: (d.index_type.byte_width() * 8) as i32,
                    is_signed: d.index_type.is_signed(),
                },
            );
            fbs::DictionaryEncoding::create(
                fbb,
                &fbs::DictionaryEncodingArgs {
                    id: d.id,
                    indexType: Some(index),
                    isOrdered: d.ordered,
                    dictionaryKind: fbs::DictionaryKind::DenseArray,
                },
            )
        });
        let children = fbb.create_vector::<WIPOffset<fbs::Field>>(&[]);
        let custom_metadata = write_metadata(fbb, &f.metadata);
        fields.push(fbs::Field::create(
            fbb,
            &fbs::FieldArgs {
                name: Some(name),
                nullable: f.nullable,
                type_type,
                type_: Some(type_),
                dictionary,
                children: Some(children),
                custom_metadata,
            },
        ));
    }
    let fields = fbb.create_vector(&fields);
    let custom_metadata = write_metadata(fbb, &schema.metadata);
    Ok(fbs::Schema::create(
        fbb,
        &fbs::SchemaArgs {
            endianness: fbs::Endianness::Little,
            fields: Some(fields),
            custom_metadata,
            features: None,
        },
    ))
}
