//! Parsing of libpq connection strings: `postgres://` URLs and `key=value` strings.
//!
//! This module only splits a string into `(key, value)` pairs, decoding URL escapes and
//! conninfo quoting the way libpq does; which keys are known and what they mean is decided by
//! `connect`. It never touches the environment or the network.
//! See <https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING>.

/// Why a connection string could not be parsed. The message never contains the string itself,
/// which may hold a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConninfoError(String);

/// Splits a connection string into its settings, in order: a `postgres://` or `postgresql://`
/// URL, or else libpq's `key=value` form.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, ConninfoError> {
    let url = ["postgresql://", "postgres://"]
        .iter()
        .find_map(|scheme| text.strip_prefix(scheme));
    match url {
        Some(rest) => parse_url(rest),
        None => parse_key_values(text),
    }
}

/// `[user[:password]@][host][:port][/dbname][?key=value&...]`, each part percent-decoded.
fn parse_url(rest: &str) -> Result<Vec<(String, String)>, ConninfoError> {
    let mut settings = Vec::new();
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = before_query.split_once('/').unwrap_or((before_query, ""));
    // The user info ends at the last `@`: a password may contain an unescaped `@`.
    let hostport = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => {
            let (user, password) = match userinfo.split_once(':') {
                Some((user, password)) => (user, Some(password)),
                None => (userinfo, None),
            };
            push(&mut settings, "user", decode(user, "user name")?);
            if let Some(password) = password {
                push(&mut settings, "password", decode(password, "password")?);
            }
            hostport
        }
        None => authority,
    };
    if hostport.contains(',') {
        return Err(ConninfoError(
            "several hosts in one URL are not supported; name one host".into(),
        ));
    }
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or_else(|| {
            ConninfoError("an IPv6 address in the URL lacks its closing `]`".into())
        })?;
        let port = match after {
            "" => "",
            _ => after.strip_prefix(':').ok_or_else(|| {
                ConninfoError("unexpected text after the IPv6 address in the URL".into())
            })?,
        };
        (host, port)
    } else {
        hostport.rsplit_once(':').unwrap_or((hostport, ""))
    };
    push(&mut settings, "host", decode(host, "host")?);
    push(&mut settings, "port", decode(port, "port")?);
    push(&mut settings, "dbname", decode(path, "database name")?);
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').ok_or_else(|| {
            ConninfoError(format!(
                "URL parameter `{}` has no value",
                decode(pair, "parameter").unwrap_or_default()
            ))
        })?;
        let key = decode(key, "parameter name")?;
        let value = decode(value, "parameter value")?;
        // JDBC's `ssl=true`, which libpq accepts too, means sslmode=require.
        if key == "ssl" {
            if value != "true" {
                return Err(ConninfoError(format!(
                    "URL parameter `ssl` must be `true`, not `{value}`"
                )));
            }
            settings.push(("sslmode".into(), "require".into()));
        } else {
            settings.push((key, value));
        }
    }
    Ok(settings)
}

fn push(settings: &mut Vec<(String, String)>, key: &str, value: String) {
    if !value.is_empty() {
        settings.push((key.into(), value));
    }
}

/// Decodes `%XX` escapes; `what` names the part in the error.
fn decode(text: &str, what: &str) -> Result<String, ConninfoError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let byte = bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| ConninfoError(format!("invalid percent-encoding in the {what}")))?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| ConninfoError(format!("the {what} is not valid UTF-8 once decoded")))
}

/// `key = value` pairs separated by white space; a value is bare or single-quoted, and a
/// backslash escapes the next character in both.
fn parse_key_values(text: &str) -> Result<Vec<(String, String)>, ConninfoError> {
    let mut settings = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(settings);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(ConninfoError(format!(
                "missing `=` after `{key}` in the connection string"
            )));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                    None => {
                        return Err(ConninfoError(format!(
                            "unterminated quoted value for `{key}` in the connection string"
                        )));
                    }
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        settings.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn owned(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn full_url_with_escapes_and_parameters() {
        assert_eq!(
            pairs(
                "postgresql://billing%40rw:p%3Ass@w@db.example.com:6432/app%20db?sslmode=verify-full&application_name=x"
            ),
            owned(&[
                ("user", "billing@rw"),
                ("password", "p:ss@w"),
                ("host", "db.example.com"),
                ("port", "6432"),
                ("dbname", "app db"),
                ("sslmode", "verify-full"),
                ("application_name", "x"),
            ])
        );
    }

    #[test]
    fn short_urls_ipv6_and_socket_paths() {
        assert_eq!(pairs("postgres://"), owned(&[]));
        assert_eq!(pairs("postgres:///app"), owned(&[("dbname", "app")]));
        assert_eq!(
            pairs("postgres://[::1]:5433/app"),
            owned(&[("host", "::1"), ("port", "5433"), ("dbname", "app")])
        );
        assert_eq!(pairs("postgres://[::1]"), owned(&[("host", "::1")]));
        assert_eq!(
            pairs("postgresql://%2Fvar%2Frun%2Fpostgresql/app"),
            owned(&[("host", "/var/run/postgresql"), ("dbname", "app")])
        );
        assert_eq!(
            pairs("postgresql:///app?host=/tmp/pg&ssl=true"),
            owned(&[
                ("dbname", "app"),
                ("host", "/tmp/pg"),
                ("sslmode", "require")
            ])
        );
    }

    #[test]
    fn bad_urls_say_what_is_wrong_without_echoing_the_password() {
        let error = |text: &str| parse(text).expect_err(text).to_string();
        assert_eq!(
            error("postgres://a,b/app"),
            "several hosts in one URL are not supported; name one host"
        );
        assert_eq!(
            error("postgres://u:s3cret%zz@h/app"),
            "invalid percent-encoding in the password"
        );
        assert_eq!(
            error("postgres://[::1/app"),
            "an IPv6 address in the URL lacks its closing `]`"
        );
        assert_eq!(
            error("postgres://h/app?sslmode"),
            "URL parameter `sslmode` has no value"
        );
    }

    #[test]
    fn key_values_with_quotes_escapes_and_spaces() {
        assert_eq!(
            pairs(
                r"host=localhost  port = 5433 dbname='my app' user=o\'brien password='it\'s a \\'"
            ),
            owned(&[
                ("host", "localhost"),
                ("port", "5433"),
                ("dbname", "my app"),
                ("user", "o'brien"),
                ("password", r"it's a \"),
            ])
        );
        assert_eq!(pairs("dbname=''"), owned(&[("dbname", "")]));
        assert_eq!(
            parse("host").expect_err("no =").to_string(),
            "missing `=` after `host` in the connection string"
        );
        assert_eq!(
            parse("password='abc").expect_err("open quote").to_string(),
            "unterminated quoted value for `password` in the connection string"
        );
    }
}
