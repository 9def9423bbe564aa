//! The block classifier of the CSV splitter: 64 input bytes at a time become
//! bit masks (bit `i` for byte `i`) of classes of bytes: quote, delimiter, LF
//! and CR for the boundary scan; quote, delimiter and structural (delimiter,
//! LF or CR) for the splitter, which asks for LFs only when it counts lines
//! inside quotes; and a
//! run of quote masks becomes the mask of bytes inside quotes (a prefix XOR,
//! with the state carried from one block to the next). Doubled quotes toggle
//! twice, so they need no special case here: the tokenizer looks at the
//! quotes of a record to tell what csv-core must unquote.
//!
//! Per target: SSE2 on x86_64 (its baseline, so no runtime detection), simd128
//! on wasm32 when the build enables it (the npm build does), and a portable
//! word-at-a-time (SWAR) fallback everywhere else. The only `unsafe` is the
//! unaligned 16-byte SIMD load; the SIMD paths split a file of short fields
//! 2.4x faster than the SWAR one (benches/README.md, "CSV").
//!
//! Not the splitting into records and fields (`tokenizer.rs`) nor any
//! semantics beyond RFC 4180 quote parity.

/// Bytes per block.
pub(super) const BLOCK: usize = 64;

/// The classes of one block's bytes, a bit per byte (bit `i` is byte `i`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Masks {
    pub(super) quote: u64,
    pub(super) delim: u64,
    pub(super) lf: u64,
    pub(super) cr: u64,
}

/// The two masks the splitter needs of a block: its quotes and its
/// structural bytes (the delimiter, LF and CR; inside quotes or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Split {
    pub(super) quote: u64,
    pub(super) delim: u64,
    pub(super) structural: u64,
}

/// Classifies blocks for one delimiter and quote byte.
#[derive(Debug, Clone, Copy)]
pub(super) struct Classifier {
    delimiter: u8,
    quote: u8,
}

impl Classifier {
    pub(super) fn new(delimiter: u8, quote: u8) -> Self {
        Classifier { delimiter, quote }
    }

    /// The bytes the classes are made of: quote, delimiter, LF, CR.
    #[inline(always)]
    fn bytes(&self) -> [u8; 4] {
        [self.quote, self.delimiter, b'\n', b'\r']
    }

    /// The four masks of a full block.
    #[cfg(test)]
    pub(super) fn block(&self, b: &[u8; BLOCK]) -> Masks {
        let [quote, delim, lf, cr] = any_of(b, self.bytes(), [Q, D, LF, CR]);
        Masks {
            quote,
            delim,
            lf,
            cr,
        }
    }

    /// The masks of the block at `input[at..]`, which may be shorter than
    /// a block (the end of the input): bits past the end are clear, whatever
    /// the delimiter (even a NUL byte).
    #[inline(always)]
    pub(super) fn at(&self, input: &[u8], at: usize) -> Masks {
        let [quote, delim, lf, cr] = padded(input, at, self.bytes(), [Q, D, LF, CR]);
        Masks {
            quote,
            delim,
            lf,
            cr,
        }
    }

    /// The splitter's masks of the block at `input[at..]` (as [`Self::at`]):
    /// three classes instead of four, the line breaks only together with
    /// the delimiter (which is never a CR or LF), whose compare is shared.
    #[inline(always)]
    pub(super) fn split_at(&self, input: &[u8], at: usize) -> Split {
        let [quote, delim, structural] = padded(input, at, self.bytes(), [Q, D, D | LF | CR]);
        Split {
            quote,
            delim,
            structural,
        }
    }

    /// The LF mask of the block at `input[at..]` (as [`Self::at`]), which
    /// the splitter only needs for a block with bytes inside quotes.
    #[inline]
    pub(super) fn lf_at(&self, input: &[u8], at: usize) -> u64 {
        let [lf] = padded(input, at, self.bytes(), [LF]);
        lf
    }
}

/// The classes' bits over [`Classifier::bytes`].
const Q: u8 = 1;
const D: u8 = 2;
const LF: u8 = 4;
const CR: u8 = 8;

/// [`any_of`] on the block at `input[at..]`, zero-padded when shorter, its
/// bits past the end cleared.
#[inline(always)]
fn padded<const N: usize>(input: &[u8], at: usize, bytes: [u8; 4], classes: [u8; N]) -> [u64; N] {
    let rest = input.get(at..).unwrap_or(&[]);
    if let Some(b) = rest.first_chunk::<BLOCK>() {
        return any_of(b, bytes, classes);
    }
    let mut b = [0u8; BLOCK];
    b[..rest.len()].copy_from_slice(rest);
    // `rest` is shorter than a block here, so the shift is in range.
    let keep = (1u64 << rest.len()) - 1;
    any_of(&b, bytes, classes).map(|m| m & keep)
}

/// Where a quote-aware scan of some CSV bytes can cut them into whole
/// records ([`scan_boundary`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Boundary {
    /// The offset just after the last record terminator outside quotes: an
    /// LF, or a CR not followed by an LF (a CR that is the last byte scanned
    /// is not one: an LF may follow it). `None` when there is none.
    pub last_record_end: Option<usize>,
    /// Whether the scanned bytes end inside quotes (to pass to the scan of
    /// the bytes that follow).
    pub in_quotes_at_end: bool,
    /// Line feeds (inside quotes too) in the bytes before `last_record_end`,
    /// or in all the bytes when it is `None`.
    pub lf_count: u64,
}

/// Finds the last record boundary in `bytes` by quote parity, starting
/// inside quotes when `in_quotes` (the [`Boundary::in_quotes_at_end`] of the
/// bytes before). The same 64-byte classifier as the decoder's splitter.
///
/// Exact for RFC 4180 input: there, whether a byte is inside quotes is the
/// parity of the quotes before it (doubled quotes toggle twice). A quote
/// outside RFC 4180 (inside an unquoted field, or text after a closing
/// quote) is read literally by the decoder and breaks the parity; a decoder
/// made with [`CsvDecoder::for_chunk`](super::CsvDecoder::for_chunk) reports
/// meeting one ([`CsvDecoder::met_stray_quote`](super::CsvDecoder::met_stray_quote)),
/// so a caller cutting a file here can redo that part serially.
///
/// ```
/// use lightstream_core::csv::scan_boundary;
///
/// let b = scan_boundary(b"a,\"x\ny\"\nb,c\r\nd", b'"', false);
/// assert_eq!((b.last_record_end, b.in_quotes_at_end, b.lf_count), (Some(13), false, 3));
/// let b = scan_boundary(b"a,\"x\n", b'"', false);
/// assert_eq!((b.last_record_end, b.in_quotes_at_end, b.lf_count), (None, true, 1));
/// ```
pub fn scan_boundary(bytes: &[u8], quote: u8, in_quotes: bool) -> Boundary {
    // The delimiter is not looked at: any byte serves.
    let classifier = Classifier::new(quote, quote);
    let mut carry = QuoteCarry(if in_quotes { !0 } else { 0 });
    let n = bytes.len();
    let mut lfs = 0u64;
    let mut last = None;
    let mut at = 0;
    while at < n {
        let m = classifier.at(bytes, at);
        let outside = !carry.inside(m.quote);
        // A CR followed by an LF ends at the LF; the LF after the block's
        // last byte is looked up in the input.
        let lf_next = (m.lf >> 1) | (u64::from(bytes.get(at + BLOCK) == Some(&b'\n')) << 63);
        let mut ends = (m.lf | (m.cr & !lf_next)) & outside;
        if at + BLOCK >= n {
            // The last byte scanned: a CR there may be half a CRLF.
            let last_bit = 1u64 << (n - 1 - at);
            if m.cr & last_bit != 0 {
                ends &= !last_bit;
            }
        }
        if ends != 0 {
            let bit = 63 - ends.leading_zeros();
            let upto = if bit == 63 { !0 } else { (2u64 << bit) - 1 };
            last = Some((
                at + bit as usize + 1,
                lfs + u64::from((m.lf & upto).count_ones()),
            ));
        }
        lfs += u64::from(m.lf.count_ones());
        at += BLOCK;
    }
    match last {
        Some((end, lf_count)) => Boundary {
            last_record_end: Some(end),
            in_quotes_at_end: carry.0 != 0,
            lf_count,
        },
        None => Boundary {
            last_record_end: None,
            in_quotes_at_end: carry.0 != 0,
            lf_count: lfs,
        },
    }
}

/// Where to cut a piece of about `target` bytes off the front of `bytes`,
/// which starts a record: at the last record boundary within `target`
/// bytes (the same boundaries as [`scan_boundary`]); when a record is
/// longer, at the last boundary of the first `target`-byte stretch after
/// them that has one; at the end of `bytes` when they are no longer than
/// `target`. Returns the piece's length and its line
/// feeds; `None` when no boundary comes within `max` bytes (a caller then
/// reads the rest as one piece, serially, to keep its memory bounded).
///
/// The quote state at `target` is the parity of the quotes before it, and
/// the boundary is looked for backwards from there, a block at a time, so
/// the bytes of a piece are only counted (quotes and line feeds, by
/// `memchr`'s vectorized count), not classified: the cutting thread stays
/// far ahead of the threads that parse.
pub fn cut_piece(bytes: &[u8], quote: u8, target: usize, max: usize) -> Option<(usize, u64)> {
    let target = target.max(1);
    let lfs = |b: &[u8]| memchr::memchr_iter(b'\n', b).count() as u64;
    if bytes.len() <= target {
        return Some((bytes.len(), lfs(bytes)));
    }
    let in_quotes = memchr::memchr_iter(quote, &bytes[..target]).count() % 2 == 1;
    if let Some(end) = last_end_before(bytes, target, quote, in_quotes) {
        return Some((end, lfs(&bytes[..end])));
    }
    // A record longer than `target`: the first boundary after it.
    let (mut from, mut in_quotes) = (target, in_quotes);
    loop {
        let to = (from + target).min(bytes.len());
        if to == bytes.len() {
            return Some((to, lfs(bytes)));
        }
        let b = scan_boundary(&bytes[from..to], quote, in_quotes);
        if let Some(end) = b.last_record_end {
            return Some((from + end, lfs(&bytes[..from + end])));
        }
        if to >= max {
            return None;
        }
        (from, in_quotes) = (to, b.in_quotes_at_end);
    }
}

/// The last record end at or before `end` (`end < bytes.len()`), given
/// whether `bytes[..end]` ends inside quotes: blocks are classified from
/// `end` backwards, each block's starting state being its ending state
/// flipped by the parity of its quotes.
fn last_end_before(bytes: &[u8], end: usize, quote: u8, in_quotes: bool) -> Option<usize> {
    let classifier = Classifier::new(quote, quote);
    let mut carry_end = in_quotes;
    let mut e = end;
    while e > 0 {
        let b = e.saturating_sub(BLOCK);
        let m = classifier.at(&bytes[..e], b);
        let carry_start = carry_end ^ (m.quote.count_ones() % 2 == 1);
        let inside = QuoteCarry(if carry_start { !0 } else { 0 }).inside(m.quote);
        // The byte after the block's last one is in `bytes` (e <= end < len).
        let n = e - b;
        let lf_next = (m.lf >> 1) | (u64::from(bytes.get(e) == Some(&b'\n')) << (n - 1));
        let ends = (m.lf | (m.cr & !lf_next)) & !inside;
        if ends != 0 {
            return Some(b + (63 - ends.leading_zeros()) as usize + 1);
        }
        (carry_end, e) = (carry_start, b);
    }
    None
}

/// Bit `i` of the result is the XOR of bits `0..=i` of `x`: set for the
/// bytes after an odd number of quotes (an opening quote is inside, its
/// closing quote outside).
#[inline]
pub(super) fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// The in-quotes state carried from block to block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct QuoteCarry(u64);

impl QuoteCarry {
    /// Whether the bytes so far leave a quote open.
    #[cfg(test)]
    fn in_quotes(self) -> bool {
        self.0 != 0
    }

    /// Whether a block with quote mask `quote` has no byte inside quotes
    /// and no quote (so its masks need no prefix XOR, and the carry stays).
    #[inline(always)]
    pub(super) fn quote_free(self, quote: u64) -> bool {
        (quote | self.0) == 0
    }

    /// The mask of the block's bytes inside quotes, given its quote mask;
    /// carries the state to the next block.
    #[inline]
    pub(super) fn inside(&mut self, quote: u64) -> u64 {
        let m = prefix_xor(quote) ^ self.0;
        // All ones when the last byte is inside quotes.
        self.0 = ((m as i64) >> 63) as u64;
        m
    }
}

/// For each class (a set of `bytes`: bit `i` for `bytes[i]`), the mask of
/// the block's bytes equal to one of them. Each byte is compared once a
/// lane and the compares of a class ORed before they become bits, so a
/// class of three costs one mask (the classes are constants once inlined:
/// the loops and the compares no class uses fold away).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn any_of<const N: usize>(b: &[u8; BLOCK], bytes: [u8; 4], classes: [u8; N]) -> [u64; N] {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        _mm_setzero_si128,
    };
    let mut out = [0u64; N];
    for (k, lane) in b.as_chunks::<16>().0.iter().enumerate() {
        // SAFETY: `lane` is a 16-byte array, so 16 readable bytes, and
        // `_mm_loadu_si128` has no alignment requirement. The other
        // intrinsics only need SSE2, which every x86_64 CPU has (the
        // target's baseline), so calling them is sound on this target.
        let bits = unsafe {
            let v = _mm_loadu_si128(lane.as_ptr().cast::<__m128i>());
            let eq = bytes.map(|c| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8)));
            classes.map(|set| {
                let mut acc = _mm_setzero_si128();
                for (i, e) in eq.iter().enumerate() {
                    if set >> i & 1 == 1 {
                        acc = _mm_or_si128(acc, *e);
                    }
                }
                _mm_movemask_epi8(acc) as u16
            })
        };
        for (o, m) in out.iter_mut().zip(bits) {
            *o |= u64::from(m) << (16 * k);
        }
    }
    out
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn any_of<const N: usize>(b: &[u8; BLOCK], bytes: [u8; 4], classes: [u8; N]) -> [u64; N] {
    use std::arch::wasm32::{i8x16_bitmask, i8x16_eq, u8x16_splat, v128, v128_load, v128_or};
    let mut out = [0u64; N];
    for (k, lane) in b.as_chunks::<16>().0.iter().enumerate() {
        // SAFETY: `lane` is a 16-byte array, so 16 readable bytes, and
        // `v128_load` has no alignment requirement. The other intrinsics
        // need simd128, which this build enables (the cfg above).
        let bits = unsafe {
            let v = v128_load(lane.as_ptr().cast::<v128>());
            let eq = bytes.map(|c| i8x16_eq(v, u8x16_splat(c)));
            classes.map(|set| {
                let mut acc = u8x16_splat(0);
                for (i, e) in eq.iter().enumerate() {
                    if set >> i & 1 == 1 {
                        acc = v128_or(acc, *e);
                    }
                }
                i8x16_bitmask(acc)
            })
        };
        for (o, m) in out.iter_mut().zip(bits) {
            *o |= u64::from(m) << (16 * k);
        }
    }
    out
}

#[cfg(not(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
)))]
#[inline(always)]
fn any_of<const N: usize>(b: &[u8; BLOCK], bytes: [u8; 4], classes: [u8; N]) -> [u64; N] {
    any_of_swar(b, bytes, classes)
}

/// The portable classifier: 8 bytes at a time, an exact zero-byte test per
/// byte of a class, the 8 flags gathered into a byte by one multiply.
#[cfg(any(
    test,
    not(any(
        target_arch = "x86_64",
        all(target_arch = "wasm32", target_feature = "simd128")
    ))
))]
#[inline(always)]
fn any_of_swar<const N: usize>(b: &[u8; BLOCK], bytes: [u8; 4], classes: [u8; N]) -> [u64; N] {
    const LO: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    // The byte's high bit set exactly where `w` equals `c` (no borrow
    // between bytes, unlike `(v - LO) & !v`).
    let eq = |w: u64, c: u8| {
        let v = w ^ (LO * u64::from(c));
        !(((v & LOW7) + LOW7) | v | LOW7)
    };
    let mut out = [0u64; N];
    for (k, word) in b.as_chunks::<8>().0.iter().enumerate() {
        let w = u64::from_le_bytes(*word);
        let eq = bytes.map(|c| eq(w, c));
        for (o, set) in out.iter_mut().zip(classes) {
            let t = (0..4)
                .filter(|i| set >> i & 1 == 1)
                .fold(0, |t, i| t | eq[i]);
            // The high bits moved to bit `k` for byte `k`: the multiply's
            // partial products never overlap, so nothing carries.
            *o |= (((t >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56) << (8 * k);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use csv_core::{ReadFieldResult, ReaderBuilder};
    use proptest::prelude::*;

    fn scalar(b: &[u8; BLOCK], delimiter: u8, quote: u8) -> Masks {
        let bits = |c: u8| {
            b.iter()
                .enumerate()
                .filter(|&(_, &x)| x == c)
                .fold(0u64, |m, (i, _)| m | 1 << i)
        };
        Masks {
            quote: bits(quote),
            delim: bits(delimiter),
            lf: bits(b'\n'),
            cr: bits(b'\r'),
        }
    }

    /// The structural positions (delimiters and line breaks outside quotes)
    /// of `input`, fed to the classifier in pieces cut at `cuts`, with the
    /// quote state carried across pieces as the tokenizer carries it.
    fn structurals(input: &[u8], cuts: &[usize], delimiter: u8, quote: u8) -> Vec<usize> {
        let c = Classifier::new(delimiter, quote);
        let mut carry = QuoteCarry::default();
        let mut out = Vec::new();
        let mut bounds: Vec<usize> = cuts.iter().map(|&k| k.min(input.len())).collect();
        bounds.push(input.len());
        bounds.sort_unstable();
        let mut from = 0;
        for to in bounds {
            let piece = &input[from..to];
            let mut at = 0;
            while at < piece.len() {
                // The splitter's masks, as the tokenizer takes them.
                let m = c.split_at(piece, at);
                let inside = carry.inside(m.quote);
                let n = (piece.len() - at).min(BLOCK);
                if n < BLOCK {
                    // A partial block: the carry must come from its last
                    // real byte, not from the padding.
                    carry = QuoteCarry(if inside >> (n - 1) & 1 == 1 { !0 } else { 0 });
                }
                let mut s = m.structural & !inside;
                while s != 0 {
                    out.push(from + at + s.trailing_zeros() as usize);
                    s &= s - 1;
                }
                at += BLOCK;
            }
            from = to;
        }
        out
    }

    /// The same by a byte-at-a-time parity walk.
    fn structurals_scalar(input: &[u8], delimiter: u8, quote: u8) -> Vec<usize> {
        let mut inside = false;
        let mut out = Vec::new();
        for (i, &b) in input.iter().enumerate() {
            if b == quote {
                inside = !inside;
            } else if !inside && (b == delimiter || b == b'\n' || b == b'\r') {
                out.push(i);
            }
        }
        out
    }

    /// The positions where csv-core ends a field (its delimiter or line
    /// break; a CRLF ends at the CR), for a document csv-core reads by
    /// parity: fields unquoted without quotes, or wholly quoted.
    fn csv_core_ends(input: &[u8], delimiter: u8, quote: u8) -> Vec<usize> {
        let mut rdr = ReaderBuilder::new()
            .delimiter(delimiter)
            .quote(quote)
            .build();
        let mut out = Vec::new();
        let mut pos = 0;
        let mut buf = vec![0u8; input.len() + 1];
        loop {
            let (res, nin, _) = rdr.read_field(&input[pos..], &mut buf);
            pos += nin;
            match res {
                ReadFieldResult::Field { .. } => {
                    // csv-core consumed the field's terminator (if any).
                    if pos > 0 && pos <= input.len() {
                        let t = input[pos - 1];
                        if t == delimiter || t == b'\n' || t == b'\r' {
                            out.push(pos - 1);
                        }
                    }
                }
                // The next call passes an empty slice: the end of the input.
                ReadFieldResult::InputEmpty => {}
                ReadFieldResult::OutputFull => unreachable!(),
                ReadFieldResult::End => break,
            }
        }
        out
    }

    fn field(quote: u8, delimiter: u8) -> impl Strategy<Value = Vec<u8>> {
        let text = prop::collection::vec(
            prop::sample::select(vec![b'a', b'7', b' ', 0xc3, 0xa9, 0]),
            0..6,
        );
        let quoted = prop::collection::vec(
            prop::sample::select(vec![b'a', delimiter, quote, b'\n', b'\r', 0xff]),
            0..12,
        );
        prop_oneof![
            text,
            quoted.prop_map(move |f| {
                let mut v = vec![quote];
                for b in f {
                    v.push(b);
                    if b == quote {
                        v.push(quote);
                    }
                }
                v.push(quote);
                v
            }),
        ]
    }

    /// A document of RFC 4180 records (quoted fields with doubled quotes,
    /// delimiters and line breaks inside; LF, CRLF or CR terminators).
    fn document() -> impl Strategy<Value = (Vec<u8>, u8, u8)> {
        prop_oneof![Just((b',', b'"')), Just((b';', b'\'')), Just((0u8, b'"'))].prop_flat_map(
            |(d, q)| {
                let rec = prop::collection::vec(field(q, d), 1..5);
                let term = prop::sample::select(vec![&b"\n"[..], b"\r\n", b"\r"]);
                prop::collection::vec((rec, term), 1..20).prop_map(move |recs| {
                    let mut doc = Vec::new();
                    for (mut fields, t) in recs {
                        if fields.len() == 1 && fields[0].is_empty() {
                            // An empty line, which csv-core skips.
                            fields[0].push(b'a');
                        }
                        for (i, f) in fields.iter().enumerate() {
                            if i > 0 {
                                doc.push(d);
                            }
                            doc.extend_from_slice(f);
                        }
                        doc.extend_from_slice(t);
                    }
                    (doc, d, q)
                })
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The SIMD (or SWAR) masks equal a byte-by-byte classification,
        /// and so do the SWAR masks on every target.
        #[test]
        fn masks_equal_scalar(
            bytes in prop::collection::vec(prop::sample::select(vec![b'a', b',', b'"', b'\n', b'\r', 0, 0x80, 0xff, b';']), BLOCK),
            d in prop::sample::select(vec![b',', b';', 0u8, 0xff]),
        ) {
            let mut b = [0u8; BLOCK];
            b.copy_from_slice(&bytes);
            let want = scalar(&b, d, b'"');
            prop_assert_eq!(Classifier::new(d, b'"').block(&b), want);
            let [quote, delim, lf, cr] = any_of_swar(&b, [b'"', d, b'\n', b'\r'], [Q, D, LF, CR]);
            prop_assert_eq!(Masks { quote, delim, lf, cr }, want);
        }

        /// The splitter's masks (`split_at`, `lf_at`) and the four masks
        /// (`at`) of the block at any offset of any input equal a
        /// byte-by-byte classification of the bytes there, with no bit past
        /// the end: quotes and CR / CRLF / LF on both sides of word and block
        /// edges, other delimiters (a NUL one too, which the padding holds).
        #[test]
        fn split_masks_equal_scalar_at_every_offset(
            input in prop::collection::vec(prop::sample::select(vec![b'a', b',', b'"', b'\'', b'\n', b'\r', b'\t', b';', 0, 0xff]), 0..200),
            (d, q) in prop::sample::select(vec![(b',', b'"'), (b';', b'\''), (b'\t', b'"'), (0u8, b'"'), (0xff, b'\'')]),
            at in 0usize..200,
        ) {
            let at = at.min(input.len());
            let rest = &input[at..];
            let bits = |f: &dyn Fn(u8) -> bool| {
                rest.iter().take(BLOCK).enumerate().filter(|&(_, &x)| f(x)).fold(0u64, |m, (i, _)| m | 1 << i)
            };
            let c = Classifier::new(d, q);
            let split = c.split_at(&input, at);
            prop_assert_eq!(split.quote, bits(&|x| x == q));
            prop_assert_eq!(split.delim, bits(&|x| x == d));
            prop_assert_eq!(split.structural, bits(&|x| x == d || x == b'\n' || x == b'\r'));
            prop_assert_eq!(c.lf_at(&input, at), bits(&|x| x == b'\n'));
            let m = c.at(&input, at);
            prop_assert_eq!(
                (m.quote, m.delim, m.lf, m.cr),
                (bits(&|x| x == q), bits(&|x| x == d), bits(&|x| x == b'\n'), bits(&|x| x == b'\r'))
            );
            // The portable classifier agrees on every target.
            let mut b = [0u8; BLOCK];
            b[..rest.len().min(BLOCK)].copy_from_slice(&rest[..rest.len().min(BLOCK)]);
            let keep = if rest.len() >= BLOCK { !0 } else { (1u64 << rest.len()) - 1 };
            let [sq, sd, ss] = any_of_swar(&b, [q, d, b'\n', b'\r'], [Q, D, D | LF | CR]);
            prop_assert_eq!((sq & keep, sd & keep, ss & keep), (split.quote, split.delim, split.structural));
        }

        /// Structurals from the blocks, in any chunking, equal a byte-by-byte
        /// parity walk on any input (stray quotes included).
        #[test]
        fn structurals_equal_parity_walk_in_every_chunking(
            input in prop::collection::vec(prop::sample::select(vec![b'a', b',', b'"', b'\n', b'\r', 0]), 0..300),
            cuts in prop::collection::vec(0usize..300, 0..6),
        ) {
            let want = structurals_scalar(&input, b',', b'"');
            prop_assert_eq!(structurals(&input, &cuts, b',', b'"'), want);
        }

        /// On RFC 4180 documents the blocks end fields exactly where
        /// csv-core does, in any chunking, for custom delimiters and quotes
        /// (a NUL delimiter included: block padding must not count).
        #[test]
        fn structurals_equal_csv_core_in_every_chunking(
            (doc, d, q) in document(),
            cuts in prop::collection::vec(0usize..400, 0..6),
        ) {
            let want = csv_core_ends(&doc, d, q);
            // The LF of a CRLF is a structural here; the tokenizer reads it
            // as the rest of the terminator, as csv-core does.
            let mut got = structurals(&doc, &cuts, d, q);
            got.retain(|&i| !(doc[i] == b'\n' && i > 0 && doc[i - 1] == b'\r'));
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn prefix_xor_marks_inside_quotes() {
        // a"b,c"d: the opening quote (bit 1) to before the closing one (bit 5).
        assert_eq!(prefix_xor(0b10_0010), 0b1_1110);
        let mut carry = QuoteCarry::default();
        assert_eq!(carry.inside(1 << 63), 1 << 63);
        assert!(carry.in_quotes());
        assert_eq!(carry.inside(0b100), 0b11);
        assert!(!carry.in_quotes());
    }
}
