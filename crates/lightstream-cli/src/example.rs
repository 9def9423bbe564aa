//! The example table behind `lightstream example` (and the README demo).
//!
//! What it is for: a small, realistic table that exercises the common Arrow types
//! (int64, utf8, dictionary<int32, utf8>, float64 with nulls, int32, bool,
//! timestamp(ms, UTC), date32), plus field and schema metadata, split into batches
//! of 256 rows. Values are pseudo-random but fixed: the same row count always gives
//! the same bytes, so tests and docs can quote real values.
//!
//! What it is not: a benchmark data generator or a source of randomness (a tiny
//! xorshift with a fixed seed is all it needs).

use crate::rng::XorShift;
use std::collections::BTreeMap;
use std::sync::Arc;

use lightstream_core::minarrow::ffi::arrow_dtype::CategoricalIndexType;
use lightstream_core::minarrow::{
    Array, ArrowType, Bitmask, BooleanArray, CategoricalArray, DatetimeArray, Field, FieldArray,
    FloatArray, IntegerArray, NumericArray, StringArray, Table, TemporalArray, TextArray, TimeUnit,
    Vec64,
};
use lightstream_core::{IndexType, Schema};

/// Rows per record batch.
pub const BATCH_ROWS: usize = 256;

/// 2024-01-01T00:00:00Z in milliseconds since the epoch.
const START_MS: i64 = 1_704_067_200_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

const FIRST_NAMES: [&str; 12] = [
    "Ada",
    "Alan",
    "Barbara",
    "Dennis",
    "Edsger",
    "Frances",
    "Grace",
    "John",
    "Katherine",
    "Ken",
    "Margaret",
    "Niklaus",
];
const LAST_NAMES: [&str; 10] = [
    "Allen", "Backus", "Hamilton", "Hopper", "Johnson", "Knuth", "Liskov", "Lovelace", "Ritchie",
    "Turing",
];
/// The dictionary of the `city` column, the same in every batch.
const CITIES: [&str; 8] = [
    "Amsterdam",
    "Berlin",
    "Lisbon",
    "Nairobi",
    "Osaka",
    "Oslo",
    "Santiago",
    "Toronto",
];

/// Column indices, in schema order.
const CITY: usize = 2;

fn fields() -> Vec<Arc<Field>> {
    let price_metadata = BTreeMap::from([("unit".to_string(), "EUR".to_string())]);
    vec![
        Arc::new(Field::new("id", ArrowType::Int64, false, None)),
        Arc::new(Field::new("name", ArrowType::String, false, None)),
        Arc::new(Field::new(
            "city",
            ArrowType::Dictionary(CategoricalIndexType::UInt32),
            false,
            None,
        )),
        Arc::new(Field::new(
            "price",
            ArrowType::Float64,
            true,
            Some(price_metadata),
        )),
        Arc::new(Field::new("qty", ArrowType::Int32, false, None)),
        Arc::new(Field::new("in_stock", ArrowType::Boolean, false, None)),
        Arc::new(Field::new(
            "ts",
            ArrowType::Timestamp(TimeUnit::Milliseconds, Some("UTC".to_string())),
            false,
            None,
        )),
        Arc::new(Field::new("day", ArrowType::Date32, false, None)),
    ]
}

/// The example schema. `city` uses signed 32-bit dictionary keys, Arrow's usual
/// choice, so every Arrow reader accepts it.
pub fn schema(rows: usize) -> Arc<Schema> {
    let metadata = BTreeMap::from([
        ("generator".to_string(), "lightstream example".to_string()),
        ("rows".to_string(), rows.to_string()),
    ]);
    let mut schema = Schema::new(fields(), metadata);
    if let Some(Some(encoding)) = schema.dictionaries.get_mut(CITY) {
        encoding.index_type = IndexType::Int32;
    }
    Arc::new(schema)
}

/// The example table's batches, generated one at a time.
pub struct ExampleBatches {
    schema: Arc<Schema>,
    rng: XorShift,
    next_row: usize,
    rows: usize,
}

impl ExampleBatches {
    pub fn new(schema: Arc<Schema>, rows: usize) -> Self {
        ExampleBatches {
            schema,
            rng: XorShift(0x9E37_79B9_7F4A_7C15),
            next_row: 0,
            rows,
        }
    }

    fn batch(&mut self, len: usize) -> Table {
        let first = self.next_row;
        let mut ids = Vec::with_capacity(len);
        let mut names = Vec::with_capacity(len);
        let mut cities = Vec::with_capacity(len);
        let mut prices = Vec::with_capacity(len);
        let mut price_valid = Bitmask::new_set_all(len, true);
        let mut qtys = Vec::with_capacity(len);
        let mut in_stock = Vec::with_capacity(len);
        let mut stamps = Vec::with_capacity(len);
        let mut days = Vec::with_capacity(len);
        for i in 0..len {
            let row = first + i;
            let rng = &mut self.rng;
            ids.push(row as i64 + 1);
            let first_name = FIRST_NAMES[rng.below(FIRST_NAMES.len() as u64) as usize];
            let last_name = LAST_NAMES[rng.below(LAST_NAMES.len() as u64) as usize];
            names.push(format!("{first_name} {last_name}"));
            cities.push(rng.below(CITIES.len() as u64) as u32);
            // About one price in ten is missing.
            if rng.below(10) == 0 {
                price_valid.set(i, false);
                prices.push(0.0);
            } else {
                prices.push(rng.below(100_000) as f64 / 100.0);
            }
            qtys.push(rng.below(500) as i32);
            in_stock.push(rng.below(4) != 0);
            // One row per hour, at a random minute within it.
            let ts = START_MS + row as i64 * HOUR_MS + rng.below(HOUR_MS as u64) as i64;
            stamps.push(ts);
            days.push(ts.div_euclid(DAY_MS) as i32);
        }
        self.next_row += len;

        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let dictionary = CITIES.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        let arrays = vec![
            Array::NumericArray(NumericArray::Int64(Arc::new(IntegerArray::from_slice(
                &ids,
            )))),
            Array::TextArray(TextArray::String32(Arc::new(StringArray::from_vec(
                names, None,
            )))),
            Array::TextArray(TextArray::Categorical32(Arc::new(CategoricalArray::new(
                Vec64::from(cities),
                dictionary.into(),
                None,
            )))),
            Array::NumericArray(NumericArray::Float64(Arc::new(FloatArray::new(
                Vec64::from(prices),
                Some(price_valid),
            )))),
            Array::NumericArray(NumericArray::Int32(Arc::new(IntegerArray::from_slice(
                &qtys,
            )))),
            Array::BooleanArray(Arc::new(BooleanArray::from_slice(&in_stock))),
            Array::TemporalArray(TemporalArray::Datetime64(Arc::new(
                DatetimeArray::from_slice(&stamps, Some(TimeUnit::Milliseconds)),
            ))),
            Array::TemporalArray(TemporalArray::Datetime32(Arc::new(
                DatetimeArray::from_slice(&days, Some(TimeUnit::Days)),
            ))),
        ];
        let cols = self
            .schema
            .fields
            .iter()
            .zip(arrays)
            .map(|(field, array)| FieldArray::new_arc(field.clone(), array))
            .collect();
        Table {
            cols,
            n_rows: len,
            name: "example".to_string(),
            metadata: self.schema.metadata.clone(),
        }
    }
}

impl Iterator for ExampleBatches {
    type Item = Table;

    fn next(&mut self) -> Option<Table> {
        let len = (self.rows - self.next_row).min(BATCH_ROWS);
        (len > 0).then(|| self.batch(len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::cell;

    #[test]
    fn batches_of_256_rows() {
        let lens: Vec<usize> = ExampleBatches::new(schema(1000), 1000)
            .map(|t| t.n_rows)
            .collect();
        assert_eq!(lens, vec![256, 256, 256, 232]);
        assert_eq!(ExampleBatches::new(schema(0), 0).count(), 0);
    }

    #[test]
    fn columns_match_the_schema() {
        let schema = schema(300);
        for table in ExampleBatches::new(schema.clone(), 300) {
            assert_eq!(table.cols.len(), schema.fields.len());
            for (col, field) in table.cols.iter().zip(&schema.fields) {
                assert_eq!(col.len(), table.n_rows, "{}", field.name);
                assert!(Arc::ptr_eq(&col.field, field));
            }
        }
    }

    #[test]
    fn values_are_deterministic_and_consistent() {
        let a: Vec<Table> = ExampleBatches::new(schema(600), 600).collect();
        let b: Vec<Table> = ExampleBatches::new(schema(600), 600).collect();
        assert_eq!(a, b);
        let mut nulls = 0;
        for (batch, table) in a.iter().enumerate() {
            for row in 0..table.n_rows {
                assert_eq!(
                    cell(table, 0, row),
                    (batch * BATCH_ROWS + row + 1).to_string()
                );
                // The day is the date of the timestamp.
                let ts = cell(table, 6, row);
                assert_eq!(ts[..10], cell(table, 7, row));
                assert!(ts.ends_with('Z'));
                nulls += usize::from(cell(table, 3, row) == "null");
            }
        }
        assert!((30..90).contains(&nulls), "{nulls} null prices in 600 rows");
    }
}
