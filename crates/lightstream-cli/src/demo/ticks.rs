//! The demo's generated table: a continuously updating table of market
//! ticks, one generator for the demo's one live feed (`stream.rs`).
//!
//! Columns: `seq` (Int64, one sequence across all batches of the feed),
//! `time` (Timestamp(ms, UTC), wall clock), `symbol` (dictionary of strings;
//! now and then a new symbol appears, so dictionary deltas flow), `price`
//! (Float64, a random walk per symbol), `qty` (Int32), `buy` (Boolean) and
//! `venue` (Utf8, about one in ten null). Values come from a fixed-seed
//! xorshift, so every run of the demo makes the same rows (only `time`
//! differs).
//!
//! What it is not: I/O. `stream.rs` sends what this makes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lightstream_core::minarrow::ffi::arrow_dtype::CategoricalIndexType;
use lightstream_core::minarrow::{
    Array, ArrowType, Bitmask, BooleanArray, CategoricalArray, DatetimeArray, Field, FieldArray,
    FloatArray, IntegerArray, NumericArray, StringArray, Table, TemporalArray, TextArray, TimeUnit,
    Vec64,
};
use lightstream_core::{IndexType, Schema};

use crate::rng::XorShift;

/// The symbols every stream starts with.
const SYMBOLS: [&str; 12] = [
    "ACME", "BOLT", "CRUX", "DYNA", "ECHO", "FLUX", "GRID", "HALO", "IRIS", "JADE", "KILO", "LUMA",
];
/// New symbols stop appearing once the dictionary has this many.
const MAX_SYMBOLS: usize = 64;
/// One batch in this many brings a new symbol (until `MAX_SYMBOLS`).
const NEW_SYMBOL_EVERY: u64 = 20;
const VENUES: [&str; 6] = ["XNAS", "XNYS", "ARCX", "BATS", "EDGX", "IEXG"];

/// Column indices, in schema order.
const SYMBOL: usize = 2;

/// The demo stream's schema.
fn ticks_schema() -> Arc<Schema> {
    let field = |name: &str, dtype: ArrowType, nullable: bool| {
        Arc::new(Field::new(name, dtype, nullable, None))
    };
    let fields = vec![
        field("seq", ArrowType::Int64, false),
        field(
            "time",
            ArrowType::Timestamp(TimeUnit::Milliseconds, Some("UTC".to_string())),
            false,
        ),
        field(
            "symbol",
            ArrowType::Dictionary(CategoricalIndexType::UInt32),
            false,
        ),
        field("price", ArrowType::Float64, false),
        field("qty", ArrowType::Int32, false),
        field("buy", ArrowType::Boolean, false),
        field("venue", ArrowType::String, true),
    ];
    let metadata = BTreeMap::from([("generator".to_string(), "lightstream demo".to_string())]);
    let mut schema = Schema::new(fields, metadata);
    // Signed 32-bit keys, Arrow's usual choice, as `lightstream example` does.
    if let Some(Some(encoding)) = schema.dictionaries.get_mut(SYMBOL) {
        encoding.index_type = IndexType::Int32;
    }
    Arc::new(schema)
}

/// The generator of the feed.
pub(super) struct Ticks {
    pub(super) schema: Arc<Schema>,
    rows: usize,
    interval_ms: i64,
    rng: XorShift,
    seq: i64,
    /// The dictionary of `symbol`: only ever grows, so it goes out as deltas.
    symbols: Vec<String>,
    /// The last price of each symbol.
    prices: Vec<f64>,
}

impl Ticks {
    pub(super) fn new(rows: usize, interval: Duration) -> Ticks {
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        let prices = SYMBOLS.iter().map(|_| start_price(&mut rng)).collect();
        Ticks {
            schema: ticks_schema(),
            rows,
            interval_ms: i64::try_from(interval.as_millis()).unwrap_or(i64::MAX),
            rng,
            seq: 0,
            symbols: SYMBOLS.iter().map(|s| s.to_string()).collect(),
            prices,
        }
    }

    /// Now and then a new symbol: four letters not used yet.
    fn maybe_new_symbol(&mut self) {
        if self.symbols.len() >= MAX_SYMBOLS || self.rng.below(NEW_SYMBOL_EVERY) != 0 {
            return;
        }
        for _attempt in 0..8 {
            let name: String = (0..4)
                .map(|_| char::from(b'A' + self.rng.below(26) as u8))
                .collect();
            if !self.symbols.contains(&name) {
                self.symbols.push(name);
                self.prices.push(start_price(&mut self.rng));
                return;
            }
        }
    }

    /// The next batch; its rows' times are spread over the interval that ends
    /// at `now_ms`.
    pub(super) fn next_table(&mut self, now_ms: i64) -> Table {
        self.maybe_new_symbol();
        let n = self.rows;
        let mut seqs = Vec::with_capacity(n);
        let mut times = Vec::with_capacity(n);
        let mut keys = Vec::with_capacity(n);
        let mut prices = Vec::with_capacity(n);
        let mut qtys = Vec::with_capacity(n);
        let mut buys = Vec::with_capacity(n);
        let mut venues = Vec::with_capacity(n);
        let mut venue_valid = Bitmask::new_set_all(n, true);
        let span = self.interval_ms;
        let start = now_ms.saturating_sub(span);
        for i in 0..n {
            let rng = &mut self.rng;
            self.seq += 1;
            seqs.push(self.seq);
            let offset = (span as i128 * (i as i128 + 1) / n as i128) as i64;
            times.push(start.saturating_add(offset));
            let key = rng.below(self.symbols.len() as u64) as usize;
            keys.push(key as u32);
            // A random walk of at most ±0.2% per tick, in cents, never below 1.
            let price = &mut self.prices[key];
            *price = ((*price * (1.0 + (rng.unit() - 0.5) * 0.004)) * 100.0).round() / 100.0;
            *price = price.max(1.0);
            prices.push(*price);
            qtys.push(((rng.below(40) + 1) * 25) as i32);
            buys.push(rng.below(2) == 0);
            if rng.below(10) == 0 {
                venue_valid.set(i, false);
                venues.push("");
            } else {
                venues.push(VENUES[rng.below(VENUES.len() as u64) as usize]);
            }
        }
        let arrays = vec![
            Array::NumericArray(NumericArray::Int64(Arc::new(IntegerArray::from_slice(
                &seqs,
            )))),
            Array::TemporalArray(TemporalArray::Datetime64(Arc::new(
                DatetimeArray::from_slice(&times, Some(TimeUnit::Milliseconds)),
            ))),
            Array::TextArray(TextArray::Categorical32(Arc::new(CategoricalArray::new(
                Vec64::from(keys),
                self.symbols.clone().into(),
                None,
            )))),
            Array::NumericArray(NumericArray::Float64(Arc::new(FloatArray::new(
                Vec64::from(prices),
                None,
            )))),
            Array::NumericArray(NumericArray::Int32(Arc::new(IntegerArray::from_slice(
                &qtys,
            )))),
            Array::BooleanArray(Arc::new(BooleanArray::from_slice(&buys))),
            Array::TextArray(TextArray::String32(Arc::new(StringArray::from_vec(
                venues,
                Some(venue_valid),
            )))),
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
            n_rows: n,
            name: "ticks".to_string(),
            metadata: self.schema.metadata.clone(),
        }
    }
}

/// A starting price between 10 and 500.
fn start_price(rng: &mut XorShift) -> f64 {
    (10.0 + rng.unit() * 490.0).round()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::cell;
    use lightstream_core::WriteOptions;

    #[test]
    fn ticks_match_the_schema_and_count_on() {
        let mut ticks = Ticks::new(500, Duration::from_millis(100));
        let schema = ticks.schema.clone();
        let mut next_seq = 1;
        let mut nulls = 0;
        let mut dictionary: Vec<String> = Vec::new();
        let mut grew = 0;
        for batch in 0..200 {
            let now = 1_700_000_000_000 + batch * 100;
            let table = ticks.next_table(now);
            assert_eq!(table.n_rows, 500);
            assert_eq!(table.cols.len(), schema.fields.len());
            for (col, field) in table.cols.iter().zip(&schema.fields) {
                assert_eq!(col.len(), 500, "{}", field.name);
                assert!(Arc::ptr_eq(&col.field, field));
            }
            for row in 0..table.n_rows {
                assert_eq!(cell(&table, 0, row), next_seq.to_string());
                next_seq += 1;
                let price: f64 = cell(&table, 3, row).parse().expect("a price");
                assert!(price >= 1.0, "{price}");
                nulls += usize::from(cell(&table, 6, row) == "null");
            }
            // The dictionary only grows, so the writer sends deltas.
            let Array::TextArray(TextArray::Categorical32(symbols)) = &table.cols[SYMBOL].array
            else {
                panic!("symbol is a dictionary column");
            };
            let values = symbols.unique_values.to_vec();
            assert!(values.starts_with(&dictionary));
            grew += usize::from(values.len() > dictionary.len() && batch > 0);
            dictionary = values;
        }
        assert!(grew >= 3, "the dictionary grew {grew} times");
        assert!(dictionary.len() <= MAX_SYMBOLS);
        let rows = 200 * 500;
        assert!(
            (rows / 20..rows / 5).contains(&nulls),
            "{nulls} null venues in {rows} rows"
        );
    }

    #[test]
    fn ticks_encode_as_a_stream_with_dictionary_deltas() {
        use lightstream_core::{ReadOptions, aligned_copy, read_stream, write_stream};
        let mut ticks = Ticks::new(50, Duration::ZERO);
        let tables: Vec<Table> = (0..100).map(|i| ticks.next_table(i)).collect();
        let bytes = write_stream(&ticks.schema, &tables, &WriteOptions::default()).expect("write");
        let (schema, back) =
            read_stream(aligned_copy(&bytes), ReadOptions::default()).expect("read");
        assert_eq!(schema.fields.len(), 7);
        assert_eq!(back.len(), 100);
        assert_eq!(cell(&back[99], 0, 49), "5000");
        assert_eq!(cell(&back[99], 2, 0), cell(&tables[99], 2, 0));
    }
}
