//! Dictionary unification: the dictionaries of many tables -> one per id that only grows.
//!
//! What it is for: producers that dictionary-encode each batch on its own
//! (`pa.array(...).dictionary_encode()` per batch, pandas chunks, Lightstream's
//! own CSV and Parquet readers) give every table its own dictionary, which an
//! IPC stream carries as a replacement per batch. The IPC file format cannot
//! replace a dictionary, only grow it with deltas. A [`DictionaryUnifier`]
//! keeps, per dictionary id, every value seen so far in first-seen order with
//! a hash index over them, and rewrites each table's keys into that
//! dictionary: known values keep their unified key, new ones are appended
//! (the encoders send just those, as a delta), null rows stay null.
//!
//! Cost: linear. Each table costs its own dictionary (compared with the
//! unified one while they agree, hashed from the first difference on) and, only
//! when its keys do not already address the unified dictionary, one pass over
//! its keys into a new buffer. The unified dictionary is never copied, except
//! by [`DictionaryUnifier::unify_table`], whose minarrow tables each hold
//! their dictionary.
//!
//! What it is not: an encoder, and not a merge of different dictionary ids.
//! [`crate::IpcFileEncoder`] always unifies; [`crate::IpcStreamEncoder`] does
//! when [`crate::WriteOptions::unify_dictionaries`] asks (a stream may
//! replace dictionaries, so by default it sends them as they are).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use minarrow::{Array, Buffer, CategoricalArray, FieldArray, Table, TextArray, Vec64};

use super::body::{
    check_key_width, check_table, dictionary_values, key_out_of_range, mask_bits, mismatch,
    row_valid,
};
use super::buffer_types::{KeyInt, RemappedKeys};
use super::schema::{DictionaryEncoding, IndexType, Schema};
use crate::display::arrow_type_name;
use crate::error::{Error, Result};

/// One unified dictionary: its values in first-seen order and where each one is.
#[derive(Debug, Default)]
struct UnifiedDictionary {
    values: Vec<Arc<str>>,
    index: HashMap<Arc<str>, u64>,
}

impl UnifiedDictionary {
    /// Adds the values of one column's dictionary (those not yet present, in
    /// order) and says where each now lies: `None` when value `i` is at
    /// unified key `i` for every `i` (the column's keys need no rewriting),
    /// otherwise the unified key of each of the column's values, in order
    /// (what each of its keys becomes).
    fn add(&mut self, values: &[String]) -> Option<Vec<u64>> {
        // The common case (a dictionary kept or grown) is decided by comparing,
        // without hashing: only values past the common prefix are looked up.
        let common = values
            .iter()
            .zip(&self.values)
            .take_while(|(v, u)| v.as_str() == &***u)
            .count();
        let mut map: Option<Vec<u64>> = None;
        for (i, v) in values.iter().enumerate().skip(common) {
            let key = match self.index.get(v.as_str()) {
                Some(&k) => k,
                None => {
                    let k = self.values.len() as u64;
                    let s: Arc<str> = Arc::from(v.as_str());
                    self.index.insert(s.clone(), k);
                    self.values.push(s);
                    k
                }
            };
            match &mut map {
                Some(m) => m.push(key),
                None if key != i as u64 => {
                    let mut m = Vec::with_capacity(values.len());
                    m.extend(0..i as u64);
                    m.push(key);
                    map = Some(m);
                }
                None => {}
            }
        }
        map
    }

    /// Forgets the values from `len` on (undoing a table that failed).
    fn truncate(&mut self, len: usize) {
        if len < self.values.len() {
            for v in self.values.drain(len..) {
                self.index.remove(&*v);
            }
        }
    }
}

/// How many dictionary values keys of `t` can address.
fn key_capacity(t: IndexType) -> u64 {
    let bits = t.byte_width() as u32 * 8 - u32::from(t.is_signed());
    1u64.checked_shl(bits).unwrap_or(u64::MAX)
}

/// Keeps one dictionary per dictionary id that only grows, and rewrites each
/// table's dictionary keys into it: known values keep their unified key, new
/// ones are appended, null rows stay null.
///
/// For tables whose dictionaries were built batch by batch (pandas chunks,
/// `dictionary_encode()` per batch, the CSV and Parquet readers): an IPC file
/// cannot replace a dictionary, only grow it. Cost and the stream/file rules
/// are in [the core API guide](https://github.com/lightstream-rs/lightstream/blob/main/docs/core-api.md#dictionaries).
///
/// ```
/// use std::sync::Arc;
/// use lightstream_core::{DictionaryUnifier, Schema};
/// use lightstream_core::minarrow::{Array, CategoricalArray, FieldArray, Table, TextArray, Vec64};
///
/// let column = |keys: &[u32], values: &[&str]| {
///     let values = values.iter().map(|s| s.to_string()).collect();
///     let array = CategoricalArray::<u32>::new(Vec64::from_slice(keys), values, None);
///     let city = FieldArray::from_arr("city", Array::from_categorical32(array));
///     Table::new("t", Some(vec![city]))
/// };
/// // Each table encoded on its own: "b" is key 1 in the first, key 0 in the second.
/// let first = column(&[0, 1, 1], &["a", "b"]);
/// let second = column(&[0, 1], &["b", "c"]);
/// let mut unifier = DictionaryUnifier::new(Arc::new(Schema::from_table(&first))).unwrap();
/// unifier.unify_table(&first).unwrap();
/// let second = unifier.unify_table(&second).unwrap();
/// let Array::TextArray(TextArray::Categorical32(c)) = &second.cols[0].array else { panic!() };
/// assert_eq!(c.unique_values.as_slice(), ["a", "b", "c"]);
/// assert_eq!(c.data.as_slice(), [1, 2]);
/// ```
#[derive(Debug)]
pub struct DictionaryUnifier {
    schema: Arc<Schema>,
    dictionaries: HashMap<i64, UnifiedDictionary>,
}

impl DictionaryUnifier {
    /// A unifier for tables of `schema`.
    pub fn new(schema: Arc<Schema>) -> Result<Self> {
        schema.check_consistent()?;
        Ok(DictionaryUnifier {
            schema,
            dictionaries: HashMap::new(),
        })
    }

    /// The schema of the tables.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// How many values the unified dictionary `id` holds (0 before a table used it).
    pub fn dictionary_len(&self, id: i64) -> usize {
        self.dictionaries.get(&id).map_or(0, |d| d.values.len())
    }

    /// The values of the unified dictionary `id`, in key order.
    pub(crate) fn values(&self, id: i64) -> &[Arc<str>] {
        self.dictionaries.get(&id).map_or(&[], |d| &d.values)
    }

    /// `table` with each dictionary column addressing its unified dictionary as
    /// it stands after this table: values seen before keep their key, new ones
    /// are appended, null rows stay null. Tables returned one after another
    /// therefore only ever grow their dictionaries (each is a prefix of the
    /// next), which every IPC writer can send as deltas.
    ///
    /// A column whose dictionary already is the unified one is shared, not
    /// copied. Any other holds a copy of the whole unified dictionary
    /// (minarrow keeps one per array), so this costs a copy of the dictionary
    /// per table; the encoders, which need no tables, copy only new values.
    ///
    /// Errors (and leaves the unifier as it was) when the table does not
    /// match the schema, when a key of a valid row does not address its own
    /// dictionary, or when a unified dictionary would hold more values than
    /// the column's key type can address (naming the column, the key type
    /// and the count).
    pub fn unify_table(&mut self, table: &Table) -> Result<Table> {
        let keys = self.unify_keys(table, 0..table.n_rows)?;
        let mut cols = Vec::with_capacity(table.cols.len());
        for (i, (fa, remapped)) in table.cols.iter().zip(keys).enumerate() {
            let Some(enc) = self.schema.dictionary(i) else {
                cols.push(fa.clone());
                continue;
            };
            let unified = self.values(enc.id);
            let own_len = dictionary_values(fa).map_or(0, <[String]>::len);
            if remapped.is_none() && own_len == unified.len() {
                cols.push(fa.clone());
                continue;
            }
            let values: Vec64<String> = unified.iter().map(|s| s.to_string()).collect();
            cols.push(with_dictionary(fa, remapped, values)?);
        }
        Ok(Table {
            cols,
            n_rows: table.n_rows,
            name: table.name.clone(),
            metadata: table.metadata.clone(),
        })
    }

    /// Adds `table`'s dictionaries to the unified ones and rewrites the keys
    /// of rows `rows` of each dictionary column that does not already address
    /// them: one entry per column, `None` for a column written as it is. On
    /// an error the unified dictionaries are left as they were.
    pub(crate) fn unify_keys(
        &mut self,
        table: &Table,
        rows: Range<usize>,
    ) -> Result<Vec<Option<RemappedKeys>>> {
        check_table(&self.schema, table)?;
        // Lengths before this table, to undo it on an error.
        let mut before: Vec<(i64, usize)> = Vec::new();
        let result = self.unify_columns(table, rows, &mut before);
        if result.is_err() {
            for (id, len) in before {
                if let Some(d) = self.dictionaries.get_mut(&id) {
                    d.truncate(len);
                }
            }
        }
        result
    }

    fn unify_columns(
        &mut self,
        table: &Table,
        rows: Range<usize>,
        before: &mut Vec<(i64, usize)>,
    ) -> Result<Vec<Option<RemappedKeys>>> {
        let mut out = Vec::with_capacity(table.cols.len());
        for (i, fa) in table.cols.iter().enumerate() {
            let Some(enc) = self.schema.dictionary(i) else {
                out.push(None);
                continue;
            };
            let values = dictionary_values(fa).ok_or_else(|| mismatch(fa))?;
            let dict = self.dictionaries.entry(enc.id).or_default();
            if !before.iter().any(|(id, _)| *id == enc.id) {
                before.push((enc.id, dict.values.len()));
            }
            let map = dict.add(values);
            let count = dict.values.len() as u64;
            let capacity = key_capacity(enc.index_type);
            if count > capacity {
                return Err(Error::schema(format!(
                    "column \"{}\": unifying its dictionaries (id {}) takes {count} values, \
                     more than {} keys can address ({capacity}); use a wider key type, or \
                     write an IPC stream, which may replace dictionaries",
                    fa.field.name,
                    enc.id,
                    enc.index_type.name()
                ))
                .in_field(&fa.field.name, arrow_type_name(&fa.field.dtype, Some(enc))));
            }
            out.push(match map {
                None => None,
                Some(map) => Some(remap_column(fa, &map, enc, rows.clone())?),
            });
        }
        Ok(out)
    }
}

/// Every table of `tables` with its dictionary columns rewritten so that each
/// dictionary only grows from one table to the next (see
/// [`DictionaryUnifier::unify_table`]). To write the tables, the encoders do
/// the same without building them: an IPC file always, a stream with
/// [`crate::WriteOptions::unify_dictionaries`].
pub fn unify_dictionaries(schema: &Schema, tables: &[Table]) -> Result<Vec<Table>> {
    let mut unifier = DictionaryUnifier::new(Arc::new(schema.clone()))?;
    tables.iter().map(|t| unifier.unify_table(t)).collect()
}

/// The keys of rows `rows` of a dictionary column, each replaced by `map[key]`.
fn remap_column(
    fa: &FieldArray,
    map: &[u64],
    enc: &DictionaryEncoding,
    rows: Range<usize>,
) -> Result<RemappedKeys> {
    let t = match &fa.array {
        Array::TextArray(t) => t,
        _ => return Err(mismatch(fa)),
    };
    Ok(match t {
        TextArray::Categorical8(a) => RemappedKeys::U8(remap(a, map, enc, fa, rows)?),
        TextArray::Categorical16(a) => RemappedKeys::U16(remap(a, map, enc, fa, rows)?),
        TextArray::Categorical32(a) => RemappedKeys::U32(remap(a, map, enc, fa, rows)?),
        TextArray::Categorical64(a) => RemappedKeys::U64(remap(a, map, enc, fa, rows)?),
        _ => return Err(mismatch(fa)),
    })
}

fn remap<K: KeyInt>(
    a: &CategoricalArray<K>,
    map: &[u64],
    enc: &DictionaryEncoding,
    fa: &FieldArray,
    rows: Range<usize>,
) -> Result<Vec64<K>> {
    check_key_width::<K>(fa, enc)?;
    // Unified keys in the column's width; they fit, the count was checked.
    let map: Vec<K> = map
        .iter()
        .map(|&k| K::from_u64(k))
        .collect::<Option<_>>()
        .ok_or_else(|| mismatch(fa))?;
    let keys = a
        .data
        .as_slice()
        .get(rows.clone())
        .ok_or_else(|| mismatch(fa))?;
    let mut out = Vec64::with_capacity(keys.len());
    let mut stray = false;
    for &k in keys {
        match usize::try_from(k.to_u64()).ok().and_then(|i| map.get(i)) {
            Some(&u) => out.push(u),
            None => {
                stray = true;
                out.push(K::default());
            }
        }
    }
    if stray {
        // A key past the column's dictionary is garbage under a null (written
        // as 0) and an error where the row is valid.
        let bits = a
            .null_mask
            .as_ref()
            .map(|m| mask_bits(m, rows.end))
            .transpose()?;
        for (i, &k) in rows.zip(keys) {
            if row_valid(bits, i) && k.to_u64() >= map.len() as u64 {
                return Err(key_out_of_range(fa, k.to_u64(), i, map.len(), enc));
            }
        }
    }
    Ok(out)
}

/// `fa` with dictionary `values`, and `keys` when given (else its own keys).
fn with_dictionary(
    fa: &FieldArray,
    keys: Option<RemappedKeys>,
    values: Vec64<String>,
) -> Result<FieldArray> {
    fn rebuilt<K: KeyInt>(
        a: &CategoricalArray<K>,
        keys: Option<Vec64<K>>,
        values: Vec64<String>,
    ) -> Arc<CategoricalArray<K>> {
        Arc::new(CategoricalArray {
            data: keys.map_or_else(|| a.data.clone(), Buffer::from_vec64),
            unique_values: values,
            null_mask: a.null_mask.clone(),
        })
    }
    let text = match (&fa.array, keys) {
        (Array::TextArray(TextArray::Categorical8(a)), None) => {
            TextArray::Categorical8(rebuilt(a, None, values))
        }
        (Array::TextArray(TextArray::Categorical8(a)), Some(RemappedKeys::U8(k))) => {
            TextArray::Categorical8(rebuilt(a, Some(k), values))
        }
        (Array::TextArray(TextArray::Categorical16(a)), None) => {
            TextArray::Categorical16(rebuilt(a, None, values))
        }
        (Array::TextArray(TextArray::Categorical16(a)), Some(RemappedKeys::U16(k))) => {
            TextArray::Categorical16(rebuilt(a, Some(k), values))
        }
        (Array::TextArray(TextArray::Categorical32(a)), None) => {
            TextArray::Categorical32(rebuilt(a, None, values))
        }
        (Array::TextArray(TextArray::Categorical32(a)), Some(RemappedKeys::U32(k))) => {
            TextArray::Categorical32(rebuilt(a, Some(k), values))
        }
        (Array::TextArray(TextArray::Categorical64(a)), None) => {
            TextArray::Categorical64(rebuilt(a, None, values))
        }
        (Array::TextArray(TextArray::Categorical64(a)), Some(RemappedKeys::U64(k))) => {
            TextArray::Categorical64(rebuilt(a, Some(k), values))
        }
        _ => return Err(mismatch(fa)),
    };
    Ok(FieldArray {
        field: fa.field.clone(),
        array: Array::TextArray(text),
        null_count: fa.null_count,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use minarrow::ffi::arrow_dtype::CategoricalIndexType;
    use minarrow::{ArrowType, Bitmask, Field};

    use super::*;
    use crate::buffers::aligned_copy;
    use crate::error::ErrorKind;
    use crate::ipc::{
        IpcFileEncoder, IpcStreamEncoder, ReadOptions, WriteOptions, read_file, read_stream,
        write_file, write_stream,
    };

    /// A categorical array; `None` rows are null with an out-of-range key under them.
    fn categorical<K: KeyInt>(keys: &[Option<u64>], values: &[&str]) -> CategoricalArray<K> {
        let garbage = K::from_u64(250).unwrap();
        let data: Vec64<K> = keys
            .iter()
            .map(|k| k.map_or(garbage, |k| K::from_u64(k).unwrap()))
            .collect();
        let valid: Vec<bool> = keys.iter().map(Option::is_some).collect();
        let mask = valid.contains(&false).then(|| Bitmask::from_bools(&valid));
        CategoricalArray {
            data: Buffer::from_vec64(data),
            unique_values: values.iter().map(|s| s.to_string()).collect(),
            null_mask: mask,
        }
    }

    fn column(
        name: &str,
        width: CategoricalIndexType,
        keys: &[Option<u64>],
        values: &[&str],
    ) -> FieldArray {
        let text = match width {
            CategoricalIndexType::UInt8 => {
                TextArray::Categorical8(Arc::new(categorical(keys, values)))
            }
            CategoricalIndexType::UInt16 => {
                TextArray::Categorical16(Arc::new(categorical(keys, values)))
            }
            CategoricalIndexType::UInt32 => {
                TextArray::Categorical32(Arc::new(categorical(keys, values)))
            }
            CategoricalIndexType::UInt64 => {
                TextArray::Categorical64(Arc::new(categorical(keys, values)))
            }
        };
        let field = Field::new(name, ArrowType::Dictionary(width), true, None);
        FieldArray::new(field, Array::TextArray(text))
    }

    fn table(cols: Vec<FieldArray>) -> Table {
        let n_rows = cols[0].array.len();
        Table {
            cols,
            n_rows,
            name: "t".into(),
            metadata: BTreeMap::new(),
        }
    }

    /// One u32-keyed column "c" per table.
    fn tables(steps: &[(&[Option<u64>], &[&str])]) -> Vec<Table> {
        steps
            .iter()
            .map(|(k, v)| table(vec![column("c", CategoricalIndexType::UInt32, k, v)]))
            .collect()
    }

    /// The values of a dictionary column, row by row.
    fn strings(fa: &FieldArray) -> Vec<Option<String>> {
        fn rows<K: KeyInt>(a: &CategoricalArray<K>) -> Vec<Option<String>> {
            (0..a.data.len())
                .map(|i| {
                    let valid = a.null_mask.as_ref().is_none_or(|m| m.get(i));
                    valid.then(|| a.unique_values[a.data[i].to_u64() as usize].clone())
                })
                .collect()
        }
        match &fa.array {
            Array::TextArray(TextArray::Categorical8(a)) => rows(a),
            Array::TextArray(TextArray::Categorical16(a)) => rows(a),
            Array::TextArray(TextArray::Categorical32(a)) => rows(a),
            Array::TextArray(TextArray::Categorical64(a)) => rows(a),
            _ => panic!("not a dictionary column"),
        }
    }

    fn dictionary(fa: &FieldArray) -> Vec<String> {
        dictionary_values(fa).unwrap().to_vec()
    }

    fn all_strings(tables: &[Table], col: usize) -> Vec<Vec<Option<String>>> {
        tables.iter().map(|t| strings(&t.cols[col])).collect()
    }

    /// (is a dictionary message, body length) of each message `encode_table` returns.
    fn file_messages(schema: &Schema, tables: &[Table]) -> Vec<Vec<(bool, usize)>> {
        let mut enc =
            IpcFileEncoder::new(Arc::new(schema.clone()), WriteOptions::default()).unwrap();
        enc.begin().unwrap();
        tables
            .iter()
            .map(|t| {
                let ms = enc.encode_table(t).unwrap();
                let n = ms.len();
                ms.iter()
                    .enumerate()
                    .map(|(i, m)| (i + 1 < n, m.body_len()))
                    .collect()
            })
            .collect()
    }

    /// Per-batch dictionaries (`dictionary_encode()` on each batch): the
    /// same value under different keys, values dropped and come back, nulls
    /// with garbage keys under them.
    const REPLACED: [(&[Option<u64>], &[&str]); 4] = [
        (&[Some(0), Some(1), None, Some(1)], &["a", "b"]),
        (&[Some(0), Some(1), Some(0), None], &["b", "c"]),
        (&[None, Some(2), Some(0), Some(1)], &["c", "a", "d"]),
        (&[Some(0), Some(0)], &["a"]),
    ];

    #[test]
    fn replaced_dictionaries_go_into_a_file_and_read_back_identical() {
        let tables = tables(&REPLACED);
        let schema = Schema::from_table(&tables[0]);
        let bytes = write_file(&schema, &tables, &WriteOptions::default()).unwrap();
        let (_, back) = read_file(aligned_copy(&bytes), ReadOptions::default()).unwrap();
        assert_eq!(all_strings(&back, 0), all_strings(&tables, 0));
        // One dictionary that grew: a, b | c | d.
        assert_eq!(dictionary(&back[3].cols[0]), ["a", "b", "c", "d"]);
        // The first dictionary whole, then deltas of only the new values;
        // the last table adds nothing and sends nothing.
        let plan: Vec<usize> = file_messages(&schema, &tables)
            .iter()
            .map(|ms| ms.iter().filter(|(d, _)| *d).count())
            .collect();
        assert_eq!(plan, [1, 1, 1, 0]);
    }

    #[test]
    fn unify_table_rewrites_keys_and_shares_what_already_matches() {
        let tables = tables(&REPLACED);
        let mut unifier = DictionaryUnifier::new(Arc::new(Schema::from_table(&tables[0]))).unwrap();
        let first = unifier.unify_table(&tables[0]).unwrap();
        // Already the unified dictionary: the very same array.
        match (&first.cols[0].array, &tables[0].cols[0].array) {
            (
                Array::TextArray(TextArray::Categorical32(a)),
                Array::TextArray(TextArray::Categorical32(b)),
            ) => assert!(Arc::ptr_eq(a, b)),
            _ => panic!("categorical32 expected"),
        }
        let second = unifier.unify_table(&tables[1]).unwrap();
        let Array::TextArray(TextArray::Categorical32(a)) = &second.cols[0].array else {
            panic!("categorical32 expected");
        };
        assert_eq!(a.unique_values.as_slice(), ["a", "b", "c"]);
        // b c b null -> 1 2 1, and the garbage key under the null becomes 0.
        assert_eq!(a.data.as_slice(), [1, 2, 1, 0]);
        assert_eq!(strings(&second.cols[0]), strings(&tables[1].cols[0]));
        assert_eq!(second.cols[0].null_count, 1);
        assert_eq!(unifier.dictionary_len(0), 3);

        let all = unify_dictionaries(&Schema::from_table(&tables[0]), &tables).unwrap();
        assert_eq!(all_strings(&all, 0), all_strings(&tables, 0));
        let dicts: Vec<Vec<String>> = all.iter().map(|t| dictionary(&t.cols[0])).collect();
        assert_eq!(dicts[2], ["a", "b", "c", "d"]);
        // Each one a prefix of the next: any writer sends deltas only.
        assert!(dicts.windows(2).all(|w| w[1].starts_with(&w[0])));
    }

    #[test]
    fn identical_dictionaries_send_nothing_and_keys_are_borrowed() {
        let step: (&[Option<u64>], &[&str]) = (&[Some(1), None, Some(0)], &["x", "y"]);
        let tables = tables(&[step, step, step]);
        let schema = Schema::from_table(&tables[0]);
        let plan = file_messages(&schema, &tables);
        assert_eq!(plan.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1, 1]);
        // A dictionary already unified is written from the table's own keys.
        let mut enc = IpcFileEncoder::new(Arc::new(schema), WriteOptions::default()).unwrap();
        enc.begin().unwrap();
        let Array::TextArray(TextArray::Categorical32(a)) = &tables[1].cols[0].array else {
            panic!("categorical32 expected");
        };
        enc.encode_table(&tables[0]).unwrap();
        let ms = enc.encode_table(&tables[1]).unwrap();
        let keys = a.data.as_slice().as_ptr() as *const u8;
        assert!(
            ms[0].io_slices().iter().any(|s| s.as_ptr() == keys),
            "the keys were copied"
        );
    }

    #[test]
    fn deltas_carry_only_new_values_however_many_batches() {
        // Every batch holds the whole dictionary so far plus one value (what
        // reading a stream with deltas gives), or only its new value (a
        // replacement per batch): either way each delta is one value, so the
        // bytes sent per batch stay the same however long the file gets.
        let words: Vec<String> = (0..300).map(|i| format!("value {i:04}")).collect();
        for cumulative in [true, false] {
            let tables: Vec<Table> = (0..words.len())
                .map(|i| {
                    let from = if cumulative { 0 } else { i };
                    let values: Vec<&str> = words[from..=i].iter().map(String::as_str).collect();
                    let key = (i - from) as u64;
                    table(vec![column(
                        "c",
                        CategoricalIndexType::UInt16,
                        &[Some(key)],
                        &values,
                    )])
                })
                .collect();
            let schema = Schema::from_table(&tables[0]);
            let plan = file_messages(&schema, &tables);
            let deltas: Vec<usize> = plan[1..]
                .iter()
                .map(|ms| {
                    assert_eq!(ms.len(), 2, "one delta and the batch");
                    ms[0].1
                })
                .collect();
            assert!(
                deltas.iter().all(|&n| n == deltas[0]),
                "delta bodies grow (cumulative: {cumulative}): {:?} .. {:?}",
                &deltas[..3],
                &deltas[deltas.len() - 3..]
            );
            let bytes = write_file(&schema, &tables, &WriteOptions::default()).unwrap();
            let (_, back) = read_file(aligned_copy(&bytes), ReadOptions::default()).unwrap();
            let got: Vec<Option<String>> = back.iter().flat_map(|t| strings(&t.cols[0])).collect();
            let want: Vec<Option<String>> = words.iter().cloned().map(Some).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn a_dictionary_outgrowing_its_key_type_is_an_error_and_changes_nothing() {
        let words: Vec<String> = (0..300).map(|i| format!("w{i}")).collect();
        let step = |from: usize, to: usize| {
            let values: Vec<&str> = words[from..to].iter().map(String::as_str).collect();
            let keys: Vec<Option<u64>> = (0..values.len() as u64).map(Some).collect();
            table(vec![column(
                "city",
                CategoricalIndexType::UInt8,
                &keys,
                &values,
            )])
        };
        // UInt8 keys: 256 values at most; Int8 keys: 128.
        for (signed, fits, over) in [(false, 256, 300), (true, 128, 129)] {
            let (first, second, known) = (step(0, fits / 2), step(fits / 2, over), step(0, 10));
            let mut schema = Schema::from_table(&first);
            if signed && let Some(d) = schema.dictionaries[0].as_mut() {
                d.index_type = IndexType::Int8;
            }
            let mut enc =
                IpcFileEncoder::new(Arc::new(schema.clone()), WriteOptions::default()).unwrap();
            let mut out = enc.begin().unwrap().to_vec();
            for m in enc.encode_table(&first).unwrap() {
                m.append_to(&mut out);
            }
            let e = enc.encode_table(&second).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Schema);
            let name = if signed { "Int8" } else { "UInt8" };
            for part in [
                "\"city\"",
                name,
                &format!("takes {over} values"),
                &format!("({fits})"),
            ] {
                assert!(e.to_string().contains(part), "{part} missing from: {e}");
            }
            assert_eq!(e.location().field.as_deref(), Some("city"));
            // The failed table left no trace: the next one still fits and the
            // file reads back exactly what was written.
            for m in enc.encode_table(&known).unwrap() {
                m.append_to(&mut out);
            }
            out.extend(enc.finish().unwrap());
            let (_, back) = read_file(aligned_copy(&out), ReadOptions::default()).unwrap();
            assert_eq!(back.len(), 2);
            assert_eq!(strings(&back[0].cols[0]), strings(&first.cols[0]));
            assert_eq!(strings(&back[1].cols[0]), strings(&known.cols[0]));
            assert_eq!(dictionary(&back[1].cols[0]).len(), fits / 2);
        }
    }

    #[test]
    fn a_valid_row_with_a_key_past_its_dictionary_is_an_error() {
        let tables = tables(&[
            (&[Some(0)], &["a"]),
            (&[Some(0), None, Some(2)], &["b", "c"]),
        ]);
        let schema = Schema::from_table(&tables[0]);
        let e = write_file(&schema, &tables, &WriteOptions::default()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Schema);
        assert!(e.to_string().contains("key 2 at row 2"), "{e}");
    }

    #[test]
    fn columns_sharing_a_dictionary_id_are_unified_together() {
        let t = |a: &[&str], b: &[&str]| {
            table(vec![
                column("a", CategoricalIndexType::UInt32, &[Some(0), Some(1)], a),
                column("b", CategoricalIndexType::UInt32, &[Some(1), Some(0)], b),
            ])
        };
        let tables = vec![t(&["x", "y"], &["y", "z"]), t(&["z", "w"], &["x", "w"])];
        let mut schema = Schema::from_table(&tables[0]);
        if let Some(d) = schema.dictionaries[1].as_mut() {
            d.id = 0;
        }
        let bytes = write_file(&schema, &tables, &WriteOptions::default()).unwrap();
        let (_, back) = read_file(aligned_copy(&bytes), ReadOptions::default()).unwrap();
        for col in 0..2 {
            assert_eq!(all_strings(&back, col), all_strings(&tables, col));
        }
        assert_eq!(dictionary(&back[1].cols[1]), ["x", "y", "z", "w"]);
    }

    #[test]
    fn streams_replace_unless_asked_to_unify() {
        let tables = tables(&REPLACED);
        let schema = Schema::from_table(&tables[0]);
        let dicts = |options: WriteOptions| {
            let mut enc = IpcStreamEncoder::new(Arc::new(schema.clone()), options).unwrap();
            enc.schema_message().unwrap();
            let plan: Vec<usize> = tables
                .iter()
                .map(|t| enc.encode_table(t).unwrap().len() - 1)
                .collect();
            let bytes = write_stream(&schema, &tables, &options).unwrap();
            let (_, back) = read_stream(aligned_copy(&bytes), ReadOptions::default()).unwrap();
            assert_eq!(all_strings(&back, 0), all_strings(&tables, 0));
            (plan, dictionary(&back[3].cols[0]))
        };
        // As given: a replacement for every change, the table's own dictionary.
        assert_eq!(
            dicts(WriteOptions::default()),
            (vec![1, 1, 1, 1], vec!["a".to_string()])
        );
        let unify = WriteOptions {
            unify_dictionaries: true,
            ..WriteOptions::default()
        };
        let (plan, last) = dicts(unify);
        assert_eq!(plan, [1, 1, 1, 0]);
        assert_eq!(last, ["a", "b", "c", "d"]);
        // Unified without deltas: the grown dictionary is resent whole.
        let no_deltas = WriteOptions {
            allow_delta_dictionaries: false,
            ..unify
        };
        assert_eq!(dicts(no_deltas).0, [1, 1, 1, 0]);
        // A file cannot do without deltas once a dictionary grows.
        let e = write_file(&schema, &tables, &no_deltas).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Schema);
        assert!(e.to_string().contains("allow_delta_dictionaries"), "{e}");
    }
}
