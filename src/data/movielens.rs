//! MovieLens readers (ml-100k and ml-latest-small) into the same in-memory
//! shape as the MAL data, so the public benchmarks run through one pipeline.

use super::csv::{read_triplets, RatingRule, Selection, TripletLayout};
use super::error::DataError;
use super::mal::read_table;
use super::{Anime, Catalog, Ratings};
use std::path::Path;

const U_DATA: TripletLayout = TripletLayout {
    name: "ml-100k u.data (user, item, rating, timestamp; tab-separated)",
    sep: b'\t',
    columns: [&[], &[], &[]],
    headerless: Some((4, [0, 1, 2])),
    rating: RatingRule::Finite,
};

const RATINGS_CSV: TripletLayout = TripletLayout {
    name: "ml-latest ratings.csv (userId,movieId,rating,timestamp)",
    sep: b',',
    columns: [&["userId"], &["movieId"], &["rating"]],
    headerless: None,
    rating: RatingRule::Finite,
};

/// Which MovieLens release a folder holds.
fn is_100k(dir: &Path) -> bool {
    dir.join("u.data").exists()
}

/// Ratings of either release.
pub(crate) fn read_ratings(
    dir: &Path,
    sel: Selection,
    progress: &dyn Fn(u64, u64),
) -> Result<Ratings, DataError> {
    if is_100k(dir) {
        read_triplets(&dir.join("u.data"), &U_DATA, sel, progress)
    } else if dir.join("ratings.csv").exists() {
        read_triplets(&dir.join("ratings.csv"), &RATINGS_CSV, sel, progress)
    } else {
        Err(DataError::NotFound {
            path: dir.join("u.data"),
            hint: "a MovieLens folder holds u.data + u.item (ml-100k) or ratings.csv + movies.csv (ml-latest-small)".into(),
        })
    }
}

/// The files whose content identifies the data (for fingerprints).
pub(crate) fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    if is_100k(dir) {
        vec![dir.join("u.data"), dir.join("u.item")]
    } else {
        vec![dir.join("ratings.csv"), dir.join("movies.csv")]
    }
}

/// Movies as a catalog (title as name, genres, type "Movie").
pub(crate) fn read_catalog(dir: &Path) -> Result<Catalog, DataError> {
    if is_100k(dir) {
        read_u_item(dir)
    } else {
        let p = dir.join("movies.csv");
        let t = read_table(
            &p,
            "ml-latest movies.csv (movieId,title,genres)",
            &["movieId", "title", "genres"],
            &[],
        )?;
        let mut out = Vec::with_capacity(t["movieId"].len());
        for (row, id) in t["movieId"].iter().enumerate() {
            let id_text = id.as_deref().unwrap_or("").trim();
            let id: u32 = id_text.parse().map_err(|_| DataError::Parse {
                path: p.clone(),
                line: row as u64 + 2,
                column: "movieId".into(),
                value: id_text.into(),
                expected: "a non-negative integer id",
            })?;
            let genres = t["genres"][row]
                .as_deref()
                .unwrap_or("")
                .split('|')
                .filter(|g| !g.is_empty() && *g != "(no genres listed)")
                .map(String::from)
                .collect();
            out.push(movie(
                id,
                t["title"][row].clone().unwrap_or_default(),
                genres,
            ));
        }
        Ok(Catalog::new(out))
    }
}

fn movie(id: u32, name: String, genres: Vec<String>) -> Anime {
    Anime {
        id,
        name,
        english_name: None,
        japanese_name: None,
        genres,
        kind: Some("Movie".into()),
        episodes: Some(1),
        score: None,
        members: None,
        studios: Vec::new(),
        synopsis: None,
    }
}

/// u.item is ISO-8859-1 and pipe-separated without quoting, which polars'
/// UTF-8 reader cannot take, so it is decoded by hand (each byte is one char).
fn read_u_item(dir: &Path) -> Result<Catalog, DataError> {
    let p = dir.join("u.item");
    let bytes = std::fs::read(&p).map_err(|e| DataError::io(&p, e))?;
    let genre_names: Vec<String> = match std::fs::read(dir.join("u.genre")) {
        Ok(g) => latin1(&g)
            .lines()
            .filter_map(|l| l.split('|').next())
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        Err(_) => Vec::new(),
    };
    let text = latin1(&bytes);
    let mut out = Vec::new();
    for (k, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('|').collect();
        if f.len() < 6 {
            return Err(DataError::Ragged {
                path: p,
                line: k as u64 + 1,
                found: f.len(),
                expected: 24,
                last: false,
            });
        }
        let id: u32 = f[0].parse().map_err(|_| DataError::Parse {
            path: p.clone(),
            line: k as u64 + 1,
            column: "movie id".into(),
            value: f[0].into(),
            expected: "a non-negative integer id",
        })?;
        let genres = f[5..]
            .iter()
            .enumerate()
            .filter(|(_, flag)| **flag == "1")
            .filter_map(|(g, _)| genre_names.get(g).cloned())
            .filter(|g| g != "unknown")
            .collect();
        out.push(movie(id, f[1].to_string(), genres));
    }
    if out.is_empty() {
        return Err(DataError::Empty {
            path: p,
            what: "no movies".into(),
        });
    }
    Ok(Catalog::new(out))
}

fn latin1(b: &[u8]) -> String {
    b.iter().map(|&c| c as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ml_100k() {
        let Some(dir) = crate::testdata::data_set("ml-100k") else {
            return;
        };
        let r = read_ratings(&dir, Selection::All, &|_, _| {}).unwrap();
        assert_eq!(r.len(), 100_000);
        let c = read_catalog(&dir).unwrap();
        assert_eq!(c.anime.len(), 1682);
        let toy = c.get(1).unwrap();
        assert_eq!(toy.name, "Toy Story (1995)");
        assert_eq!(toy.genres, ["Animation", "Children's", "Comedy"]);
    }

    #[test]
    fn ml_latest_small() {
        let Some(dir) = crate::testdata::data_set("ml-latest-small") else {
            return;
        };
        let r = read_ratings(&dir, Selection::All, &|_, _| {}).unwrap();
        assert_eq!(r.len(), 100_836);
        assert!(r.rating.contains(&0.5));
        let c = read_catalog(&dir).unwrap();
        assert_eq!(c.anime.len(), 9742);
        assert_eq!(c.get(1).unwrap().genres[0], "Adventure");
    }
}
