//! `anirec data compare A B`: the statistics of two MAL-layout data sets side by side, so a
//! user can see how the synthetic data differs from real MAL (rating histogram, activity,
//! popularity concentration, unrated share, watching_status mix, genres).
//!
//! One streaming pass reads each animelist.csv and keeps per-user and per-anime aggregates
//! only: memory grows with the distinct ids (the full MAL file has ~325k users and ~17.5k
//! anime), not with the rows (70M+). The triplet reader of [`super::csv`] keeps every row and
//! reads three columns, while this needs the fourth (watching_status) and none of the rows.
//!
//! Distribution statistics (ratings per user and per anime, concentration, spread) count
//! *rated* rows (rating 1..=10), the rows a recommender trains on; the unrated share and the
//! status mix count every list row.

use super::csv::header_fields;
use super::error::DataError;
use super::mal;
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// Longest animelist.csv line accepted: five integers fit in 60 bytes.
const MAX_LINE: u64 = 4096;
/// Columns accepted in the header (the real file has 5).
const MAX_COLUMNS: usize = 16;
/// Distinct users accepted (MAL has ~325k); bounds the per-user table.
const MAX_USERS: usize = 20_000_000;
/// Largest anime id accepted (MAL ids are below 50k); anime counts are indexed by id.
const MAX_ANIME_ID: u32 = 2_000_000;
/// Users with fewer ratings are left out of the spread of per-user means (their mean is noise).
const SPREAD_MIN_RATINGS: u32 = 5;
/// Genres listed per data set; the table shows the union of both lists.
const TOP_GENRES: usize = 10;
/// MAL 2020 watching_status codes (watching_status.csv); any other value counts as "other".
const STATUSES: [(u8, &str); 5] = [
    (1, "watching"),
    (2, "completed"),
    (3, "on hold"),
    (4, "dropped"),
    (6, "plan to watch"),
];

/// Nearest-rank quantiles of a count distribution.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Quantiles {
    pub min: u64,
    pub p10: u64,
    pub median: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

impl Quantiles {
    /// Of `sorted` (ascending); all zero when empty.
    fn of(sorted: &[u64]) -> Self {
        let q = |p: f64| -> u64 {
            if sorted.is_empty() {
                return 0;
            }
            // Nearest rank: the smallest value with at least p of the data at or below it.
            let rank = (p * sorted.len() as f64).ceil() as usize;
            sorted[rank.clamp(1, sorted.len()) - 1]
        };
        Quantiles {
            min: sorted.first().copied().unwrap_or(0),
            p10: q(0.10),
            median: q(0.50),
            p90: q(0.90),
            p99: q(0.99),
            max: sorted.last().copied().unwrap_or(0),
        }
    }
}

/// The statistics of one data set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompareStats {
    /// How the data set is named in the table.
    pub name: String,
    /// animelist.csv rows.
    pub rows: u64,
    /// Distinct users with at least one row.
    pub users: u64,
    /// Rows with a rating 1..=10.
    pub rated: u64,
    /// Distinct users with at least one rating.
    pub rating_users: u64,
    /// Distinct anime with at least one rating.
    pub rated_anime: u64,
    /// Rows of anime.csv, when it is present.
    pub catalogue_anime: Option<u64>,
    /// rated / (rating users × rated anime).
    pub density: f64,
    /// Share of rated rows per rating 1..=10.
    pub rating_share: [f64; 10],
    /// Share of rows with rating 0 (listed, not rated).
    pub unrated_share: f64,
    /// Share of rated rows below 4.
    pub below4_share: f64,
    /// Mean of the ratings 1..=10.
    pub mean_rating: f64,
    /// Ratings per user (users with at least one rating).
    pub per_user: Quantiles,
    /// Ratings per anime (anime with at least one rating).
    pub per_anime: Quantiles,
    /// Share of ratings on the most rated 1 % / 10 % of rated anime.
    pub top1_share: f64,
    pub top10_share: f64,
    /// Gini coefficient of ratings per anime (0 = even, 1 = all on one anime).
    pub gini: f64,
    /// Share of rows per [`STATUSES`] entry, then "other"; `None` without the column.
    pub status_share: Option<[f64; 6]>,
    /// Standard deviation of per-user mean ratings (users with >= 5 ratings).
    pub user_mean_sd: f64,
    /// Share of catalogue anime carrying each genre, most frequent first.
    pub genres: Vec<(String, f64)>,
}

/// Running sums of one animelist.csv.
#[derive(Default)]
struct Acc {
    rows: u64,
    hist: [u64; 11],
    status: [u64; 6],
    user_index: HashMap<u32, usize>,
    /// Per user with a row: (ratings, sum of ratings).
    per_user: Vec<(u32, u64)>,
    per_anime: Vec<u64>,
    /// The last user seen: the file is grouped by user, so most rows skip the map.
    last: Option<(u32, usize)>,
}

/// Column positions in the header.
struct Columns {
    n: usize,
    user: usize,
    anime: usize,
    rating: usize,
    status: Option<usize>,
}

/// Reads `dir/animelist.csv` (and `dir/anime.csv` if present) into [`CompareStats`].
pub fn dataset_stats(
    dir: &Path,
    name: &str,
    progress: &dyn Fn(u64, u64),
) -> Result<CompareStats, DataError> {
    let list = dir.join("animelist.csv");
    let file = File::open(&list).map_err(|e| DataError::io(&list, e))?;
    let total = file.metadata().map_err(|e| DataError::io(&list, e))?.len();
    let acc = scan(
        &list,
        BufReader::with_capacity(1 << 20, file),
        total,
        progress,
    )?;
    let mut stats = finish(name, acc);
    let anime_csv = dir.join("anime.csv");
    if anime_csv.exists() {
        let (n, genres) = genre_shares(&anime_csv)?;
        stats.catalogue_anime = Some(n);
        stats.genres = genres;
    }
    Ok(stats)
}

/// One pass over the rows of an animelist.csv.
fn scan(
    path: &Path,
    mut r: impl BufRead,
    total: u64,
    progress: &dyn Fn(u64, u64),
) -> Result<Acc, DataError> {
    let mut line = Vec::with_capacity(256);
    let mut line_no = 0u64;
    let mut done = 0u64;
    let mut cols: Option<Columns> = None;
    let mut acc = Acc::default();
    loop {
        line.clear();
        let n = (&mut r)
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| DataError::io(path, e))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        done += n as u64;
        if line.len() as u64 > MAX_LINE {
            return Err(DataError::Csv {
                path: path.into(),
                msg: format!("line {line_no} is longer than {MAX_LINE} bytes; animelist.csv holds five integers per line"),
            });
        }
        let text = trim_eol(&line);
        match &cols {
            None => cols = Some(locate(path, text)?),
            Some(c) if !text.is_empty() => {
                row(path, line_no, text, c, &mut acc)?;
                if acc.rows % 65_536 == 0 {
                    progress(done, total);
                }
            }
            Some(_) => {}
        }
    }
    progress(done, total);
    if cols.is_none() {
        return Err(DataError::Empty {
            path: path.into(),
            what:
                "no header line; expected user_id,anime_id,rating,watching_status,watched_episodes"
                    .into(),
        });
    }
    if acc.rows == 0 {
        return Err(DataError::Empty {
            path: path.into(),
            what: "the file has a header but no rows".into(),
        });
    }
    Ok(acc)
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn locate(path: &Path, header: &[u8]) -> Result<Columns, DataError> {
    let names = header_fields(header, b',');
    if names.len() > MAX_COLUMNS {
        return Err(DataError::Csv {
            path: path.into(),
            msg: format!(
                "the header has {} columns; animelist.csv has 5 (user_id,anime_id,rating,watching_status,watched_episodes)",
                names.len()
            ),
        });
    }
    let find = |want: &str| names.iter().position(|n| n == want);
    let need = |want: &str| {
        find(want).ok_or_else(|| DataError::MissingColumn {
            path: path.into(),
            column: want.into(),
            found: names.clone(),
            layout: "MAL 2020 animelist.csv",
        })
    };
    Ok(Columns {
        n: names.len(),
        user: need("user_id")?,
        anime: need("anime_id")?,
        rating: need("rating")?,
        status: find("watching_status"),
    })
}

/// A non-negative integer of at most `max`, or `None`.
fn parse_bounded(field: &[u8], max: u64) -> Option<u64> {
    let field = field.trim_ascii();
    if field.is_empty() || field.len() > 20 {
        return None;
    }
    let mut v = 0u64;
    for &b in field {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    (v <= max).then_some(v)
}

/// Parses, bounds and counts one data line.
fn row(path: &Path, line: u64, text: &[u8], c: &Columns, acc: &mut Acc) -> Result<(), DataError> {
    let mut fields = [&text[..0]; MAX_COLUMNS];
    let mut n = 0usize;
    for f in text.split(|&b| b == b',') {
        if n < fields.len() {
            fields[n] = f;
        }
        n += 1;
    }
    if n != c.n || n > fields.len() {
        return Err(DataError::Ragged {
            path: path.into(),
            line,
            found: n,
            expected: c.n,
            last: false,
        });
    }
    let get = |i: usize, column: &str, max: u64, expected: &'static str| {
        parse_bounded(fields[i], max).ok_or_else(|| DataError::Parse {
            path: path.into(),
            line,
            column: column.into(),
            value: String::from_utf8_lossy(fields[i]).into_owned(),
            expected,
        })
    };
    let user = get(
        c.user,
        "user_id",
        u64::from(u32::MAX),
        "a user id in 0..2^32",
    )? as u32;
    let anime = get(
        c.anime,
        "anime_id",
        u64::from(MAX_ANIME_ID),
        "an anime id in 0..=2000000",
    )? as u32;
    let rating = get(
        c.rating,
        "rating",
        10,
        "an integer rating 0..=10 (0 = not rated)",
    )?;
    if let Some(s) = c.status {
        let code = get(s, "watching_status", 255, "a status code 0..=255")? as u8;
        let k = STATUSES
            .iter()
            .position(|&(v, _)| v == code)
            .unwrap_or(STATUSES.len());
        acc.status[k] += 1;
    }
    acc.add(path, user, anime, rating)
}

impl Acc {
    /// Counts one row (status already counted); `rating` is 0..=10, `anime` <= [`MAX_ANIME_ID`].
    fn add(&mut self, path: &Path, user: u32, anime: u32, rating: u64) -> Result<(), DataError> {
        self.rows += 1;
        self.hist[rating as usize] += 1;
        let u = match self.last {
            Some((id, k)) if id == user => k,
            _ => {
                let next = self.per_user.len();
                let k = *self.user_index.entry(user).or_insert(next);
                if k == next {
                    if next >= MAX_USERS {
                        return Err(DataError::Unusable(format!(
                            "{}: more than {MAX_USERS} distinct users; compare a sample (anirec data synth sizes, or the head of the file)",
                            path.display()
                        )));
                    }
                    self.per_user.push((0, 0));
                }
                self.last = Some((user, k));
                k
            }
        };
        if rating > 0 {
            let slot = &mut self.per_user[u];
            slot.0 = slot.0.saturating_add(1);
            slot.1 += rating;
            let a = anime as usize;
            if a >= self.per_anime.len() {
                self.per_anime.resize(a + 1, 0);
            }
            self.per_anime[a] += 1;
        }
        Ok(())
    }
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn finish(name: &str, acc: Acc) -> CompareStats {
    let rated: u64 = acc.hist[1..].iter().sum();
    let mut rating_share = [0.0; 10];
    for (s, &h) in rating_share.iter_mut().zip(&acc.hist[1..]) {
        *s = share(h, rated);
    }
    let rating_sum: u64 = (1..=10u64).map(|r| r * acc.hist[r as usize]).sum();
    let mut per_user: Vec<u64> = acc
        .per_user
        .iter()
        .filter(|u| u.0 > 0)
        .map(|u| u64::from(u.0))
        .collect();
    per_user.sort_unstable();
    let mut per_anime: Vec<u64> = acc.per_anime.iter().copied().filter(|&n| n > 0).collect();
    per_anime.sort_unstable();
    let cells = per_user.len() as f64 * per_anime.len() as f64;
    let means: Vec<f64> = acc
        .per_user
        .iter()
        .filter(|u| u.0 >= SPREAD_MIN_RATINGS)
        .map(|u| u.1 as f64 / f64::from(u.0))
        .collect();
    CompareStats {
        name: name.to_owned(),
        rows: acc.rows,
        users: acc.per_user.len() as u64,
        rated,
        rating_users: per_user.len() as u64,
        rated_anime: per_anime.len() as u64,
        catalogue_anime: None,
        density: if cells > 0.0 {
            rated as f64 / cells
        } else {
            0.0
        },
        rating_share,
        unrated_share: share(acc.hist[0], acc.rows),
        below4_share: share(acc.hist[1..4].iter().sum(), rated),
        mean_rating: share(rating_sum, rated),
        per_user: Quantiles::of(&per_user),
        per_anime: Quantiles::of(&per_anime),
        top1_share: top_share(&per_anime, 0.01),
        top10_share: top_share(&per_anime, 0.10),
        gini: gini(&per_anime),
        status_share: (acc.status.iter().sum::<u64>() > 0).then(|| {
            let mut s = [0.0; 6];
            for (x, &n) in s.iter_mut().zip(&acc.status) {
                *x = share(n, acc.rows);
            }
            s
        }),
        user_mean_sd: std_dev(&means),
        genres: Vec::new(),
    }
}

/// Share of the total held by the largest `frac` of `sorted` (ascending), at least one entry.
fn top_share(sorted: &[u64], frac: f64) -> f64 {
    let k = ((sorted.len() as f64 * frac).ceil() as usize).clamp(1, sorted.len().max(1));
    let top: u64 = sorted.iter().rev().take(k).sum();
    share(top, sorted.iter().sum())
}

/// Gini coefficient of `sorted` (ascending): sum_i (2i - n - 1) x_i / (n sum x), i = 1..n.
fn gini(sorted: &[u64]) -> f64 {
    let n = sorted.len() as f64;
    let total: f64 = sorted.iter().map(|&x| x as f64).sum();
    if total <= 0.0 {
        return 0.0;
    }
    let weighted: f64 = sorted
        .iter()
        .enumerate()
        .map(|(i, &x)| (2.0 * (i as f64 + 1.0) - n - 1.0) * x as f64)
        .sum();
    weighted / (n * total)
}

/// Population standard deviation; 0 for fewer than two values.
fn std_dev(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt()
}

/// Catalogue rows and the share of them carrying each genre, most frequent first (ties by name).
fn genre_shares(anime_csv: &Path) -> Result<(u64, Vec<(String, f64)>), DataError> {
    let table = mal::read_table(anime_csv, "MAL 2020 anime.csv", &["MAL_ID"], &["Genres"])?;
    let n = table.get("MAL_ID").map_or(0, Vec::len) as u64;
    let mut counts: HashMap<String, u64> = HashMap::new();
    for cell in table.get("Genres").into_iter().flatten() {
        for g in mal::split_list(cell.as_deref()) {
            *counts.entry(g).or_default() += 1;
        }
    }
    let mut out: Vec<(String, f64)> = counts.into_iter().map(|(g, c)| (g, share(c, n))).collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok((n, out))
}

/// Two data sets side by side: one row per statistic.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Column names: statistic, A, B.
    pub header: [String; 3],
    /// (statistic, A, B), formatted.
    pub rows: Vec<[String; 3]>,
}

impl Comparison {
    /// The table of `a` against `b`.
    pub fn new(a: &CompareStats, b: &CompareStats) -> Self {
        let mut rows: Vec<[String; 3]> = Vec::new();
        let mut add = |label: &str, f: &dyn Fn(&CompareStats) -> String| {
            rows.push([label.to_owned(), f(a), f(b)]);
        };
        let pct = |x: f64| format!("{:.1}%", 100.0 * x);
        add("animelist rows", &|s| s.rows.to_string());
        add("users", &|s| s.users.to_string());
        add("rated rows (rating 1-10)", &|s| s.rated.to_string());
        add("users with a rating", &|s| s.rating_users.to_string());
        add("rated anime", &|s| s.rated_anime.to_string());
        add("anime in anime.csv", &|s| {
            s.catalogue_anime.map_or("n/a".into(), |n| n.to_string())
        });
        add("density (rated / users x anime)", &|s| {
            format!("{:.5}", s.density)
        });
        add("unrated share (rating 0)", &|s| pct(s.unrated_share));
        add("mean rating", &|s| format!("{:.2}", s.mean_rating));
        for r in 1..=10usize {
            add(&format!("rating {r}"), &|s| pct(s.rating_share[r - 1]));
        }
        add("ratings below 4", &|s| pct(s.below4_share));
        type Pick = fn(&Quantiles) -> u64;
        let qs: [(&str, Pick); 6] = [
            ("min", |q| q.min),
            ("p10", |q| q.p10),
            ("median", |q| q.median),
            ("p90", |q| q.p90),
            ("p99", |q| q.p99),
            ("max", |q| q.max),
        ];
        for (name, pick) in qs {
            add(&format!("ratings per user: {name}"), &|s| {
                pick(&s.per_user).to_string()
            });
        }
        for (name, pick) in qs {
            add(&format!("ratings per anime: {name}"), &|s| {
                pick(&s.per_anime).to_string()
            });
        }
        add("ratings on top 1% of anime", &|s| pct(s.top1_share));
        add("ratings on top 10% of anime", &|s| pct(s.top10_share));
        add("Gini of ratings per anime", &|s| format!("{:.3}", s.gini));
        add("sd of per-user mean rating (>= 5 ratings)", &|s| {
            format!("{:.3}", s.user_mean_sd)
        });
        let statuses = STATUSES.iter().map(|s| s.1).chain(["other"]);
        for (k, name) in statuses.enumerate() {
            add(&format!("status: {name}"), &|s| {
                s.status_share.map_or("n/a".into(), |v| pct(v[k]))
            });
        }
        for g in top_genres(a, b) {
            add(&format!("genre share: {g}"), &|s| {
                if s.catalogue_anime.is_none() {
                    return "n/a".into();
                }
                pct(s.genres.iter().find(|x| x.0 == g).map_or(0.0, |x| x.1))
            });
        }
        Comparison {
            header: ["statistic".into(), a.name.clone(), b.name.clone()],
            rows,
        }
    }

    /// The table as GitHub markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let line = |out: &mut String, r: &[String; 3]| {
            let _ = writeln!(out, "| {} | {} | {} |", r[0], r[1], r[2]);
        };
        line(&mut out, &self.header);
        out.push_str("|---|---:|---:|\n");
        for r in &self.rows {
            line(&mut out, r);
        }
        out
    }
}

/// The union of both data sets' most frequent genres, A's order first.
fn top_genres(a: &CompareStats, b: &CompareStats) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in [a, b] {
        for (g, _) in s.genres.iter().take(TOP_GENRES) {
            if !out.contains(g) {
                out.push(g.clone());
            }
        }
    }
    out
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = |i: usize| {
            self.rows
                .iter()
                .chain([&self.header])
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        };
        let (w0, w1, w2) = (width(0), width(1), width(2));
        for r in [&self.header].into_iter().chain(&self.rows) {
            writeln!(f, "{:<w0$}  {:>w1$}  {:>w2$}", r[0], r[1], r[2])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-made list: users 1, 2, 3; anime 10, 20, 30, 40. Every figure below is worked out
    /// by hand from these rows (the e2e tests read the same folder through the CLI).
    fn list() -> String {
        let path = crate::testdata::fixture("compare-hand").join("animelist.csv");
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn stats_of(text: &str) -> Result<CompareStats, DataError> {
        let acc = scan(
            Path::new("animelist.csv"),
            text.as_bytes(),
            text.len() as u64,
            &|_, _| {},
        )?;
        Ok(finish("hand", acc))
    }

    #[test]
    fn statistics_of_a_hand_made_list() {
        let s = stats_of(&list()).expect("valid list");
        assert_eq!(s.rows, 9);
        assert_eq!(s.users, 3);
        // Ratings > 0: 8, 9, 7, 10 (user 1), 3, 8 (user 2); user 3 rated nothing.
        assert_eq!(s.rated, 6);
        assert_eq!(s.rating_users, 2);
        // Anime 10 (8, 10, 3), 20 (9, 8), 40 (7); 30 only unrated.
        assert_eq!(s.rated_anime, 3);
        assert!((s.density - 6.0 / 6.0).abs() < 1e-12);
        assert!((s.unrated_share - 3.0 / 9.0).abs() < 1e-12);
        assert!((s.mean_rating - 45.0 / 6.0).abs() < 1e-12);
        let mut want = [0.0; 10];
        for r in [8, 9, 7, 10, 3, 8] {
            want[r - 1] += 1.0 / 6.0;
        }
        for (got, want) in s.rating_share.iter().zip(want) {
            assert!((got - want).abs() < 1e-12);
        }
        assert!((s.below4_share - 1.0 / 6.0).abs() < 1e-12);
        // Per user (rated): [2, 4]; nearest rank: p10 = 2, median = 2, p90 = 4.
        let pu = s.per_user;
        assert_eq!(
            (pu.min, pu.p10, pu.median, pu.p90, pu.p99, pu.max),
            (2, 2, 2, 4, 4, 4)
        );
        // Per anime: [1, 2, 3].
        let pa = s.per_anime;
        assert_eq!(
            (pa.min, pa.p10, pa.median, pa.p90, pa.p99, pa.max),
            (1, 1, 2, 3, 3, 3)
        );
        // Top 1 % and top 10 % of 3 anime are both the top one: 3 of 6 ratings.
        assert!((s.top1_share - 0.5).abs() < 1e-12);
        assert!((s.top10_share - 0.5).abs() < 1e-12);
        // Gini of [1, 2, 3]: (-2*1 + 0*2 + 2*3) / (3 * 6) = 4 / 18.
        assert!((s.gini - 4.0 / 18.0).abs() < 1e-12);
        // Status over 9 rows: watching 1, completed 4, on hold 1, dropped 1, plan 2, other 0.
        let st = s.status_share.expect("status column present");
        let want = [1.0, 4.0, 1.0, 1.0, 2.0, 0.0].map(|n: f64| n / 9.0);
        for (got, want) in st.iter().zip(want) {
            assert!((got - want).abs() < 1e-12);
        }
        // No user has 5 ratings: no spread.
        assert_eq!(s.user_mean_sd, 0.0);
    }

    #[test]
    fn spread_of_user_means_counts_users_with_five_ratings() {
        let mut text = String::from("user_id,anime_id,rating\n");
        // User 1 means 6, user 2 means 8 (five ratings each); user 3 (one rating) is left out.
        for a in 0..5 {
            text.push_str(&format!("1,{a},6\n2,{a},8\n"));
        }
        text.push_str("3,1,1\n");
        let s = stats_of(&text).expect("valid list");
        assert!((s.user_mean_sd - 1.0).abs() < 1e-12, "{}", s.user_mean_sd);
        assert_eq!(s.status_share, None, "no watching_status column");
    }

    #[test]
    fn out_of_range_values_name_line_and_column() {
        let cases = [
            ("user_id,anime_id,rating\n1,2,11\n", "rating"),
            ("user_id,anime_id,rating\n1,2,-1\n", "rating"),
            ("user_id,anime_id,rating\n1,2,7.5\n", "rating"),
            ("user_id,anime_id,rating\n1,99999999,7\n", "anime_id"),
            ("user_id,anime_id,rating\n99999999999,2,7\n", "user_id"),
            (
                "user_id,anime_id,rating,watching_status\n1,2,7,300\n",
                "watching_status",
            ),
        ];
        for (text, column) in cases {
            let err = stats_of(text).expect_err(text).to_string();
            assert!(
                err.contains(":2:") && err.contains(column),
                "{text:?}: {err}"
            );
        }
        let err = stats_of("user_id,anime_id,rating\n1,2\n").expect_err("ragged");
        assert!(err.to_string().contains("2 fields, expected 3"), "{err}");
        let err = stats_of("user,anime,score\n1,2,3\n").expect_err("header");
        assert!(err.to_string().contains("user_id"), "{err}");
        let err = stats_of("user_id,anime_id,rating\n").expect_err("empty");
        assert!(err.to_string().contains("no rows"), "{err}");
        let wide = format!("user_id,anime_id,rating{}\n1,2,3\n", ",x".repeat(20));
        let err = stats_of(&wide).expect_err("wide header");
        assert!(err.to_string().contains("23 columns"), "{err}");
        let long = format!("user_id,anime_id,rating\n1,2,{}\n", "7".repeat(5000));
        let err = stats_of(&long).expect_err("long line");
        assert!(err.to_string().contains("longer than"), "{err}");
    }

    #[test]
    fn table_lists_every_statistic_for_both_sides() {
        let mut a = stats_of(&list()).expect("valid");
        a.name = "A".into();
        a.catalogue_anime = Some(4);
        a.genres = vec![("Action".into(), 0.5), ("Drama".into(), 0.25)];
        let mut b = a.clone();
        b.name = "B".into();
        b.genres = vec![("Comedy".into(), 0.75)];
        let t = Comparison::new(&a, &b);
        let find = |label: &str| {
            t.rows
                .iter()
                .find(|r| r[0] == label)
                .unwrap_or_else(|| panic!("no row {label}"))
        };
        assert_eq!(find("rating 8")[1], "33.3%");
        assert_eq!(find("ratings per user: p90")[2], "4");
        assert_eq!(find("genre share: Comedy")[1], "0.0%");
        assert_eq!(find("genre share: Comedy")[2], "75.0%");
        assert_eq!(find("genre share: Action")[1], "50.0%");
        assert_eq!(find("status: plan to watch")[1], "22.2%");
        let md = t.to_markdown();
        assert!(md.starts_with("| statistic | A | B |\n|---|---:|---:|\n"));
        assert_eq!(md.lines().count(), t.rows.len() + 2);
        let text = t.to_string();
        assert_eq!(text.lines().count(), t.rows.len() + 1);
    }
}
