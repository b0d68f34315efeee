//! The anime: display fields for anime.csv and the planted model terms (genres, popularity,
//! quality, latent vector), plus the anime.csv statistics derived from them.

use std::collections::HashSet;

use rand::Rng;
use rand_pcg::Pcg64;

use super::franchise;
use super::params::{
    GENRE_GAIN, GENRE_LOADING, LATENT_DIM, MU, POPULARITY_SIGMA, QUALITY_SD, SIDE_GENRE_WEIGHT,
    TYPICAL_GENRE_MATCH,
};
use super::rng::{normal, pick, pick_weighted, stream, STREAM_CATALOGUE, STREAM_GENRE_AXES};
use super::vocab::*;
use super::SynthSpec;
use crate::util::time::{civil_from_days, days_from_civil};

/// One generated anime: display fields for anime.csv plus the planted model terms.
pub(super) struct Anime {
    pub(super) mal_id: u32,
    pub(super) name: String,
    pub(super) english: String,
    pub(super) japanese: String,
    pub(super) genres: Vec<u8>,
    pub(super) kind: usize,
    pub(super) episodes: u32,
    pub(super) aired: String,
    pub(super) premiered: String,
    pub(super) producers: String,
    pub(super) licensors: String,
    pub(super) studios: String,
    pub(super) source: &'static str,
    pub(super) duration: String,
    pub(super) age_rating: &'static str,
    pub(super) popularity: f64,
    pub(super) quality: f64,
    pub(super) latent: [f32; LATENT_DIM],
}

/// anime.csv statistics derived from popularity and quality (not counted from animelist.csv,
/// which may be far too small to give MAL-like magnitudes).
pub(super) struct AnimeStats {
    pub(super) members: u64,
    pub(super) favorites: u64,
    /// Watching, Completed, On-Hold, Dropped, Plan to Watch.
    pub(super) status: [u64; 5],
    /// Score-10 .. Score-1.
    pub(super) hist: [u64; 10],
    /// `None` is written as `Unknown` (too few scorers, like the tail of the real file).
    pub(super) score: Option<f64>,
    pub(super) ranked: Option<u64>,
    pub(super) popularity_rank: u64,
}

pub(super) struct Catalogue {
    pub(super) anime: Vec<Anime>,
    pub(super) stats: Vec<AnimeStats>,
    /// One latent direction per genre: an anime's latent vector leans towards the axes of
    /// its genres, and tribes pick favourite genres by them.
    pub(super) genre_axes: Vec<[f32; LATENT_DIM]>,
    pub(super) franchises: franchise::Franchises,
}

impl Catalogue {
    pub(super) fn generate(spec: &SynthSpec) -> Catalogue {
        let mut rng = stream(spec.seed, STREAM_CATALOGUE);
        let n = spec.anime as usize;
        let mut names: HashSet<String> = HashSet::with_capacity(n);
        let mut anime = Vec::with_capacity(n);
        let mut mal_id = 0u32;
        for _ in 0..n {
            // Real ids start at 1 and have gaps (deleted or hentai entries).
            mal_id += if mal_id == 0 || rng.random_bool(0.55) {
                1
            } else {
                1 + rng.random_range(1..=6)
            };
            anime.push(gen_anime(&mut rng, mal_id, &mut names));
        }
        let genre_axes = gen_genre_axes(spec.seed);
        for a in &mut anime {
            a.latent = genre_structured(&a.latent, &a.genres, &genre_axes);
        }
        // After the genre structure, so a sequel inherits its first entry's direction.
        let franchises = franchise::link(&mut anime, spec.seed);
        let stats = derive_stats(&mut rng, &anime, spec.rows);
        Catalogue {
            anime,
            stats,
            genre_axes,
            franchises,
        }
    }
}

/// Standard-normal axes, one per genre, from their own stream (the catalogue's display
/// fields do not move when the latent model changes).
fn gen_genre_axes(seed: u64) -> Vec<[f32; LATENT_DIM]> {
    let mut rng = stream(seed, STREAM_GENRE_AXES);
    (0..N_GENRES)
        .map(|_| {
            let mut axis = [0f32; LATENT_DIM];
            for v in &mut axis {
                *v = normal(&mut rng) as f32;
            }
            axis
        })
        .collect()
}

/// `loading * (genre axes, the first one weighted double) + sqrt(1 - loading^2) * own`,
/// rescaled so every component keeps unit variance: anime that share genres share
/// direction, and most of all those that share their first (main) genre.
fn genre_structured(
    own: &[f32; LATENT_DIM],
    genres: &[u8],
    axes: &[[f32; LATENT_DIM]],
) -> [f32; LATENT_DIM] {
    let loading = GENRE_LOADING;
    let rest = (1.0 - loading * loading).sqrt();
    let weight = |j: usize| if j == 0 { 1.0 } else { SIDE_GENRE_WEIGHT };
    let norm: f64 = (0..genres.len())
        .map(|j| weight(j) * weight(j))
        .sum::<f64>()
        .sqrt();
    let scale = loading / norm.max(1e-9);
    let mut out = [0f32; LATENT_DIM];
    for (d, o) in out.iter_mut().enumerate() {
        let shared: f64 = genres
            .iter()
            .enumerate()
            .map(|(j, &g)| weight(j) * f64::from(axes[g as usize][d]))
            .sum();
        *o = (scale * shared + rest * f64::from(own[d])) as f32;
    }
    out
}

pub(super) fn gen_anime(rng: &mut Pcg64, mal_id: u32, names: &mut HashSet<String>) -> Anime {
    let kind = pick_weighted(rng, TYPES.iter().map(|t| t.1));

    let n_genres = 1 + pick_weighted(rng, [0.15, 0.25, 0.3, 0.2, 0.1].into_iter());
    let mut genres: Vec<u8> = Vec::with_capacity(5);
    if kind == TYPE_MUSIC {
        genres.push(GENRE_MUSIC);
    }
    while genres.len() < n_genres {
        let g = pick_weighted(rng, GENRES.iter().map(|g| g.prior)) as u8;
        if !genres.contains(&g) {
            genres.push(g);
        }
    }

    let episodes = match kind {
        TYPE_TV => {
            let common = [12, 13, 24, 25, 26, 26, 12, 13, 50, 51, 52, 10];
            if rng.random_bool(0.85) {
                common[rng.random_range(0..common.len())]
            } else {
                rng.random_range(1..=200)
            }
        }
        TYPE_OVA => rng.random_range(1..=6),
        TYPE_SPECIAL => rng.random_range(1..=4),
        TYPE_ONA => rng.random_range(1..=15),
        _ => 1,
    };

    let (name, japanese) = gen_title(rng, kind, names);
    let english = if rng.random_bool(0.15) {
        "Unknown".to_string()
    } else {
        let base = if rng.random_bool(0.6) {
            format!("{} {}", pick(rng, &EN_ADJ), pick(rng, &EN_NOUN))
        } else {
            format!(
                "{} of the {} {}",
                pick(rng, &EN_NOUN),
                pick(rng, &EN_ADJ),
                pick(rng, &EN_NOUN)
            )
        };
        // The real English names drop the space after a colon ("Cowboy Bebop:The Movie").
        if kind == TYPE_MOVIE {
            format!("{base}:The Movie")
        } else {
            base
        }
    };

    let (aired, premiered) = gen_aired(rng, kind, episodes);
    let producers = if rng.random_bool(0.05) {
        "Unknown".to_string()
    } else {
        let count = 1 + rng.random_range(0..4usize);
        join_distinct(rng, &PRODUCERS, count)
    };
    let licensors = if rng.random_bool(0.4) {
        "Unknown".to_string()
    } else {
        let count = 1 + usize::from(rng.random_bool(0.35));
        join_distinct(rng, &LICENSORS, count)
    };
    let studio_count = 1 + usize::from(rng.random_bool(0.08));
    let studios = join_distinct(rng, &STUDIOS, studio_count);
    let source = SOURCES[pick_weighted(rng, SOURCES.iter().map(|s| s.1))].0;
    let duration = gen_duration(rng, kind);
    let age_rating = AGE_RATINGS[pick_weighted(rng, AGE_RATINGS.iter().map(|r| r.1))].0;

    let quality = QUALITY_SD * normal(rng);
    // Better shows are also more popular, as on MAL; the type multiplier puts music videos
    // and specials in the tail.
    let popularity = (POPULARITY_SIGMA * normal(rng) + 0.5 * quality).exp() * TYPES[kind].2;
    let mut latent = [0f32; LATENT_DIM];
    for v in &mut latent {
        *v = normal(rng) as f32;
    }

    Anime {
        mal_id,
        name,
        english,
        japanese,
        genres,
        kind,
        episodes,
        aired,
        premiered,
        producers,
        licensors,
        studios,
        source,
        duration,
        age_rating,
        popularity,
        quality,
        latent,
    }
}

/// Romaji-like unique title plus its katakana transcription.
pub(super) fn gen_title(
    rng: &mut Pcg64,
    kind: usize,
    names: &mut HashSet<String>,
) -> (String, String) {
    let word = |rng: &mut Pcg64, romaji: &mut String, kana: &mut String| {
        let len = rng.random_range(2..=4);
        let start = romaji.len();
        for i in 0..len {
            let mut s = rng.random_range(0..SYLLABLES.len());
            if i == 0 && s == SYL_N {
                s = 0;
            }
            romaji.push_str(SYLLABLES[s].0);
            kana.push_str(SYLLABLES[s].1);
        }
        if let Some(first) = romaji[start..].chars().next() {
            let upper = first.to_ascii_uppercase().to_string();
            romaji.replace_range(start..start + first.len_utf8(), &upper);
        }
    };
    for attempt in 0..8 {
        let mut romaji = String::new();
        let mut kana = String::new();
        word(rng, &mut romaji, &mut kana);
        let form = rng.random_range(0..10);
        if form < 3 {
            romaji.push_str(" no ");
            kana.push('の');
            word(rng, &mut romaji, &mut kana);
        } else if form < 5 {
            romaji.push(' ');
            kana.push('・');
            word(rng, &mut romaji, &mut kana);
        }
        let (mut name, mut jp) = match kind {
            TYPE_MOVIE => (format!("{romaji} Movie"), format!("劇場版 {kana}")),
            TYPE_SPECIAL => (format!("{romaji} Specials"), format!("{kana} 特別編")),
            TYPE_TV if rng.random_bool(0.08) => {
                (format!("{romaji} 2nd Season"), format!("{kana} 第2期"))
            }
            _ => (romaji, kana),
        };
        if attempt == 7 && names.contains(&name) {
            // Tiny catalogues with many collisions: disambiguate like MAL sequels do.
            let mut k = 2;
            while names.contains(&format!("{name} {k}")) {
                k += 1;
            }
            name = format!("{name} {k}");
            jp = format!("{jp} {k}");
        }
        if names.insert(name.clone()) {
            return (name, jp);
        }
    }
    // Unreachable: the last attempt always yields a fresh name.
    let name = format!("Untitled {}", names.len());
    names.insert(name.clone());
    (name, "無題".to_string())
}

pub(super) fn join_distinct(rng: &mut Pcg64, pool: &[&str], count: usize) -> String {
    let mut picked: Vec<&str> = Vec::with_capacity(count);
    while picked.len() < count.min(pool.len()) {
        let p = pick(rng, pool);
        if !picked.contains(&p) {
            picked.push(p);
        }
    }
    picked.join(", ")
}

pub(super) fn gen_duration(rng: &mut Pcg64, kind: usize) -> String {
    match kind {
        TYPE_TV => format!("{} min. per ep.", rng.random_range(22..=26)),
        TYPE_MOVIE => {
            let minutes: u32 = rng.random_range(45..=150);
            match (minutes / 60, minutes % 60) {
                (0, m) => format!("{m} min."),
                (h, 0) => format!("{h} hr."),
                (h, m) => format!("{h} hr. {m} min."),
            }
        }
        TYPE_OVA => format!("{} min. per ep.", rng.random_range(20..=50)),
        TYPE_SPECIAL => format!("{} min. per ep.", rng.random_range(2..=25)),
        TYPE_ONA => format!("{} min. per ep.", rng.random_range(2..=24)),
        _ => format!("{} min.", rng.random_range(2..=6)),
    }
}

pub(super) fn fmt_date(y: i64, m: u32, d: u32) -> String {
    format!("{} {d}, {y}", MONTHS[(m as usize).saturating_sub(1) % 12])
}

/// `Aired` like "Apr 3, 1998 to Apr 24, 1999" / "Sep 1, 2001" / "Oct 20, 2020 to ?" and
/// `Premiered` ("Spring 1998", only for TV, else Unknown).
pub(super) fn gen_aired(rng: &mut Pcg64, kind: usize, episodes: u32) -> (String, String) {
    // Recent years dominate the catalogue, as on MAL.
    let back = (-(1.0 - rng.random::<f64>()).ln() * 9.0) as i64;
    let year = (2020 - back).max(1961);
    let month = rng.random_range(1..=12u32);
    let day = rng.random_range(1..=28u32);
    let start = fmt_date(year, month, day);
    let aired = if episodes <= 1 || kind == TYPE_MOVIE || kind == TYPE_MUSIC {
        start
    } else if year == 2020 && rng.random_bool(0.3) {
        format!("{start} to ?")
    } else {
        let spacing = if kind == TYPE_TV || kind == TYPE_ONA {
            7
        } else {
            rng.random_range(20..=60)
        };
        let end = days_from_civil(year, month, day) + i64::from(episodes - 1) * spacing;
        let (ey, em, ed) = civil_from_days(end);
        format!("{start} to {}", fmt_date(ey, em, ed))
    };
    let premiered = if kind == TYPE_TV && rng.random_bool(0.9) {
        let season = ["Winter", "Spring", "Summer", "Fall"][((month - 1) / 3) as usize];
        format!("{season} {year}")
    } else {
        "Unknown".to_string()
    };
    (aired, premiered)
}

/// Expected rating of an anime among the users who list it, on the same scale as the
/// generated `animelist.csv` ratings.
pub(super) fn expected_rating(a: &Anime) -> f64 {
    MU + a.quality + GENRE_GAIN * TYPICAL_GENRE_MATCH
}

pub(super) fn derive_stats(rng: &mut Pcg64, anime: &[Anime], rows: u64) -> Vec<AnimeStats> {
    let pop_total: f64 = anime.iter().map(|a| a.popularity).sum();
    // As if animelist.csv were a ~5 % sample of MAL: member counts keep MAL-like magnitudes
    // while staying proportional to how often the anime is drawn here.
    let member_total = rows as f64 * 20.0;
    let mut stats: Vec<AnimeStats> = anime
        .iter()
        .map(|a| {
            let members = ((a.popularity / pop_total) * member_total).round().max(1.0) as u64;
            let q = a.quality / QUALITY_SD;
            let watching = 0.04 + 0.06 * rng.random::<f64>();
            let plan = 0.15 + 0.15 * rng.random::<f64>();
            let hold = 0.03 + 0.04 * rng.random::<f64>();
            let dropped = 0.02 + 0.10 / (1.0 + (1.5 * q).exp());
            let frac = [watching, hold, dropped, plan];
            let mut parts = [0u64; 4];
            for (p, f) in parts.iter_mut().zip(frac) {
                *p = (members as f64 * f).floor() as u64;
            }
            let completed = members.saturating_sub(parts.iter().sum::<u64>());
            let status = [parts[0], completed, parts[1], parts[2], parts[3]];
            let scorers =
                (completed as f64 * 0.8 + (parts[0] + parts[1] + parts[2]) as f64 * 0.4).round();
            let mean = expected_rating(a);
            let mut hist = [0u64; 10];
            let sd = 1.45;
            for (i, h) in hist.iter_mut().enumerate() {
                let r = (10 - i) as f64;
                let lo = if r <= 1.0 { f64::NEG_INFINITY } else { r - 0.5 };
                let hi = if r >= 10.0 { f64::INFINITY } else { r + 0.5 };
                let p = normal_cdf((hi - mean) / sd) - normal_cdf((lo - mean) / sd);
                *h = (scorers * p).round() as u64;
            }
            let n: u64 = hist.iter().sum();
            let score = (n > 0).then(|| {
                let s: u64 = hist
                    .iter()
                    .enumerate()
                    .map(|(i, h)| (10 - i as u64) * h)
                    .sum();
                s as f64 / n as f64
            });
            let favorites =
                (members as f64 * 0.004 * (1.5 * q).exp() * rng.random::<f64>()).round() as u64;
            AnimeStats {
                members,
                favorites,
                status,
                hist,
                score,
                ranked: None,
                popularity_rank: 0,
            }
        })
        .collect();

    // Popularity rank by members; ties broken by id so the order is total.
    let mut order: Vec<usize> = (0..anime.len()).collect();
    order.sort_by(|&a, &b| stats[b].members.cmp(&stats[a].members).then(a.cmp(&b)));
    for (rank, &i) in order.iter().enumerate() {
        stats[i].popularity_rank = rank as u64 + 1;
    }
    // The least listed ~1.5 % have no score yet, like the tail of the real file.
    let unknown = anime.len() * 3 / 200;
    for &i in order.iter().rev().take(unknown) {
        stats[i].score = None;
    }
    let mut scored: Vec<usize> = (0..anime.len())
        .filter(|&i| stats[i].score.is_some())
        .collect();
    scored.sort_by(|&a, &b| {
        let (sa, sb) = (stats[a].score.unwrap_or(0.0), stats[b].score.unwrap_or(0.0));
        sb.total_cmp(&sa).then(a.cmp(&b))
    });
    for (rank, &i) in scored.iter().enumerate() {
        stats[i].ranked = Some(rank as u64 + 1);
    }
    stats
}

/// Standard normal CDF via the Abramowitz-Stegun erf approximation (|err| < 1.5e-7), plenty
/// for histogram shapes.
pub(super) fn normal_cdf(x: f64) -> f64 {
    if x.is_infinite() {
        return if x > 0.0 { 1.0 } else { 0.0 };
    }
    let z = x / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-z * z).exp();
    let erf = if z >= 0.0 { erf } else { -erf };
    0.5 * (1.0 + erf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_as_mal_writes_them() {
        assert_eq!(fmt_date(1998, 4, 3), "Apr 3, 1998");
    }
}
