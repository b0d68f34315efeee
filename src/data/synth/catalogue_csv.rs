//! anime.csv and anime_with_synopsis.csv: the catalogue written with the real files' headers
//! and quoting, and synopses written from per-genre vocabularies.

use std::io::{self, Write};

use rand::Rng;
use rand_pcg::Pcg64;

use super::catalogue::{Anime, AnimeStats, Catalogue};
use super::rng::{pick, stream, STREAM_TEXT};
use super::vocab::{GENRES, OPENERS, TEMPLATES, TYPES};

pub(super) const ANIME_HEADER: &str = "MAL_ID,Name,Score,Genres,English name,Japanese name,Type,Episodes,Aired,Premiered,Producers,Licensors,Studios,Source,Duration,Rating,Ranked,Popularity,Members,Favorites,Watching,Completed,On-Hold,Dropped,Plan to Watch,Score-10,Score-9,Score-8,Score-7,Score-6,Score-5,Score-4,Score-3,Score-2,Score-1";
pub(super) const SYNOPSIS_HEADER: &str = "MAL_ID,Name,Score,Genres,sypnopsis";

/// Appends one CSV field, quoted iff it contains a comma, a double quote or a line break
/// (RFC 4180, the style of the real files).
pub(super) fn push_field(buf: &mut String, field: &str) {
    if field.contains([',', '"', '\n', '\r']) {
        buf.push('"');
        for c in field.chars() {
            if c == '"' {
                buf.push('"');
            }
            buf.push(c);
        }
        buf.push('"');
    } else {
        buf.push_str(field);
    }
}

pub(super) fn genres_field(a: &Anime) -> String {
    let names: Vec<&str> = a.genres.iter().map(|&g| GENRES[g as usize].name).collect();
    names.join(", ")
}

pub(super) fn score_field(s: &AnimeStats) -> String {
    match s.score {
        Some(v) => format!("{v:.2}"),
        None => "Unknown".to_string(),
    }
}

pub(super) fn write_anime_csv(w: &mut dyn Write, cat: &Catalogue) -> io::Result<()> {
    let mut line = String::with_capacity(1024);
    line.push_str(ANIME_HEADER);
    line.push('\n');
    w.write_all(line.as_bytes())?;
    for (a, s) in cat.anime.iter().zip(&cat.stats) {
        line.clear();
        let numbers = |v: u64| v.to_string();
        let ranked = s
            .ranked
            .map_or_else(|| "Unknown".to_string(), |r| format!("{r}.0"));
        let mut fields: Vec<String> = vec![
            a.mal_id.to_string(),
            a.name.clone(),
            score_field(s),
            genres_field(a),
            a.english.clone(),
            a.japanese.clone(),
            TYPES[a.kind].0.to_string(),
            a.episodes.to_string(),
            a.aired.clone(),
            a.premiered.clone(),
            a.producers.clone(),
            a.licensors.clone(),
            a.studios.clone(),
            a.source.to_string(),
            a.duration.clone(),
            a.age_rating.to_string(),
            ranked,
            numbers(s.popularity_rank),
            numbers(s.members),
            numbers(s.favorites),
        ];
        fields.extend(s.status.iter().map(|&v| numbers(v)));
        // Score-N counts are floats in the real file ("229170.0"), `Unknown` when unscored.
        fields.extend(s.hist.iter().map(|&v| match s.score {
            Some(_) => format!("{v}.0"),
            None => "Unknown".to_string(),
        }));
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            push_field(&mut line, f);
        }
        line.push('\n');
        w.write_all(line.as_bytes())?;
    }
    Ok(())
}

pub(super) fn write_synopsis_csv(w: &mut dyn Write, cat: &Catalogue, seed: u64) -> io::Result<()> {
    // Own stream: synopsis wording can change without shifting the catalogue or the lists.
    let mut rng = stream(seed, STREAM_TEXT);
    let mut line = String::with_capacity(2048);
    line.push_str(SYNOPSIS_HEADER);
    line.push('\n');
    w.write_all(line.as_bytes())?;
    for (a, s) in cat.anime.iter().zip(&cat.stats) {
        let text = gen_synopsis(&mut rng, a);
        // ~3 % of anime have no synopsis row, as in the real file.
        if rng.random_bool(0.03) {
            continue;
        }
        line.clear();
        line.push_str(&a.mal_id.to_string());
        line.push(',');
        push_field(&mut line, &a.name);
        line.push(',');
        line.push_str(&score_field(s));
        line.push(',');
        push_field(&mut line, &genres_field(a));
        line.push(',');
        push_field(&mut line, &text);
        line.push('\n');
        w.write_all(line.as_bytes())?;
    }
    Ok(())
}

pub(super) fn gen_synopsis(rng: &mut Pcg64, a: &Anime) -> String {
    let n_sentences = rng.random_range(2..=5);
    let mut out = String::with_capacity(400);
    for i in 0..n_sentences {
        let template = if i == 0 {
            OPENERS[rng.random_range(0..OPENERS.len())]
        } else {
            TEMPLATES[rng.random_range(0..TEMPLATES.len())]
        };
        if i > 0 {
            out.push(' ');
        }
        let sentence_start = out.len();
        let mut rest = template;
        while let Some(pos) = rest.find('{') {
            out.push_str(&rest[..pos]);
            let slot = &rest[pos..];
            if let Some(after) = slot.strip_prefix("{w}") {
                let g = a.genres[rng.random_range(0..a.genres.len())] as usize;
                out.push_str(pick(rng, GENRES[g].words));
                rest = after;
            } else if let Some(after) = slot.strip_prefix("{n}") {
                out.push_str(&a.name);
                rest = after;
            } else {
                out.push('{');
                rest = &slot[1..];
            }
        }
        out.push_str(rest);
        // Templates that open with a word slot need a capital letter.
        if let Some(c) = out[sentence_start..].chars().next() {
            if c.is_ascii_lowercase() {
                out[sentence_start..sentence_start + 1].make_ascii_uppercase();
            }
        }
    }
    // Real synopses often lose their first 1-3 characters to a scraping bug.
    if rng.random_bool(0.05) {
        let cut = rng.random_range(1..=3);
        if out.is_char_boundary(cut) {
            out.drain(..cut);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    use crate::data::synth::testutil::*;
    use crate::data::synth::write_mal2020;

    #[test]
    fn raw_bytes_follow_real_file_conventions() {
        let dir = TempDir::new("bytes");
        write_mal2020(&small_spec(), &dir.0).expect("generate");
        for name in ["anime.csv", "anime_with_synopsis.csv", "animelist.csv"] {
            let bytes = fs::read(dir.0.join(name)).expect("read");
            assert!(!bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "{name} has a BOM");
            assert!(!bytes.contains(&b'\r'), "{name} has CR");
            assert_eq!(bytes.last(), Some(&b'\n'), "{name} lacks trailing newline");
        }
        for e in fs::read_dir(&dir.0).expect("list") {
            let n = e.expect("entry").file_name();
            assert!(
                !n.to_string_lossy().starts_with(".anirec-tmp-"),
                "{n:?} left"
            );
        }
        let anime = read(&dir.0, "anime.csv");
        // List-valued and free-text columns are quoted exactly when they contain a comma.
        assert!(anime.contains(",\"") && anime.contains(" to "));
        assert!(anime.contains("min. per ep."));
        let syn = read(&dir.0, "anime_with_synopsis.csv");
        assert!(syn.contains("\"\"the "), "escaped quote inside synopsis");
        // No field is quoted unless needed.
        for rec in parse_csv(&anime).iter().chain(parse_csv(&syn).iter()) {
            for f in rec {
                let needs = f.contains([',', '"', '\n']);
                let mut quoted = String::new();
                push_field(&mut quoted, f);
                assert_eq!(quoted.starts_with('"'), needs);
            }
        }
    }

    #[test]
    fn synopses_carry_genre_vocabulary() {
        let (p, _) = generate(&small_spec(), "synopsis");
        let mut matched = 0usize;
        let mut total = 0usize;
        for r in &p.synopsis[1..] {
            let text = r[4].to_lowercase();
            for g in r[3].split(", ") {
                let def = GENRES.iter().find(|d| d.name == g).expect("known genre");
                total += 1;
                matched += usize::from(def.words.iter().any(|w| text.contains(w)));
            }
        }
        assert!(matched as f64 / total as f64 > 0.5, "{matched}/{total}");
    }
}
