//! Chunked, selective loading of (user, item, rating) CSV files with polars.
//!
//! animelist.csv is ~70M rows / 2 GB, so it is never materialised whole: the
//! file is read in newline-aligned blocks, each block is parsed by polars
//! (explicit dtypes, only the three needed columns), and rows are kept by the
//! selection: all, the first N, or a seeded uniform sample of N. Memory is
//! bounded by one block plus the rows kept.
//!
//! polars reports *what* failed but not on which line, so when a block fails
//! (or yields nulls, which is how polars reports short lines) the block is
//! rescanned line by line to name the exact line, column and value.

use super::error::DataError;
use super::Ratings;
use polars::prelude::*;
use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;

use crate::util::hash::splitmix64;

const BLOCK: usize = 16 << 20;

/// Which rows to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Every row.
    All,
    /// The first N rows.
    Head(u64),
    /// A uniform random sample of N rows, seeded; file order is kept.
    Random {
        /// Rows wanted.
        n: u64,
        /// Seed of the sample: the same seed keeps the same rows.
        seed: u64,
    },
}

/// Where the three columns are.
#[derive(Debug, Clone)]
pub(crate) struct TripletLayout {
    /// Name of the layout for messages ("MAL 2020 animelist.csv").
    pub name: &'static str,
    /// Field separator.
    pub sep: u8,
    /// Column names (with header) for user, item, rating.
    pub columns: [&'static [&'static str]; 3],
    /// Without a header: the number of fields and positions of user, item, rating.
    pub headerless: Option<(usize, [usize; 3])>,
    /// Which ratings the file may hold.
    pub rating: RatingRule,
}

/// Which rating values a layout accepts; anything else is an error naming
/// the file, line and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RatingRule {
    /// Any finite number (raw files: 0 or negative means "not rated" and
    /// cleaning drops it).
    Finite,
    /// Finite and > 0: files that are already clean (PROTOCOL splits), where
    /// nothing would drop a NaN, inf, 0 or negative rating later.
    Positive,
}

impl RatingRule {
    /// Judged as stored (f32): 1e300 is finite as f64 but inf as f32, and
    /// 1e-50 is positive as f64 but 0 as f32.
    fn accepts(self, r: f64) -> bool {
        let x = r as f32;
        match self {
            RatingRule::Finite => x.is_finite(),
            RatingRule::Positive => x.is_finite() && x > 0.0,
        }
    }
    fn expected(self) -> &'static str {
        match self {
            RatingRule::Finite => "a number",
            RatingRule::Positive => "a finite rating > 0 (split files hold cleaned ratings)",
        }
    }
}

struct Located {
    n_fields: usize,
    pos: [usize; 3],
    names: [String; 3],
}

/// Reads the (user, item, rating) columns of `path` under `sel`.
pub(crate) fn read_triplets(
    path: &Path,
    layout: &TripletLayout,
    sel: Selection,
    progress: &dyn Fn(u64, u64),
) -> Result<Ratings, DataError> {
    let mut file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let total = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    if total == 0 {
        return Err(DataError::Empty {
            path: path.into(),
            what: format!(
                "the file is empty (0 bytes); expected the {} layout",
                layout.name
            ),
        });
    }
    let mut out = Ratings::default();
    let mut sampler = match sel {
        Selection::Random { n, seed } => Some(BottomK::new(n as usize, seed)),
        _ => None,
    };
    let mut located: Option<Located> = None;
    let mut carry: Vec<u8> = Vec::new();
    let mut line_no: u64 = 1;
    let mut row_no: u64 = 0;
    let mut read_bytes: u64 = 0;
    let mut eof = false;
    while !eof {
        let mut block = std::mem::take(&mut carry);
        let start = block.len();
        block.resize(start + BLOCK, 0);
        let mut filled = start;
        while filled < block.len() {
            let n = file
                .read(&mut block[filled..])
                .map_err(|e| DataError::io(path, e))?;
            if n == 0 {
                eof = true;
                break;
            }
            filled += n;
        }
        read_bytes += (filled - start) as u64;
        block.truncate(filled);
        let cut = if eof {
            block.len()
        } else {
            match memrchr(b'\n', &block) {
                Some(i) => i + 1,
                None => {
                    // A block without any newline: keep it all for the next read.
                    carry = block;
                    continue;
                }
            }
        };
        carry = block.split_off(cut);
        let mut body: &[u8] = &block;
        if located.is_none() {
            let loc = match layout.headerless {
                Some((n, pos)) => Located {
                    n_fields: n,
                    pos,
                    names: pos.map(|p| format!("field {}", p + 1)),
                },
                None => {
                    let end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
                    let loc = locate_header(path, layout, &body[..end])?;
                    body = &body[(end + 1).min(body.len())..];
                    line_no += 1;
                    loc
                }
            };
            located = Some(loc);
        }
        let Some(loc) = located.as_ref() else { break };
        if !body.iter().all(|b| b.is_ascii_whitespace()) {
            let want = match sel {
                Selection::Head(n) => Some(n.saturating_sub(out.len() as u64)),
                _ => None,
            };
            let part = parse_block(
                path,
                layout,
                loc,
                body,
                line_no,
                eof && carry.is_empty(),
                want,
            )?;
            row_no += part.len() as u64;
            match &mut sampler {
                Some(s) => s.offer(&part, row_no - part.len() as u64),
                None => out.append(part),
            }
        }
        line_no += bytecount(body, b'\n');
        progress(read_bytes, total);
        if let Selection::Head(n) = sel {
            if out.len() as u64 >= n {
                break;
            }
        }
    }
    if located.is_none() {
        return Err(DataError::Empty {
            path: path.into(),
            what: format!("no header line; expected the {} layout", layout.name),
        });
    }
    if let Some(s) = sampler {
        out = s.finish();
    }
    if out.is_empty() {
        return Err(DataError::Empty {
            path: path.into(),
            what: "the file has a header but no rows".into(),
        });
    }
    Ok(out)
}

fn memrchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().rposition(|&b| b == needle)
}

fn bytecount(hay: &[u8], needle: u8) -> u64 {
    hay.iter().filter(|&&b| b == needle).count() as u64
}

/// Splits a header line into clean column names.
pub(crate) fn header_fields(line: &[u8], sep: u8) -> Vec<String> {
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(line)
        .split(sep as char)
        .map(|s| s.trim().trim_matches('"').to_string())
        .collect()
}

fn locate_header(path: &Path, layout: &TripletLayout, line: &[u8]) -> Result<Located, DataError> {
    if std::str::from_utf8(line).is_err() {
        return Err(DataError::InvalidUtf8 {
            path: path.into(),
            line: 1,
        });
    }
    let found = header_fields(line, layout.sep);
    let mut pos = [0usize; 3];
    let mut names: [String; 3] = Default::default();
    for (k, alts) in layout.columns.iter().enumerate() {
        let Some(p) = found.iter().position(|c| alts.contains(&c.as_str())) else {
            return Err(DataError::MissingColumn {
                path: path.into(),
                column: alts[0].to_string(),
                found,
                layout: layout.name,
            });
        };
        pos[k] = p;
        names[k] = found[p].clone();
    }
    Ok(Located {
        n_fields: found.len(),
        pos,
        names,
    })
}

fn parse_block(
    path: &Path,
    layout: &TripletLayout,
    loc: &Located,
    body: &[u8],
    first_line: u64,
    is_last: bool,
    limit: Option<u64>,
) -> Result<Ratings, DataError> {
    // polars parses only the projected columns, so a short or long line
    // whose damage lies elsewhere would pass silently; count separators first.
    if std::str::from_utf8(body).is_err() || !field_counts_ok(body, layout.sep, loc.n_fields) {
        return Err(
            rescan(path, layout, loc, body, first_line, is_last).unwrap_or_else(|| {
                DataError::Csv {
                    path: path.into(),
                    msg: "malformed line".into(),
                }
            }),
        );
    }
    let fields: Vec<Field> = (0..loc.n_fields)
        .map(|i| {
            let dt = if i == loc.pos[2] {
                DataType::Float64
            } else if i == loc.pos[0] || i == loc.pos[1] {
                DataType::Int64
            } else {
                DataType::String
            };
            Field::new(format!("c{i}").into(), dt)
        })
        .collect();
    let schema: Schema = fields.into_iter().collect();
    let mut proj = loc.pos.to_vec();
    proj.sort_unstable();
    let df = CsvReadOptions::default()
        .with_has_header(false)
        .with_schema(Some(Arc::new(schema)))
        .with_projection(Some(Arc::new(proj)))
        .with_n_rows(limit.map(|n| n as usize))
        .with_parse_options(CsvParseOptions::default().with_separator(layout.sep))
        .into_reader_with_file_handle(Cursor::new(body))
        .finish();
    let fail = |msg: String| {
        rescan(path, layout, loc, body, first_line, is_last).unwrap_or(DataError::Csv {
            path: path.into(),
            msg,
        })
    };
    let df = df.map_err(|e| fail(e.to_string()))?;
    let col = |i: usize| {
        df.column(&format!("c{}", loc.pos[i]))
            .map_err(|e| fail(e.to_string()))
    };
    let (u, it, r) = (col(0)?, col(1)?, col(2)?);
    if u.null_count() + it.null_count() + r.null_count() > 0 {
        return Err(fail("a line has missing fields".into()));
    }
    let (u, it, r) = (
        u.i64().map_err(|e| fail(e.to_string()))?,
        it.i64().map_err(|e| fail(e.to_string()))?,
        r.f64().map_err(|e| fail(e.to_string()))?,
    );
    let mut out = Ratings::with_capacity(df.height());
    for ((u, i), r) in u
        .into_no_null_iter()
        .zip(it.into_no_null_iter())
        .zip(r.into_no_null_iter())
    {
        let (Ok(u), Ok(i)) = (u32::try_from(u), u32::try_from(i)) else {
            return Err(fail(format!("an id outside 0..2^32: {u}, {i}")));
        };
        if !layout.rating.accepts(r) {
            return Err(fail(format!(
                "rating {r} is not {}",
                layout.rating.expected()
            )));
        }
        out.user.push(u);
        out.item.push(i);
        out.rating.push(r as f32);
    }
    Ok(out)
}

/// Every non-empty line has exactly `n_fields - 1` separators and no empty
/// field (these files are unquoted numbers, so a byte scan is exact).
fn field_counts_ok(body: &[u8], sep: u8, n_fields: usize) -> bool {
    let want = n_fields.saturating_sub(1);
    let mut count = 0usize;
    let mut empty = true;
    let mut field_empty = true;
    for &b in body {
        if b == b'\n' {
            if !empty && (count != want || field_empty) {
                return false;
            }
            count = 0;
            empty = true;
            field_empty = true;
        } else if b == sep {
            if field_empty {
                return false;
            }
            count += 1;
            empty = false;
            field_empty = true;
        } else if b != b'\r' {
            empty = false;
            field_empty = false;
        }
    }
    empty || (count == want && !field_empty)
}

/// Finds the first bad line of a block and describes it.
fn rescan(
    path: &Path,
    layout: &TripletLayout,
    loc: &Located,
    body: &[u8],
    first_line: u64,
    is_last: bool,
) -> Option<DataError> {
    let lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    let last_nonempty = lines.iter().rposition(|l| !l.is_empty());
    for (k, raw) in lines.iter().enumerate() {
        let line = first_line + k as u64;
        let l = raw.strip_suffix(b"\r").unwrap_or(raw);
        if l.is_empty() {
            continue;
        }
        let Ok(text) = std::str::from_utf8(l) else {
            return Some(DataError::InvalidUtf8 {
                path: path.into(),
                line,
            });
        };
        let fields: Vec<&str> = text.split(layout.sep as char).collect();
        // An empty field counts as missing: it is how a cut-off line looks.
        let present = fields.iter().filter(|f| !f.trim().is_empty()).count();
        if fields.len() != loc.n_fields || present != loc.n_fields {
            return Some(DataError::Ragged {
                path: path.into(),
                line,
                found: present.min(fields.len()),
                expected: loc.n_fields,
                last: is_last && Some(k) == last_nonempty,
            });
        }
        for (j, &p) in loc.pos.iter().enumerate() {
            let v = fields[p].trim();
            let ok = if j == 2 {
                v.parse::<f64>().is_ok_and(|r| layout.rating.accepts(r))
            } else {
                v.parse::<u32>().is_ok()
            };
            if !ok {
                return Some(DataError::Parse {
                    path: path.into(),
                    line,
                    column: loc.names[j].clone(),
                    value: v.to_string(),
                    expected: if j == 2 {
                        layout.rating.expected()
                    } else {
                        "a non-negative integer id"
                    },
                });
            }
        }
    }
    None
}

/// Bottom-k sampling: every row gets a pseudo-random key derived from
/// (seed, row number) and the N smallest keys win. That is a uniform sample
/// without replacement, independent of block boundaries, in O(N) memory.
struct BottomK {
    n: usize,
    seed: u64,
    keys: Vec<(u64, u64)>,
    rows: Ratings,
    threshold: u64,
}

impl BottomK {
    fn new(n: usize, seed: u64) -> Self {
        Self {
            n,
            seed,
            keys: Vec::new(),
            rows: Ratings::default(),
            threshold: u64::MAX,
        }
    }

    fn offer(&mut self, part: &Ratings, first_row: u64) {
        for j in 0..part.len() {
            let g = first_row + j as u64;
            let key = splitmix64(self.seed ^ splitmix64(g));
            if key < self.threshold {
                self.keys.push((key, self.rows.len() as u64));
                self.rows.user.push(part.user[j]);
                self.rows.item.push(part.item[j]);
                self.rows.rating.push(part.rating[j]);
            }
        }
        if self.keys.len() > 2 * self.n.max(1 << 16) {
            self.compact();
        }
    }

    fn compact(&mut self) {
        if self.keys.len() > self.n {
            self.keys.select_nth_unstable(self.n);
            self.keys.truncate(self.n);
            self.threshold = self.keys.iter().map(|k| k.0).max().unwrap_or(u64::MAX);
        }
        // Keep rows in file order: slots were assigned in arrival order.
        self.keys.sort_unstable_by_key(|k| k.1);
        let mut rows = Ratings::with_capacity(self.keys.len());
        for (new, k) in self.keys.iter_mut().enumerate() {
            let s = k.1 as usize;
            rows.user.push(self.rows.user[s]);
            rows.item.push(self.rows.item[s]);
            rows.rating.push(self.rows.rating[s]);
            k.1 = new as u64;
        }
        self.rows = rows;
    }

    fn finish(mut self) -> Ratings {
        self.compact();
        self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYOUT: TripletLayout = TripletLayout {
        name: "test",
        sep: b',',
        columns: [&["user_id"], &["anime_id"], &["rating"]],
        headerless: None,
        rating: RatingRule::Finite,
    };

    fn write(s: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("animelist.csv");
        std::fs::write(&p, s).unwrap();
        (d, p)
    }

    fn read(s: &[u8], sel: Selection) -> Result<Ratings, DataError> {
        let (_d, p) = write(s);
        read_triplets(&p, &LAYOUT, sel, &|_, _| {})
    }

    const GOOD: &[u8] = b"user_id,anime_id,rating,watching_status,watched_episodes\n0,67,9,1,1\n0,6702,7,1,4\n1,5,0,2,3\n2,7,10,2,1";

    #[test]
    fn reads_columns_in_any_order_and_no_trailing_newline() {
        let r = read(GOOD, Selection::All).unwrap();
        assert_eq!(r.user, vec![0, 0, 1, 2]);
        assert_eq!(r.item, vec![67, 6702, 5, 7]);
        assert_eq!(r.rating, vec![9.0, 7.0, 0.0, 10.0]);
        let r = read(b"rating,anime_id,user_id\n5,1,2\n", Selection::All).unwrap();
        assert_eq!((r.user[0], r.item[0], r.rating[0]), (2, 1, 5.0));
    }

    #[test]
    fn head_and_random_selection() {
        let r = read(GOOD, Selection::Head(2)).unwrap();
        assert_eq!(r.item, vec![67, 6702]);
        let mut s = String::from("user_id,anime_id,rating\n");
        for i in 0..10_000 {
            s.push_str(&format!("{},{},5\n", i / 10, i));
        }
        let a = read(s.as_bytes(), Selection::Random { n: 1000, seed: 7 }).unwrap();
        let b = read(s.as_bytes(), Selection::Random { n: 1000, seed: 7 }).unwrap();
        let c = read(s.as_bytes(), Selection::Random { n: 1000, seed: 8 }).unwrap();
        assert_eq!(a.len(), 1000);
        assert_eq!(a.item, b.item);
        assert_ne!(a.item, c.item);
        assert!(a.item.windows(2).all(|w| w[0] < w[1]), "file order kept");
        // roughly uniform: about half the sample from each half of the file
        let first_half = a.item.iter().filter(|&&i| i < 5000).count();
        assert!((400..600).contains(&first_half), "{first_half}");
    }

    #[test]
    fn split_files_refuse_nan_inf_zero_and_negative_ratings() {
        let layout = TripletLayout {
            rating: RatingRule::Positive,
            ..LAYOUT
        };
        for (bad, line) in [
            ("NaN", 3),
            ("inf", 3),
            ("-inf", 3),
            ("0", 3),
            ("-3", 3),
            ("1e999", 3),
        ] {
            let text = format!("user_id,anime_id,rating\n0,1,9\n0,5,{bad}\n1,2,8\n");
            let (_d, p) = write(text.as_bytes());
            let e = read_triplets(&p, &layout, Selection::All, &|_, _| {})
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!(
                    "animelist.csv:{line}: column \"rating\": \"{bad}\" is not a finite rating > 0"
                )),
                "{bad}: {e}"
            );
        }
        let (_d, p) = write(b"user_id,anime_id,rating\n0,1,9\n0,5,0.5\n");
        assert_eq!(
            read_triplets(&p, &layout, Selection::All, &|_, _| {})
                .unwrap()
                .rating,
            vec![9.0, 0.5]
        );
        // Raw files keep 0 ("not rated") for cleaning, but not NaN.
        assert!(read(b"user_id,anime_id,rating\n0,1,0\n", Selection::All).is_ok());
        assert!(read(b"user_id,anime_id,rating\n0,1,NaN\n", Selection::All).is_err());
    }

    #[test]
    fn bad_inputs_name_file_line_and_column() {
        let e = read(b"user_id,anime_id,rating\n0,1,9\n0,2,abc\n", Selection::All)
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with("animelist.csv:3: column \"rating\": \"abc\" is not a number"),
            "{e}"
        );
        let e = read(b"user_id,anime_id,rating\n0,1,9\n0,2", Selection::All)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":3: 2 fields, expected 3 (the file's last line looks truncated)"),
            "{e}"
        );
        let e = read(b"user_id,anime,rating\n0,1,9\n", Selection::All)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing column \"anime_id\""), "{e}");
        let e = read(b"", Selection::All).unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let e = read(b"user_id,anime_id,rating\n", Selection::All)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no rows"), "{e}");
        let e = read(
            b"user_id,anime_id,rating\n0,1,9\n0,\xff\xfe,9\n",
            Selection::All,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(":3: invalid UTF-8"), "{e}");
        let e = read(b"user_id,anime_id,rating\n-4,1,9\n", Selection::All)
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2: column \"user_id\": \"-4\""), "{e}");
    }

    mod props {
        use super::*;
        use crate::data::mal::{ANIMELIST, PROTOCOL_CSV};
        use proptest::prelude::*;

        fn line() -> impl Strategy<Value = String> {
            prop_oneof![
                (any::<u32>(), any::<u32>(), any::<f64>())
                    .prop_map(|(u, i, r)| format!("{u},{i},{r}")),
                (0u32..5, 0u32..5, -2i32..12).prop_map(|(u, i, r)| format!("{u},{i},{r},1,1")),
                "[0-9,.eE+ naNifIF-]{0,24}",
                any::<String>().prop_map(|s| s.chars().take(30).collect()),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig {
                cases: 64,
                failure_persistence: None,
                ..ProptestConfig::default()
            })]

            /// Any bytes in a ratings or split file: an error or rows, never
            /// a panic; rows that come back obey the layout's rating rule.
            #[test]
            fn csv_rows_never_panic(
                lines in proptest::collection::vec(line(), 0..12),
                header in 0usize..3,
                crlf in any::<bool>(),
            ) {
                let mut text = String::from(
                    ["user_id,item_id,rating\n", "user_id,anime_id,rating,watching_status,watched_episodes\n", ""][header],
                );
                for l in &lines {
                    text.push_str(l);
                    text.push_str(if crlf { "\r\n" } else { "\n" });
                }
                let (_d, p) = write(text.as_bytes());
                for layout in [&PROTOCOL_CSV, &ANIMELIST] {
                    for sel in [Selection::All, Selection::Head(2), Selection::Random { n: 3, seed: 1 }] {
                        if let Ok(r) = read_triplets(&p, layout, sel, &|_, _| {}) {
                            prop_assert_eq!(r.user.len(), r.rating.len());
                            prop_assert!(r.rating.iter().all(|&x| layout.rating.accepts(f64::from(x))));
                        }
                    }
                }
            }
        }
    }
}
