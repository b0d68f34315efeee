//! Readers for the Kaggle "Anime Recommendation Database 2020" files.

use super::csv::{header_fields, read_triplets, RatingRule, Selection, TripletLayout};
use super::error::DataError;
use super::{Anime, Catalog, Ratings};
use polars::prelude::*;
use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;

/// animelist.csv: `user_id,anime_id,rating,watching_status,watched_episodes`.
pub(crate) const ANIMELIST: TripletLayout = TripletLayout {
    name: "MAL 2020 animelist.csv (user_id,anime_id,rating,...)",
    sep: b',',
    columns: [&["user_id"], &["anime_id"], &["rating"]],
    headerless: None,
    rating: RatingRule::Finite,
};

/// PROTOCOL split files: `user_id,item_id,rating`.
pub(crate) const PROTOCOL_CSV: TripletLayout = TripletLayout {
    name: "PROTOCOL user_id,item_id,rating",
    sep: b',',
    columns: [&["user_id"], &["item_id", "anime_id"], &["rating"]],
    headerless: None,
    rating: RatingRule::Positive,
};

/// Reads animelist.csv under a selection.
pub(crate) fn read_animelist(
    path: &Path,
    sel: Selection,
    progress: &dyn Fn(u64, u64),
) -> Result<Ratings, DataError> {
    read_triplets(path, &ANIMELIST, sel, progress)
}

/// Reads anime.csv and joins anime_with_synopsis.csv into a catalog.
pub(crate) fn read_catalog(anime_csv: &Path, synopsis_csv: &Path) -> Result<Catalog, DataError> {
    let anime = read_table(
        anime_csv,
        "MAL 2020 anime.csv",
        &["MAL_ID", "Name", "Genres"],
        &[
            "Score",
            "English name",
            "Japanese name",
            "Type",
            "Episodes",
            "Members",
            "Studios",
        ],
    )?;
    let syn = read_table(
        synopsis_csv,
        "MAL 2020 anime_with_synopsis.csv",
        &["MAL_ID"],
        &["sypnopsis", "synopsis", "Synopsis", "Sypnopsis"],
    )?;
    let syn_col = ["sypnopsis", "synopsis", "Synopsis", "Sypnopsis"]
        .iter()
        .find_map(|c| syn.get(*c));
    let Some(syn_col) = syn_col else {
        return Err(DataError::MissingColumn {
            path: synopsis_csv.into(),
            column: "sypnopsis".into(),
            found: syn.keys().cloned().collect(),
            layout: "MAL 2020 anime_with_synopsis.csv (MAL_ID,Name,Score,Genres,sypnopsis)",
        });
    };
    let mut synopsis: HashMap<u32, String> = HashMap::new();
    for (row, (id, text)) in syn["MAL_ID"].iter().zip(syn_col).enumerate() {
        let id = parse_id(synopsis_csv, row, "MAL_ID", id.as_deref())?;
        if let Some(t) = text {
            synopsis.insert(id, t.clone());
        }
    }
    let col = |name: &str| anime.get(name);
    let n = anime["MAL_ID"].len();
    let mut out = Vec::with_capacity(n);
    for row in 0..n {
        let get = |name: &str| col(name).and_then(|c| c[row].clone());
        let id = parse_id(anime_csv, row, "MAL_ID", anime["MAL_ID"][row].as_deref())?;
        let name = get("Name").unwrap_or_else(|| format!("MAL {id}"));
        out.push(Anime {
            id,
            name,
            english_name: get("English name"),
            japanese_name: get("Japanese name"),
            genres: split_list(get("Genres").as_deref()),
            kind: get("Type"),
            episodes: parse_num::<f64>(anime_csv, row, "Episodes", get("Episodes").as_deref())?
                .map(|v| v as u32),
            score: parse_num::<f64>(anime_csv, row, "Score", get("Score").as_deref())?
                .map(|v| v as f32),
            members: parse_num::<f64>(anime_csv, row, "Members", get("Members").as_deref())?
                .map(|v| v as u64),
            studios: split_list(get("Studios").as_deref()),
            synopsis: synopsis.remove(&id),
        });
    }
    Ok(Catalog::new(out))
}

/// "Action, Adventure" → ["Action", "Adventure"].
pub(crate) fn split_list(s: Option<&str>) -> Vec<String> {
    s.map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(String::from)
            .collect()
    })
    .unwrap_or_default()
}

fn parse_id(path: &Path, row: usize, column: &str, v: Option<&str>) -> Result<u32, DataError> {
    let v = v.unwrap_or("").trim();
    v.parse::<u32>().map_err(|_| DataError::Parse {
        path: path.into(),
        line: row as u64 + 2,
        column: column.into(),
        value: v.into(),
        expected: "a non-negative integer id (record number shown as line)",
    })
}

fn parse_num<T: std::str::FromStr>(
    path: &Path,
    row: usize,
    column: &str,
    v: Option<&str>,
) -> Result<Option<T>, DataError> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s.parse::<T>().map(Some).map_err(|_| DataError::Parse {
            path: path.into(),
            line: row as u64 + 2,
            column: column.into(),
            value: s.into(),
            expected: "a number or Unknown (record number shown as line)",
        }),
    }
}

type Table = HashMap<String, Vec<Option<String>>>;

/// Reads the named columns of a quoted CSV as strings ('Unknown' → null) with
/// polars, after checking encoding, header and record shapes ourselves so
/// every failure names a line.
pub(crate) fn read_table(
    path: &Path,
    layout: &'static str,
    required: &[&str],
    optional: &[&str],
) -> Result<Table, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if bytes.is_empty() {
        return Err(DataError::Empty {
            path: path.into(),
            what: format!("the file is empty (0 bytes); expected the {layout} layout"),
        });
    }
    if let Err(e) = std::str::from_utf8(&bytes) {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64
            + 1;
        return Err(DataError::InvalidUtf8 {
            path: path.into(),
            line,
        });
    }
    let header_end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(bytes.len());
    let header = header_fields(&bytes[..header_end], b',');
    for r in required {
        if !header.iter().any(|h| h == r) {
            return Err(DataError::MissingColumn {
                path: path.into(),
                column: (*r).into(),
                found: header,
                layout,
            });
        }
    }
    check_records(path, &bytes, header.len())?;
    let wanted: Vec<PlSmallStr> = required
        .iter()
        .chain(optional)
        .filter(|c| header.iter().any(|h| h == *c))
        .map(|c| PlSmallStr::from(*c))
        .collect();
    let df = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .with_columns(Some(wanted.clone().into()))
        .with_parse_options(
            CsvParseOptions::default()
                .with_null_values(Some(NullValues::AllColumnsSingle("Unknown".into()))),
        )
        .into_reader_with_file_handle(Cursor::new(&bytes[..]))
        .finish()
        .map_err(|e| DataError::Csv {
            path: path.into(),
            msg: e.to_string(),
        })?;
    if df.height() == 0 {
        return Err(DataError::Empty {
            path: path.into(),
            what: "the file has a header but no rows".into(),
        });
    }
    let mut out = Table::new();
    for name in wanted {
        let col = df
            .column(name.as_str())
            .and_then(|c| c.str().cloned())
            .map_err(|e| DataError::Csv {
                path: path.into(),
                msg: e.to_string(),
            })?;
        out.insert(
            name.to_string(),
            col.iter().map(|v| v.map(String::from)).collect(),
        );
    }
    Ok(out)
}

/// RFC-4180 record scan: every record must have the header's field count and
/// every quote must close. This is what catches a truncated last line in a
/// quoted file, which polars would otherwise pad with nulls.
fn check_records(path: &Path, bytes: &[u8], n_fields: usize) -> Result<(), DataError> {
    let mut line: u64 = 1;
    let mut rec_line: u64 = 1;
    let mut fields = 1usize;
    let mut in_quotes = false;
    let mut at_field_start = true;
    let mut empty_record = true;
    let n = bytes.len();
    let mut i = 0;
    let mut header = true;
    while i < n {
        let b = bytes[i];
        if in_quotes {
            if b == b'"' {
                if i + 1 < n && bytes[i + 1] == b'"' {
                    i += 1;
                } else {
                    in_quotes = false;
                }
            } else if b == b'\n' {
                line += 1;
            }
        } else {
            match b {
                b'"' if at_field_start => in_quotes = true,
                b',' => {
                    fields += 1;
                    at_field_start = true;
                    empty_record = false;
                    i += 1;
                    continue;
                }
                b'\n' => {
                    if !empty_record && fields != n_fields && !header {
                        return Err(DataError::Ragged {
                            path: path.into(),
                            line: rec_line,
                            found: fields,
                            expected: n_fields,
                            last: false,
                        });
                    }
                    header = false;
                    line += 1;
                    rec_line = line;
                    fields = 1;
                    at_field_start = true;
                    empty_record = true;
                    i += 1;
                    continue;
                }
                b'\r' => {
                    i += 1;
                    continue;
                }
                _ => {}
            }
        }
        at_field_start = false;
        empty_record = false;
        i += 1;
    }
    if in_quotes {
        return Err(DataError::Ragged {
            path: path.into(),
            line: rec_line,
            found: fields,
            expected: n_fields,
            last: true,
        });
    }
    if !empty_record && fields != n_fields && !header {
        return Err(DataError::Ragged {
            path: path.into(),
            line: rec_line,
            found: fields,
            expected: n_fields,
            last: true,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_real_sample_catalog() {
        let Some(sample) = crate::testdata::data_set("mal2020-sample") else {
            return;
        };
        let c = read_catalog(
            &sample.join("anime.csv"),
            &sample.join("anime_with_synopsis.csv"),
        )
        .unwrap();
        assert_eq!(c.anime.len(), 80);
        let bebop = c.get(1).unwrap();
        assert_eq!(bebop.name, "Cowboy Bebop");
        assert_eq!(
            bebop.genres,
            ["Action", "Adventure", "Comedy", "Drama", "Sci-Fi", "Space"]
        );
        assert_eq!(bebop.episodes, Some(26));
        assert_eq!(bebop.score, Some(8.78));
        assert_eq!(bebop.members, Some(1_251_960));
        assert!(bebop
            .synopsis
            .as_deref()
            .unwrap()
            .starts_with("In the year 2071"));
        // 'Unknown' is null: 11 English names are Unknown in these rows
        assert_eq!(
            c.anime.iter().filter(|a| a.english_name.is_none()).count(),
            11
        );
    }

    #[test]
    fn reads_the_real_sample_animelist() {
        let Some(sample) = crate::testdata::data_set("mal2020-sample") else {
            return;
        };
        let r = read_animelist(&sample.join("animelist.csv"), Selection::All, &|_, _| {}).unwrap();
        assert_eq!(r.len(), 499);
        assert_eq!(r.rating.iter().filter(|&&x| x == 0.0).count(), 279);
    }

    #[test]
    fn reads_the_self_made_fixture() {
        let dir = crate::testdata::fixture("mal-tiny");
        let c = read_catalog(&dir.join("anime.csv"), &dir.join("anime_with_synopsis.csv")).unwrap();
        assert_eq!(c.anime.len(), 12);
        // A quoted name with a comma, and a quoted list.
        let ember = c.get(81).unwrap();
        assert_eq!(ember.name, "Ember, Interrupted");
        assert_eq!(ember.genres, ["Action", "Horror"]);
        assert_eq!(ember.english_name, None);
        let lantern = c.get(3).unwrap();
        assert_eq!(lantern.genres, ["Adventure", "Fantasy", "Slice of Life"]);
        assert_eq!(lantern.japanese_name.as_deref(), Some("ランタン・ドリフト"));
        assert_eq!(lantern.episodes, Some(12));
        assert_eq!(lantern.score, Some(8.12));
        assert_eq!(lantern.members, Some(52_310));
        assert_eq!(lantern.studios, ["Studio Kaze"]);
        // 'Unknown' is null in numeric columns too; no synopsis row is None.
        let tin = c.get(105).unwrap();
        assert_eq!((tin.score, tin.episodes), (None, None));
        assert_eq!(tin.synopsis, None);
        assert!(c
            .get(42)
            .unwrap()
            .synopsis
            .as_deref()
            .unwrap()
            .contains("the \"unsolvable\" mysteries"));
        assert_eq!(
            c.anime.iter().filter(|a| a.english_name.is_none()).count(),
            4
        );
        let r = read_animelist(&dir.join("animelist.csv"), Selection::All, &|_, _| {}).unwrap();
        assert_eq!(r.len(), 69);
        assert_eq!(r.rating.iter().filter(|&&x| x == 0.0).count(), 15);
    }

    #[test]
    fn truncated_quoted_record_is_named() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("anime.csv");
        std::fs::write(&p, "MAL_ID,Name,Genres\n1,A,\"Action, Drama\"\n2,B,\"Come").unwrap();
        let e = read_table(&p, "t", &["MAL_ID"], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("anime.csv:3:") && e.contains("truncated"), "{e}");
        std::fs::write(&p, "MAL_ID,Name,Genres\n1,A\n2,B,C\n").unwrap();
        let e = read_table(&p, "t", &["MAL_ID"], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("anime.csv:2: 2 fields, expected 3"), "{e}");
    }
}
