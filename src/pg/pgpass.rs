//! The password file (`~/.pgpass`, or `PGPASSFILE`), read by libpq's rules.
//!
//! Each line is `hostname:port:database:username:password`; `*` matches anything, `\` escapes
//! the next character (`\:`, `\\`), lines starting with `#` are comments and the first matching
//! line wins. A file that group or others may access is ignored, as libpq ignores it. This
//! module reads the file and matches lines; it never prints a password.
//! See <https://www.postgresql.org/docs/current/libpq-pgpass.html>.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// What the password file said for one connection.
#[derive(PartialEq, Eq)]
pub enum Lookup {
    /// The password of the first matching line.
    Found(String),
    /// The file exists and is private, but no line matches.
    NoMatch,
    /// There is no such file.
    Missing,
    /// The file was ignored; the reason is a sentence fragment for messages.
    Ignored(String),
}

impl std::fmt::Debug for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lookup::Found(_) => f.write_str("Found(***)"),
            Lookup::NoMatch => f.write_str("NoMatch"),
            Lookup::Missing => f.write_str("Missing"),
            Lookup::Ignored(why) => write!(f, "Ignored({why:?})"),
        }
    }
}

/// The connection a password is looked up for. `host` is `localhost` for unix sockets, as in
/// libpq.
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    /// The host name, or `localhost` for a unix socket.
    pub host: &'a str,
    /// The port.
    pub port: u16,
    /// The database name.
    pub database: &'a str,
    /// The user name.
    pub user: &'a str,
}

/// Looks `key` up in the file at `path`, honouring libpq's permission rule.
pub fn lookup(path: &Path, key: Key<'_>) -> io::Result<Lookup> {
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Lookup::Missing),
        Err(error) => return Err(error),
    };
    if !metadata.is_file() {
        return Ok(Lookup::Ignored(format!(
            "password file {} is not a plain file",
            path.display()
        )));
    }
    if metadata.permissions().mode() & 0o077 != 0 {
        return Ok(Lookup::Ignored(format!(
            "password file {} was ignored because group or others can access it; chmod 0600 it",
            path.display()
        )));
    }
    let text = fs::read_to_string(path)?;
    Ok(find(&text, key).map_or(Lookup::NoMatch, Lookup::Found))
}

/// The password of the first line of `text` that matches `key`.
fn find(text: &str, key: Key<'_>) -> Option<String> {
    let port = key.port.to_string();
    let wanted = [key.host, port.as_str(), key.database, key.user];
    text.lines()
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .find_map(|line| {
            let (fields, password) = split(line)?;
            let matches = fields
                .iter()
                .zip(wanted)
                .all(|(field, value)| field.as_deref().is_none_or(|field| field == value));
            matches.then_some(password)
        })
}

/// The four match fields of a line (`None` for a bare `*`, so that an escaped `\*` stays a
/// literal star) and the password, which is the rest of the line and may hold colons. `None`
/// for a line with fewer than five fields.
fn split(line: &str) -> Option<([Option<String>; 4], String)> {
    let mut fields: [Option<String>; 4] = Default::default();
    let mut current = String::new();
    let mut escaped = false;
    let mut index = 0;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                current.extend(chars.next());
                escaped = true;
            }
            ':' if index < 4 => {
                let wildcard = current == "*" && !escaped;
                fields[index] = (!wildcard).then(|| std::mem::take(&mut current));
                current.clear();
                escaped = false;
                index += 1;
            }
            c => current.push(c),
        }
    }
    (index == 4).then_some((fields, current))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: Key<'static> = Key {
        host: "db.internal",
        port: 5432,
        database: "app",
        user: "billing_rw",
    };

    #[test]
    fn first_matching_line_wins_with_wildcards() {
        let text = "\
# comment:*:*:*:nope
other:5432:app:billing_rw:wrong-host
db.internal:5433:app:billing_rw:wrong-port
db.internal:5432:*:billing_rw:first
*:*:*:*:fallback
";
        assert_eq!(find(text, KEY).as_deref(), Some("first"));
        let other_user = Key {
            user: "someone",
            ..KEY
        };
        assert_eq!(find(text, other_user).as_deref(), Some("fallback"));
        assert_eq!(find("db.internal:5432:app:billing_rw\n", KEY), None);
    }

    #[test]
    fn escapes_and_colons_in_the_password() {
        let key = Key {
            host: "h:1",
            database: r"a\b",
            ..KEY
        };
        let text = "h\\:1:5432:a\\\\b:billing_rw:pa\\:ss:with:colons\\\\\r\n";
        assert_eq!(find(text, key).as_deref(), Some(r"pa:ss:with:colons\"));
        // An escaped `*` is a literal star, not a wildcard.
        assert_eq!(find("\\*:5432:app:billing_rw:x", KEY), None);
    }

    #[test]
    fn files_other_users_can_read_are_ignored() {
        let dir = std::env::temp_dir().join(format!("dbsplit-pgpass-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("pgpass");
        fs::write(&path, "*:*:*:*:secret-pw\n").expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let ignored = lookup(&path, KEY).expect("readable");
        assert!(matches!(&ignored, Lookup::Ignored(why) if why.contains("chmod 0600")));
        assert!(!format!("{ignored:?}").contains("secret-pw"));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        let found = lookup(&path, KEY).expect("readable");
        assert_eq!(found, Lookup::Found("secret-pw".into()));
        assert_eq!(format!("{found:?}"), "Found(***)");
        assert_eq!(
            lookup(&dir.join("missing"), KEY).expect("missing is fine"),
            Lookup::Missing
        );
        assert!(matches!(lookup(&dir, KEY), Ok(Lookup::Ignored(_))));
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}
