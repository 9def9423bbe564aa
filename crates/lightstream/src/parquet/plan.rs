//! Planning a Parquet read, before any page is decoded: the file's envelope
//! (magic at both ends, a footer length that fits), the footer's row counts
//! and column-chunk ranges against the file, and the plan of every projected
//! top-level column (its minarrow field, how its values decode, restored
//! from `ARROW:schema` when that agrees with the Parquet schema). Not the
//! reading itself (`reader.rs`) or the value decoding (`decode.rs`).

use std::sync::Arc;

use lightstream_core::FieldInfo;
use lightstream_core::display::arrow_type_name;
use lightstream_core::minarrow::Field;
use parquet::basic::Repetition;
use parquet::file::reader::{ChunkReader, FileReader};
use parquet::file::serialized_reader::SerializedFileReader;

use super::types::{
    ARROW_SCHEMA_KEY, ArrowSchemaHint, ColumnPlan, decode_arrow_schema, describe_column,
    hinted_decode, native_type, parquet_error, refuse_column,
};
use crate::error::{Error, Result};

/// Magic at both ends and a footer length that fits the file, before the
/// parquet crate reads anything; returns the footer length.
pub(super) fn check_envelope<R: ChunkReader>(reader: &R, len: u64, label: &str) -> Result<u64> {
    let fail = |what: String| parquet_error(format!("{label}: not a Parquet file: {what}"));
    if len < 12 {
        return Err(fail(format!(
            "{len} bytes is shorter than the 12-byte minimum"
        )));
    }
    let head = reader
        .get_bytes(0, 4)
        .map_err(|e| parquet_error(format!("{label}: reading the header: {e}")))?;
    if head.as_ref() != b"PAR1" {
        return Err(fail("no PAR1 magic at the start".into()));
    }
    let tail = reader
        .get_bytes(len - 8, 8)
        .map_err(|e| parquet_error(format!("{label}: reading the footer: {e}")))?;
    if &tail[4..8] != b"PAR1" {
        return Err(fail(
            "no PAR1 magic at the end (truncated, or an encrypted footer)".into(),
        ));
    }
    let footer = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if footer > len - 12 {
        return Err(parquet_error(format!(
            "{label}: the footer claims {footer} bytes but the file has only {} after the header",
            len - 12
        )));
    }
    Ok(footer)
}

/// Row counts and column-chunk ranges against the file size and the schema.
pub(super) fn check_metadata<R: ChunkReader + 'static>(
    file: &SerializedFileReader<R>,
    len: u64,
    label: &str,
) -> Result<()> {
    let md = file.metadata();
    let leaves = md.file_metadata().schema_descr().num_columns();
    let mut total: u64 = 0;
    for (i, rg) in md.row_groups().iter().enumerate() {
        let fail = |what: String| parquet_error(format!("{label}: row group {i}: {what}"));
        if rg.num_rows() < 0 {
            return Err(fail(format!("negative row count {}", rg.num_rows())));
        }
        total = total
            .checked_add(rg.num_rows() as u64)
            .ok_or_else(|| fail("row counts overflow".into()))?;
        if rg.num_columns() != leaves {
            return Err(fail(format!(
                "{} column chunks for a schema of {leaves} columns",
                rg.num_columns()
            )));
        }
        for (j, c) in rg.columns().iter().enumerate() {
            let start = c
                .dictionary_page_offset()
                .unwrap_or_else(|| c.data_page_offset());
            let size = c.compressed_size();
            let name = c.column_path().string();
            if start < 4 || size < 0 || c.num_values() < 0 {
                return Err(fail(format!(
                    "column chunk {j} (\"{name}\") has offset {start}, size {size}, {} values",
                    c.num_values()
                )));
            }
            let end = (start as u64).checked_add(size as u64);
            if end.is_none_or(|e| e > len) {
                return Err(fail(format!(
                    "column chunk {j} (\"{name}\") spans bytes {start}..{start}+{size}, past the end of the {len}-byte file"
                )));
            }
            if c.data_page_offset() < 0 || c.data_page_offset() as u64 >= len {
                return Err(fail(format!(
                    "column chunk {j} (\"{name}\") has data page offset {} outside the file",
                    c.data_page_offset()
                )));
            }
        }
    }
    let claimed = md.file_metadata().num_rows();
    if claimed < 0 || claimed as u64 != total {
        return Err(parquet_error(format!(
            "{label}: the footer says {claimed} rows but its row groups hold {total}"
        )));
    }
    Ok(())
}

/// Maps every top-level field; returns the field descriptions and the
/// projected column plans (and the `ARROW:schema` hint when it was used).
pub(super) type Planned = (Vec<FieldInfo>, (Vec<ColumnPlan>, Option<ArrowSchemaHint>));

pub(super) fn plan_columns<R: ChunkReader + 'static>(
    file: &SerializedFileReader<R>,
    label: &str,
    projection: Option<&[usize]>,
    use_arrow_schema: bool,
) -> Result<Planned> {
    let fm = file.metadata().file_metadata();
    let descr = fm.schema_descr();
    let roots = descr.root_schema().get_fields();
    // Leaf of each root, when the root is a flat primitive column.
    let mut leaf_of: Vec<Option<usize>> = vec![None; roots.len()];
    let mut leaves_of = vec![0usize; roots.len()];
    for leaf in 0..descr.num_columns() {
        let r = descr.get_column_root_idx(leaf);
        if let Some(n) = leaves_of.get_mut(r) {
            *n += 1;
        }
        if let Some(slot) = leaf_of.get_mut(r) {
            *slot = Some(leaf);
        }
    }
    let hint = if use_arrow_schema {
        fm.key_value_metadata()
            .and_then(|kv| kv.iter().find(|k| k.key == ARROW_SCHEMA_KEY))
            .and_then(|k| k.value.as_deref())
            .and_then(decode_arrow_schema)
    } else {
        None
    };
    // Per root: Ok((field, dictionary, decode)) or Err(why not).
    let mut mapped = Vec::with_capacity(roots.len());
    let mut hint_ok = hint.as_ref().is_some_and(|h| h.names.len() == roots.len());
    for (r, root) in roots.iter().enumerate() {
        let flat = root.is_primitive()
            && leaves_of[r] == 1
            && root.get_basic_info().repetition() != Repetition::REPEATED;
        let col = match (flat, leaf_of[r]) {
            (true, Some(leaf)) => Some(descr.column(leaf)),
            _ => None,
        };
        let native = col.as_ref().map(|c| native_type(c));
        if let (Some(h), Some(c)) = (hint.as_ref(), col.as_ref())
            && hint_ok
        {
            let matches = h.names.get(r).is_some_and(|n| n == root.name());
            let fits = match (&h.fields[r], &native) {
                (Some((f, d)), Some(Ok(nat))) => {
                    hinted_decode(c, &f.dtype, d.as_ref(), nat).is_some()
                }
                (None, _) => true,    // minarrow cannot hold it either way
                (Some(_), _) => true, // the Parquet type is refused anyway
            };
            if !matches || !fits {
                hint_ok = false;
            }
        }
        mapped.push((root.clone(), col, native));
    }
    let hint = if hint_ok { hint } else { None };

    let mut infos = Vec::with_capacity(roots.len());
    let mut plans_all: Vec<std::result::Result<ColumnPlan, String>> =
        Vec::with_capacity(roots.len());
    for (r, (root, col, native)) in mapped.into_iter().enumerate() {
        let name = root.name().to_string();
        let nullable = root.get_basic_info().repetition() != Repetition::REQUIRED;
        let plan: std::result::Result<ColumnPlan, String> = match (col, native) {
            (Some(c), Some(Ok(nat))) => {
                let leaf = leaf_of[r].unwrap_or(0);
                match hint.as_ref().map(|h| &h.fields[r]) {
                    Some(Some((f, d))) => {
                        let decode = hinted_decode(&c, &f.dtype, d.as_ref(), &nat)
                            .ok_or_else(|| refuse_column(label, &c, "inconsistent ARROW:schema"));
                        decode.map(|decode| ColumnPlan {
                            leaf,
                            field: f.clone(),
                            dictionary: *d,
                            decode,
                            physical: c.physical_type(),
                            max_def: c.max_def_level(),
                        })
                    }
                    Some(None) => Err(refuse_column(
                        label,
                        &c,
                        "its Arrow type (ARROW:schema) has no minarrow equivalent",
                    )),
                    None => Ok(ColumnPlan {
                        leaf,
                        field: Arc::new(Field::new(name.clone(), nat.0.clone(), nullable, None)),
                        dictionary: None,
                        decode: nat.1,
                        physical: c.physical_type(),
                        max_def: c.max_def_level(),
                    }),
                }
            }
            (Some(c), Some(Err(why))) => Err(refuse_column(label, &c, &why)),
            _ => Err(format!(
                "{label}: column \"{name}\" is a nested Parquet type (group or repeated field), \
                 which minarrow cannot hold; leave it out with ParquetReadOptions::projection"
            )),
        };
        infos.push(match &plan {
            Ok(p) => FieldInfo {
                name: name.clone(),
                arrow_type: arrow_type_name(&p.field.dtype, p.dictionary.as_ref()),
                nullable: p.field.nullable,
                supported: true,
                metadata: p.field.metadata.clone(),
            },
            Err(_) => FieldInfo {
                name: name.clone(),
                arrow_type: if root.is_primitive() {
                    leaf_of[r]
                        .map(|l| describe_column(&descr.column(l)))
                        .unwrap_or_else(|| "unknown".into())
                } else {
                    format!(
                        "Parquet group ({:?})",
                        root.get_basic_info().logical_type_ref()
                    )
                },
                nullable,
                supported: false,
                metadata: Default::default(),
            },
        });
        plans_all.push(plan);
    }
    let columns: Vec<usize> = match projection {
        Some(p) => p.to_vec(),
        None => (0..roots.len()).collect(),
    };
    let mut plans = Vec::with_capacity(columns.len());
    for c in columns {
        match plans_all.get(c) {
            None => {
                return Err(parquet_error(format!(
                    "{label}: projection names column {c} but the file has {} columns",
                    roots.len()
                )));
            }
            Some(Err(e)) => return Err(Error::Parquet(e.clone())),
            Some(Ok(p)) => plans.push(p.clone()),
        }
    }
    Ok((infos, (plans, hint)))
}
