//! URLs that anirec records or publishes (git remotes in meta.json, Comet's
//! git metadata, the offline archive, PROMOTED.json, `/v1/model`).

/// Drops the userinfo part of a URL (`https://user:token@host/x` →
/// `https://host/x`), so a remote configured with a token never reaches a
/// record or the network. Over http(s) a bare user name is a token too
/// (`https://<token>@github.com/...`); an ssh user name (`ssh://git@host/x`,
/// scp-like `git@host:o/r`) is not a secret and is kept, its password not.
pub(crate) fn strip_credentials(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    // The authority ends at the first '/', '?' or '#'; userinfo is
    // everything up to its last '@' (a password may itself hold '@').
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..auth_end].rfind('@') else {
        return url.to_string();
    };
    let scheme = url[..scheme_end].to_ascii_lowercase();
    let user = &rest[..at];
    let keep_user = scheme.contains("ssh") && !user.contains(':');
    let kept = if keep_user { &rest[..=at] } else { "" };
    format!("{}{kept}{}", &url[..scheme_end + 3], &rest[at + 1..])
}

#[cfg(test)]
mod tests {
    use super::strip_credentials as s;

    #[test]
    fn userinfo_is_removed_everything_else_kept() {
        assert_eq!(
            s("https://user:ghp_SECRET@github.com/o/r.git"),
            "https://github.com/o/r.git"
        );
        assert_eq!(
            s("https://tok@gitlab.example:8443/a"),
            "https://gitlab.example:8443/a"
        );
        assert_eq!(s("https://u:p@ss@host/x@y"), "https://host/x@y");
        assert_eq!(s("ssh://git@host/repo"), "ssh://git@host/repo");
        assert_eq!(s("ssh://git:pw@host/repo"), "ssh://host/repo");
        assert_eq!(s("HTTPS://tok@host/r"), "HTTPS://host/r");
        assert_eq!(s("https://host/path@v1"), "https://host/path@v1");
        assert_eq!(s("git@github.com:o/r.git"), "git@github.com:o/r.git");
        assert_eq!(s("/local/path"), "/local/path");
        assert_eq!(s("https://a:b@h"), "https://h");
    }
}
