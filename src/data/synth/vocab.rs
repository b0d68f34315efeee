//! The name tables the catalogue draws from: MAL's genres (with a prior weight and a synopsis
//! vocabulary each), types, sources, age ratings, companies, title syllables and synopsis
//! templates. Values only; no randomness here.

/// Real MAL genre names with a prior weight (roughly their frequency on MAL) and a small
/// vocabulary used to write synopses, so a text model can recover genres from words.
pub(super) struct GenreDef {
    pub(super) name: &'static str,
    pub(super) prior: f64,
    pub(super) words: &'static [&'static str],
}

pub(super) const fn g(name: &'static str, prior: f64, words: &'static [&'static str]) -> GenreDef {
    GenreDef { name, prior, words }
}

#[rustfmt::skip]
pub(super) const GENRES: [GenreDef; 40] = [
    g("Action", 3900.0, &["battle", "sword", "rival", "tournament", "fight", "explosion", "warrior", "showdown", "combat", "weapon", "duel", "mercenary"]),
    g("Adventure", 2650.0, &["journey", "quest", "treasure", "map", "expedition", "voyage", "explorer", "ruins", "island", "compass", "wilderness", "traveler"]),
    g("Cars", 95.0, &["race", "car", "engine", "driver", "circuit", "drift", "garage", "highway", "pitstop", "turbo", "speedway", "mechanic"]),
    g("Comedy", 6000.0, &["prank", "joke", "hilarious", "misunderstanding", "gag", "antics", "mishap", "silly", "comedian", "slapstick", "chaos", "laughter"]),
    g("Dementia", 330.0, &["surreal", "hallucination", "fragment", "void", "abstract", "distortion", "dreamscape", "labyrinth", "fractured", "symbol", "nonsense", "paradox"]),
    g("Demons", 450.0, &["demon", "curse", "exorcist", "underworld", "pact", "oni", "horns", "hellfire", "possession", "summoning", "fiend", "seal"]),
    g("Drama", 2000.0, &["tragedy", "family", "grief", "loss", "sacrifice", "secret", "betrayal", "tears", "burden", "regret", "reconciliation", "hardship"]),
    g("Ecchi", 700.0, &["swimsuit", "bathhouse", "flirt", "teasing", "embarrassing", "beach", "blush", "mischief", "allure", "towel", "sunbathing", "glamour"]),
    g("Fantasy", 2900.0, &["kingdom", "dragon", "elf", "enchanted", "realm", "castle", "prophecy", "knight", "dungeon", "guild", "legend", "artifact"]),
    g("Game", 350.0, &["game", "player", "level", "console", "avatar", "virtual", "server", "respawn", "boss", "gamer", "arcade", "strategy"]),
    g("Harem", 400.0, &["harem", "suitors", "heroines", "admirers", "fiancee", "housemate", "jealous", "bachelor", "courtship", "dormitory", "maid", "attention"]),
    g("Historical", 1000.0, &["era", "shogunate", "feudal", "emperor", "dynasty", "revolution", "ancient", "chronicle", "warlord", "edo", "meiji", "clan"]),
    g("Horror", 370.0, &["corpse", "haunted", "blood", "terror", "nightmare", "scream", "ghoul", "massacre", "creature", "dread", "zombie", "grave"]),
    g("Josei", 120.0, &["office", "career", "adulthood", "marriage", "coworker", "apartment", "independence", "divorce", "promotion", "thirties", "workplace", "mature"]),
    g("Kids", 1700.0, &["puppy", "friendship", "lesson", "playground", "cheerful", "picnic", "toy", "colorful", "bunny", "storybook", "kindergarten", "singalong"]),
    g("Magic", 900.0, &["spell", "wand", "witch", "wizard", "sorcery", "potion", "mage", "incantation", "grimoire", "mana", "familiar", "academy"]),
    g("Martial Arts", 450.0, &["dojo", "kungfu", "karate", "master", "technique", "sensei", "discipline", "fist", "kick", "kata", "training", "temple"]),
    g("Mecha", 1000.0, &["robot", "mecha", "pilot", "cockpit", "armor", "giant", "suit", "hangar", "reactor", "frame", "cannon", "unit"]),
    g("Military", 500.0, &["soldier", "army", "squad", "general", "battlefield", "regiment", "tank", "war", "officer", "frontline", "sniper", "operation"]),
    g("Music", 500.0, &["band", "concert", "guitar", "song", "singer", "idol", "stage", "melody", "orchestra", "piano", "album", "rehearsal"]),
    g("Mystery", 700.0, &["detective", "clue", "murder", "investigation", "culprit", "alibi", "case", "suspect", "riddle", "evidence", "disappearance", "puzzle"]),
    g("Parody", 650.0, &["spoof", "parody", "satire", "homage", "cliche", "lampoon", "trope", "absurdity", "exaggeration", "imitation", "mockery", "reference"]),
    g("Police", 250.0, &["police", "cop", "precinct", "patrol", "arrest", "criminal", "badge", "inspector", "crime", "warrant", "interrogation", "heist"]),
    g("Psychological", 330.0, &["mind", "trauma", "manipulation", "sanity", "obsession", "paranoia", "identity", "guilt", "psyche", "consciousness", "delusion", "mental"]),
    g("Romance", 1600.0, &["confession", "love", "classmate", "date", "heart", "crush", "kiss", "relationship", "sweetheart", "romance", "feelings", "couple"]),
    g("Samurai", 180.0, &["samurai", "katana", "ronin", "bushido", "swordsman", "honor", "shogun", "blade", "retainer", "vendetta", "lord", "duelist"]),
    g("School", 1400.0, &["school", "student", "club", "teacher", "homeroom", "festival", "exam", "classroom", "council", "graduation", "semester", "uniform"]),
    g("Sci-Fi", 2500.0, &["spaceship", "android", "colony", "laser", "cyborg", "experiment", "technology", "future", "clone", "dystopia", "scientist", "simulation"]),
    g("Seinen", 800.0, &["salaryman", "corruption", "gritty", "cynical", "yakuza", "gambling", "debt", "brutality", "morality", "veteran", "hitman", "syndicate"]),
    g("Shoujo", 550.0, &["princess", "blossom", "sparkle", "maiden", "ribbon", "charming", "prince", "diary", "pastel", "fairy", "heartfelt", "bouquet"]),
    g("Shoujo Ai", 70.0, &["yuri", "schoolgirls", "devotion", "ladies", "tenderness", "lilies", "admiration", "roses", "convent", "sisterly", "affection", "soulmate"]),
    g("Shounen", 1900.0, &["determination", "hero", "comrades", "courage", "powerup", "destiny", "ninja", "pirate", "champion", "spirit", "limits", "nakama"]),
    g("Shounen Ai", 85.0, &["bishounen", "companionship", "boys", "roommate", "longing", "gentleman", "partner", "bromance", "confidant", "closeness", "trust", "yearning"]),
    g("Slice of Life", 1700.0, &["daily", "cafe", "hobby", "everyday", "neighborhood", "routine", "tea", "cooking", "countryside", "relaxing", "seasons", "chores"]),
    g("Space", 500.0, &["planet", "asteroid", "orbit", "astronaut", "star", "galaxy", "nebula", "cosmos", "rocket", "satellite", "moon", "starship"]),
    g("Sports", 700.0, &["team", "match", "coach", "baseball", "soccer", "volleyball", "basketball", "championship", "stadium", "athlete", "practice", "scoreboard"]),
    g("Super Power", 550.0, &["superpower", "ability", "esper", "telekinesis", "psychic", "superhuman", "mutation", "quirk", "teleportation", "gifted", "awakening", "powers"]),
    g("Supernatural", 1300.0, &["ghost", "yokai", "shrine", "supernatural", "apparition", "afterlife", "talisman", "medium", "omen", "phantom", "otherworldly", "spirits"]),
    g("Thriller", 110.0, &["conspiracy", "hostage", "assassin", "chase", "countdown", "bomb", "deadly", "survival", "trap", "kidnapping", "escape", "ransom"]),
    g("Vampire", 110.0, &["vampire", "fangs", "bite", "immortal", "coffin", "nocturnal", "count", "hunter", "crimson", "undead", "bloodline", "night"]),
];
pub(super) const N_GENRES: usize = GENRES.len();
pub(super) const GENRE_MUSIC: u8 = 19;

/// Anime types with the share they get and a popularity multiplier (music videos and
/// specials are listed far less often than TV series).
pub(super) const TYPES: [(&str, f64, f64); 6] = [
    ("TV", 0.30, 1.0),
    ("OVA", 0.20, 0.35),
    ("Movie", 0.16, 0.7),
    ("Special", 0.13, 0.3),
    ("ONA", 0.12, 0.35),
    ("Music", 0.035, 0.08),
];
pub(super) const TYPE_TV: usize = 0;
pub(super) const TYPE_OVA: usize = 1;
pub(super) const TYPE_MOVIE: usize = 2;
pub(super) const TYPE_SPECIAL: usize = 3;
pub(super) const TYPE_ONA: usize = 4;
pub(super) const TYPE_MUSIC: usize = 5;

pub(super) const SOURCES: [(&str, f64); 12] = [
    ("Manga", 0.30),
    ("Original", 0.28),
    ("Light novel", 0.07),
    ("Visual novel", 0.05),
    ("Game", 0.05),
    ("4-koma manga", 0.03),
    ("Novel", 0.04),
    ("Web manga", 0.03),
    ("Other", 0.04),
    ("Music", 0.03),
    ("Picture book", 0.02),
    ("Unknown", 0.06),
];

pub(super) const AGE_RATINGS: [(&str, f64); 6] = [
    ("PG-13 - Teens 13 or older", 0.50),
    ("G - All Ages", 0.18),
    ("PG - Children", 0.12),
    ("R - 17+ (violence & profanity)", 0.11),
    ("R+ - Mild Nudity", 0.06),
    ("None", 0.03),
];

pub(super) const PRODUCERS: [&str; 24] = [
    "Bandai Visual",
    "TV Tokyo",
    "Aniplex",
    "Dentsu",
    "Fuji TV",
    "Lantis",
    "Pony Canyon",
    "Kadokawa Shoten",
    "Shueisha",
    "Movic",
    "Starchild Records",
    "Victor Entertainment",
    "NHK",
    "TBS",
    "Genco",
    "Sotsu",
    "Frontier Works",
    "AT-X",
    "Mainichi Broadcasting System",
    "Kodansha",
    "Avex Pictures",
    "Sony Music Entertainment",
    "Nihon Ad Systems",
    "TV Asahi",
];
pub(super) const LICENSORS: [&str; 10] = [
    "Funimation",
    "Sentai Filmworks",
    "VIZ Media",
    "Aniplex of America",
    "Bandai Entertainment",
    "Discotek Media",
    "Crunchyroll",
    "Nozomi Entertainment",
    "Geneon Entertainment USA",
    "ADV Films",
];
pub(super) const STUDIOS: [&str; 22] = [
    "Sunrise",
    "Madhouse",
    "Toei Animation",
    "J.C.Staff",
    "Production I.G",
    "Bones",
    "Studio Deen",
    "A-1 Pictures",
    "Kyoto Animation",
    "Shaft",
    "Gonzo",
    "TMS Entertainment",
    "OLM",
    "Pierrot",
    "Xebec",
    "Doga Kobo",
    "Brain's Base",
    "Satelight",
    "Silver Link.",
    "Gainax",
    "Tatsunoko Production",
    "Nippon Animation",
];

/// Romaji syllables with their katakana, so the Japanese name is a transcription of the title.
#[rustfmt::skip]
pub(super) const SYLLABLES: [(&str, &str); 62] = [
    ("ka", "カ"), ("ki", "キ"), ("ku", "ク"), ("ke", "ケ"), ("ko", "コ"),
    ("sa", "サ"), ("shi", "シ"), ("su", "ス"), ("se", "セ"), ("so", "ソ"),
    ("ta", "タ"), ("chi", "チ"), ("tsu", "ツ"), ("te", "テ"), ("to", "ト"),
    ("na", "ナ"), ("ni", "ニ"), ("nu", "ヌ"), ("ne", "ネ"), ("no", "ノ"),
    ("ha", "ハ"), ("hi", "ヒ"), ("fu", "フ"), ("he", "ヘ"), ("ho", "ホ"),
    ("ma", "マ"), ("mi", "ミ"), ("mu", "ム"), ("me", "メ"), ("mo", "モ"),
    ("ya", "ヤ"), ("yu", "ユ"), ("yo", "ヨ"), ("ra", "ラ"), ("ri", "リ"),
    ("ru", "ル"), ("re", "レ"), ("ro", "ロ"), ("wa", "ワ"), ("a", "ア"),
    ("i", "イ"), ("u", "ウ"), ("e", "エ"), ("o", "オ"), ("ga", "ガ"),
    ("gi", "ギ"), ("go", "ゴ"), ("za", "ザ"), ("ji", "ジ"), ("zu", "ズ"),
    ("da", "ダ"), ("do", "ド"), ("ba", "バ"), ("bi", "ビ"), ("bo", "ボ"),
    ("pa", "パ"), ("pi", "ピ"), ("po", "ポ"), ("ryuu", "リュウ"), ("kyou", "キョウ"),
    ("shou", "ショウ"), ("n", "ン"),
];
/// Index of the syllabic "n" above, which may not start a word.
pub(super) const SYL_N: usize = 61;

pub(super) const EN_ADJ: [&str; 16] = [
    "Crimson",
    "Silent",
    "Eternal",
    "Broken",
    "Hidden",
    "Golden",
    "Lost",
    "Final",
    "Wandering",
    "Iron",
    "Shining",
    "Midnight",
    "Frozen",
    "Burning",
    "Distant",
    "Secret",
];
pub(super) const EN_NOUN: [&str; 16] = [
    "Blade", "Horizon", "Promise", "Garden", "Kingdom", "Melody", "Sky", "Star", "Memory",
    "Journey", "Legend", "Heart", "Tide", "Spirit", "Frontier", "Requiem",
];

pub(super) const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Synopsis sentence templates: `{w}` is a word from one of the anime's genres, `{n}` the
/// title. Some carry commas and a quoted word so the writer's quoting gets exercised.
pub(super) const TEMPLATES: [&str; 10] = [
    "When the {w} threatens the {w}, an unlikely group must face their {w}.",
    "In a world of {w}, {w} and {w}, nothing is what it seems.",
    "Known only as \"the {w}\", a stranger arrives carrying the {w}.",
    "Between {w} and {w}, the {w} begins.",
    "Every {w} hides the {w}, and every {w} has a price.",
    "Soon, the {w} draws everyone toward the {w}.",
    "{w} and {w} collide as the story of {n} unfolds.",
    "Nobody expected the {w} to matter, least of all the {w}.",
    "What starts as the simple {w} turns into the {w} of {w}.",
    "Haunted by the {w}, the {w} searches for the {w} that may not exist.",
];
pub(super) const OPENERS: [&str; 3] = [
    "{n} follows the young {w} caught up in the {w} that changes everything.",
    "{n} tells the story of the {w} and the {w} who share the {w}.",
    "In {n}, the {w} must confront the {w}.",
];
