//! Reads the TOML of a manifest into spanned raw structs, checking only its shape: known keys,
//! value types. It keeps going after a problem so that every problem of a file is reported.
//! Meaning (names, references, defaults) is checked later, in `validate`.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diagnostic::Diagnostic;

/// A value and the byte span it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sp<T> {
    pub value: T,
    pub span: Range<usize>,
}

#[derive(Debug, Default)]
pub struct RawManifest {
    pub version: Option<Sp<i64>>,
    /// Whether the key was there at all (a value of the wrong type is already reported).
    pub version_present: bool,
    pub database: Option<RawDatabase>,
    pub services: Vec<RawService>,
    pub shared: Vec<RawShared>,
    pub observers: Vec<RawObserver>,
    pub pooler: Option<RawPooler>,
    /// `[clusters.*]`, in file order; `None` when the table is absent.
    pub clusters: Option<Sp<Vec<RawCluster>>>,
    /// `[databases.*]`, in file order; `None` when the table is absent.
    pub databases: Option<Sp<Vec<RawFleetDatabase>>>,
    /// The top-level `migrations_dir` of a fleet manifest.
    pub migrations_dir: Option<Sp<String>>,
}

/// `[clusters.<key>]`: one PostgreSQL server of a fleet.
#[derive(Debug)]
pub struct RawCluster {
    pub key: Sp<String>,
    pub url: Option<Sp<String>>,
    pub url_env: Option<Sp<String>>,
}

/// `[databases.<key>]`: one database of a fleet, on one of its clusters.
#[derive(Debug)]
pub struct RawFleetDatabase {
    pub key: Sp<String>,
    pub cluster: Option<Sp<String>>,
    pub name: Option<Sp<String>>,
    pub public_schema: Option<Sp<String>>,
    pub revoke_public_connect: Option<Sp<bool>>,
}

/// `[pooler]`: PgBouncer in front of the database.
#[derive(Debug)]
pub struct RawPooler {
    pub span: Range<usize>,
    pub instances: Option<Sp<i64>>,
    pub pool_mode: Option<Sp<String>>,
    pub listen_port: Option<Sp<i64>>,
    pub auth: Option<Sp<String>>,
}

#[derive(Debug)]
pub struct RawDatabase {
    pub span: Range<usize>,
    pub name: Option<Sp<String>>,
    pub name_present: bool,
    pub public_schema: Option<Sp<String>>,
    pub revoke_public_connect: Option<Sp<bool>>,
    pub migrations_dir: Option<Sp<String>>,
}

#[derive(Debug)]
pub struct RawService {
    pub key: Sp<String>,
    pub schema: Option<Sp<String>>,
    pub owner: Option<Sp<String>>,
    pub roles: Vec<RawRole>,
    pub search_path: Option<Sp<Vec<Sp<String>>>>,
    pub reads: Vec<RawRead>,
    pub team: Option<Sp<String>>,
    pub contact: Option<Sp<String>>,
    /// `database = "<key>"`: the fleet database the service is placed in.
    pub database: Option<Sp<String>>,
}

#[derive(Debug)]
pub struct RawRole {
    pub name: Sp<String>,
    pub access: Option<Sp<String>>,
    pub access_present: bool,
    pub password_env: Option<Sp<String>>,
    pub connection_limit: Option<Sp<i64>>,
    pub password_version: Option<Sp<i64>>,
    pub member_of: Option<Sp<Vec<Sp<String>>>>,
    pub pool_size: Option<Sp<i64>>,
}

#[derive(Debug)]
pub struct RawRead {
    pub span: Range<usize>,
    pub schema: Option<Sp<String>>,
    pub reason: Option<Sp<String>>,
}

#[derive(Debug)]
pub struct RawShared {
    pub key: Sp<String>,
    pub schema: Option<Sp<String>>,
    pub owner: Option<Sp<String>>,
    pub database: Option<Sp<String>>,
}

#[derive(Debug)]
pub struct RawObserver {
    pub key: Sp<String>,
    pub reads: Option<Sp<Vec<Sp<String>>>>,
    pub reason: Option<Sp<String>>,
    pub login: Option<Sp<bool>>,
    pub password_env: Option<Sp<String>>,
    pub connection_limit: Option<Sp<i64>>,
    pub password_version: Option<Sp<i64>>,
}

const TOP_KEYS: &[&str] = &[
    "version",
    "database",
    "services",
    "shared",
    "observers",
    "pooler",
    "clusters",
    "databases",
    "migrations_dir",
];
const CLUSTER_KEYS: &[&str] = &["url", "url_env"];
const FLEET_DATABASE_KEYS: &[&str] = &["cluster", "name", "public_schema", "revoke_public_connect"];
const POOLER_KEYS: &[&str] = &["instances", "pool_mode", "listen_port", "auth"];
const DATABASE_KEYS: &[&str] = &[
    "name",
    "public_schema",
    "revoke_public_connect",
    "migrations_dir",
];
const SERVICE_KEYS: &[&str] = &[
    "schema",
    "owner",
    "roles",
    "search_path",
    "reads",
    "team",
    "contact",
    "database",
];
const ROLE_KEYS: &[&str] = &[
    "access",
    "password_env",
    "connection_limit",
    "password_version",
    "member_of",
    "pool_size",
];
const READ_KEYS: &[&str] = &["schema", "reason"];
const SHARED_KEYS: &[&str] = &["schema", "owner", "database"];
const OBSERVER_KEYS: &[&str] = &[
    "reads",
    "reason",
    "login",
    "password_env",
    "connection_limit",
    "password_version",
];

/// Every table of the manifest with the keys the reader accepts in it: what `dbsplit schema`
/// describes (src/schema/keys.rs says what each key means; its tests fail when one is missing).
pub const KEY_TABLES: &[(&str, &[&str])] = &[
    ("manifest", TOP_KEYS),
    ("database", DATABASE_KEYS),
    ("service", SERVICE_KEYS),
    ("role", ROLE_KEYS),
    ("read", READ_KEYS),
    ("shared", SHARED_KEYS),
    ("observer", OBSERVER_KEYS),
    ("pooler", POOLER_KEYS),
    ("cluster", CLUSTER_KEYS),
    ("fleet_database", FLEET_DATABASE_KEYS),
];

/// Parses `source` into a raw manifest, adding every shape problem to `diagnostics`.
/// Returns `None` when the text is not TOML at all.
pub fn parse(source: &str, diagnostics: &mut Vec<Diagnostic>) -> Option<RawManifest> {
    let document = match DeTable::parse(source) {
        Ok(document) => document,
        Err(error) => {
            let span = error.span().unwrap_or(0..0);
            let message = error.message().trim().to_string();
            diagnostics.push(Diagnostic::new(
                span,
                format!("not valid TOML: {}", first_line(&message)),
            ));
            return None;
        }
    };
    let mut reader = Reader { diagnostics };
    Some(reader.manifest(document.get_ref()))
}

/// Whether an unknown key's name suggests its value is a secret, to be masked where the
/// source is shown.
fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    closest(&name, &["password"]).is_some()
        || ["pass", "pwd", "secret", "token"]
            .iter()
            .any(|word| name.contains(word))
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

struct Reader<'d> {
    diagnostics: &'d mut Vec<Diagnostic>,
}

type Entry<'a, 'i> = (
    &'a Spanned<std::borrow::Cow<'i, str>>,
    &'a Spanned<DeValue<'i>>,
);

impl Reader<'_> {
    fn manifest(&mut self, table: &DeTable<'_>) -> RawManifest {
        let mut raw = RawManifest::default();
        for (key, value) in self.known(table, TOP_KEYS, "the top level of the manifest") {
            match key.get_ref().as_ref() {
                "version" => {
                    raw.version_present = true;
                    raw.version = self.integer(value, "version");
                }
                "database" => raw.database = self.database(value),
                "services" => {
                    for (key, value) in self.entries(value, "services") {
                        if let Some(service) = self.service(key, value) {
                            raw.services.push(service);
                        }
                    }
                }
                "shared" => {
                    for (key, value) in self.entries(value, "shared") {
                        if let Some(shared) = self.shared(key, value) {
                            raw.shared.push(shared);
                        }
                    }
                }
                "observers" => {
                    for (key, value) in self.entries(value, "observers") {
                        if let Some(observer) = self.observer(key, value) {
                            raw.observers.push(observer);
                        }
                    }
                }
                "pooler" => raw.pooler = self.pooler(value),
                "clusters" => {
                    let clusters = self
                        .entries(value, "clusters")
                        .into_iter()
                        .filter_map(|(key, value)| self.cluster(key, value))
                        .collect();
                    raw.clusters = Some(Sp {
                        value: clusters,
                        span: key.span(),
                    });
                }
                "databases" => {
                    let databases = self
                        .entries(value, "databases")
                        .into_iter()
                        .filter_map(|(key, value)| self.fleet_database(key, value))
                        .collect();
                    raw.databases = Some(Sp {
                        value: databases,
                        span: key.span(),
                    });
                }
                "migrations_dir" => raw.migrations_dir = self.string(value, "migrations_dir"),
                _ => unreachable!("known() only yields listed keys"),
            }
        }
        raw
    }

    fn pooler(&mut self, value: &Spanned<DeValue<'_>>) -> Option<RawPooler> {
        let table = self.table(value, "pooler")?;
        let mut raw = RawPooler {
            span: value.span(),
            instances: None,
            pool_mode: None,
            listen_port: None,
            auth: None,
        };
        for (key, value) in self.known(table, POOLER_KEYS, "[pooler]") {
            match key.get_ref().as_ref() {
                "instances" => raw.instances = self.integer(value, "instances"),
                "pool_mode" => raw.pool_mode = self.string(value, "pool_mode"),
                "listen_port" => raw.listen_port = self.integer(value, "listen_port"),
                "auth" => raw.auth = self.string(value, "auth"),
                _ => unreachable!("known() only yields listed keys"),
            }
        }
        Some(raw)
    }

    fn cluster(
        &mut self,
        key: &Spanned<std::borrow::Cow<'_, str>>,
        value: &Spanned<DeValue<'_>>,
    ) -> Option<RawCluster> {
        let context = format!("cluster `{}`", key.get_ref());
        let table = self.table(value, &format!("clusters.{}", key.get_ref()))?;
        let mut raw = RawCluster {
            key: spanned_string(key),
            url: None,
            url_env: None,
        };
        for (k, v) in self.known(table, CLUSTER_KEYS, &context) {
            match k.get_ref().as_ref() {
                "url" => raw.url = self.string(v, "url"),
                "url_env" => raw.url_env = self.string(v, "url_env"),
                _ => unreachable!("known() only yields listed keys"),
            }
        }
        Some(raw)
    }

    fn fleet_database(
        &mut self,
        key: &Spanned<std::borrow::Cow<'_, str>>,
        value: &Spanned<DeValue<'_>>,
    ) -> Option<RawFleetDatabase> {
        let context = format!("database `{}`", key.get_ref());
        let table = self.table(value, &format!("databases.{}", key.get_ref()))?;
        let mut raw = RawFleetDatabase {
            key: spanned_string(key),
            cluster: None,
            name: None,
            public_schema: None,
            revoke_public_connect: None,
        };
        for (k, v) in self.known(table, FLEET_DATABASE_KEYS, &context) {
            match k.get_ref().as_ref() {
                "cluster" => raw.cluster = self.string(v, "cluster"),
                "name" => raw.name = self.string(v, "name"),
                "public_schema" => raw.public_schema = self.string(v, "public_schema"),
                "revoke_public_connect" => {
                    raw.revoke_public_connect = self.boolean(v, "revoke_public_connect")
                }
                _ => unreachable!("known() only yields listed keys"),
            }
        }
        Some(raw)
    }

    fn database(&mut self, value: &Spanned<DeValue<'_>>) -> Option<RawDatabase> {
        let table = self.table(value, "database")?;
        let mut raw = RawDatabase {
            span: value.span(),
            name: None,
            name_present: false,
            public_schema: None,
            revoke_public_connect: None,
            migrations_dir: None,
        };
        for (key, value) in self.known(table, DATABASE_KEYS, "[database]") {
            match key.get_ref().as_ref() {
                "name" => {
                    raw.name_present = true;
                    raw.name = self.string(value, "database.name");
                }
                "public_schema" => raw.public_schema = self.string(value, "public_schema"),
                "revoke_public_connect" => {
                    raw.revoke_public_connect = self.boolean(value, "revoke_public_connect")
                }
                "migrations_dir" => raw.migrations_dir = self.string(value, "migrations_dir"),
                _ => unreachable!("known() only yields listed keys"),
            }
        }
        Some(raw)
    }

    fn service(
        &mut self,
        key: &Spanned<std::borrow::Cow<'_, str>>,
        value: &Spanned<DeValue<'_>>,
    ) -> Option<RawService> {
        let context = format!("service `{}`", key.get_ref());
        let table = self.table(value, &format!("services.{}", key.get_ref()))?;
        let mut raw = RawService {
            key: spanned_string(key),
            schema: None,
            owner: None,
            roles: Vec::new(),
            search_path: None,
            reads: Vec::new(),
            team: None,
            contact: None,
            database: None,
        };
        for (k, v) in self.known(table, SERVICE_KEYS, &context) {
            match k.get_ref().as_ref() {
                "schema" => raw.schema = self.string(v, "schema"),
                "owner" => raw.owner = self.string(v, "owner"),
                "search_path" => raw.search_path = self.string_array(v, "search_path"),
                "roles" => {
                    for (name, role) in self.entries(v, "roles") {
                        if let Some(role) = self.role(name, role) {
                            raw.roles.push(role);
                        }
                    }
                }
                "reads" => raw.reads = self.reads(v, &context),
                "team" => raw.team = self.string(v, "team"),
                "contact" => raw.contact = self.string(v, "contact"),
                "database" => raw.database = self.string(v, "database"),
                _ => unreachable!("known() only yields listed keys"),
            }
        }
        Some(raw)
    }

    fn role(
        &mut self,
        name: &Spanned<std::borrow::Cow<'_, str>>,
        value: &Spanned<DeValue<'_>>,
    ) -> Option<RawRole> {
        let context = format!("role `{}`", name.get_ref());
        let table = self.table(value, &format!("roles.{}", name.get_ref()))?;
        let mut raw = RawRole {
            name: spanned_string(name),
            access: None,
            access_present: false,
            password_env: None,
            connection_limit: None,
            password_version: None,
            member_of: None,
            pool_size: None,
        };
        for (k, v) in self.known(table, ROLE_KEYS, &context) {
            match k.get_ref().as_ref() {
                "access" => {
                    raw.access_present = true;
                    raw.access = self.string(v, "access");
                }
                "password_env" => raw.password_env = self.string(v, "password_env"),
                "connection_limit" => raw.connection_limit = self.integer(v, "connection_limit"),
                "password_version" => raw.password_version = self.integer(v, "password_version"),
                "member_of" => raw.member_of = self.string_array(v, "member_of"),
                "pool_size" => raw.pool_size = self.integer(v, "pool_size"),
                _ => unreachable!("known() only yields listed keys"),
            }
        }
        Some(raw)
    }

    fn reads(&mut self, value: &Spanned<DeValue<'_>>, context: &str) -> Vec<RawRead> {
        let Some(items) = value.get_ref().as_array() else {
            self.type_error(value, "reads", "an array of tables");
            return Vec::new();
        };
        let mut reads = Vec::new();
        for item in items.iter() {
            let Some(table) = item.get_ref().as_table() else {
                self.diagnostics.push(
                    Diagnostic::new(item.span(), format!("`reads` of {context} expects tables"))
                        .help(r#"write reads = [{ schema = "reference", reason = "why" }]"#),
                );
                continue;
            };
            let mut read = RawRead {
                span: item.span(),
                schema: None,
                reason: None,
            };
            for (k, v) in self.known(table, READ_KEYS, &format!("a read of {context}")) {
                match k.get_ref().as_ref() {
                    "schema" => read.schema = self.string(v, "schema"),
                    "reason" => read.reason = self.string(v, "reason"),
                    _ => unreachable!("known() only yields listed keys"),
                }
            }
            reads.push(read);
        }
        reads
    }

    fn shared(
        &mut self,
        key: &Spanned<std::borrow::Cow<'_, str>>,
        value: &Spanned<DeValue<'_>>,
    ) -> Option<RawShared> {
        let context = format!("shared schema `{}`", key.get_ref());
        let table = self.table(value, &format!("shared.{}", key.get_ref()))?;
        let mut raw = RawShared {
            key: spanned_string(key),
            schema: None,
            owner: None,
            database: None,
        };
        for (k, v) in self.known(table, SHARED_KEYS, &context) {
            match k.get_ref().as_ref() {
                "schema" => raw.schema = self.string(v, "schema"),
                "owner" => raw.owner = self.string(v, "owner"),
                "database" => raw.database = self.string(v, "database"),
                _ => unreachable!("known() only yields listed keys"),
            }
        }
        Some(raw)
    }

    fn observer(
        &mut self,
        key: &Spanned<std::borrow::Cow<'_, str>>,
        value: &Spanned<DeValue<'_>>,
    ) -> Option<RawObserver> {
        let context = format!("observer `{}`", key.get_ref());
        let table = self.table(value, &format!("observers.{}", key.get_ref()))?;
        let mut raw = RawObserver {
            key: spanned_string(key),
            reads: None,
            reason: None,
            login: None,
            password_env: None,
            connection_limit: None,
            password_version: None,
        };
        for (k, v) in self.known(table, OBSERVER_KEYS, &context) {
            match k.get_ref().as_ref() {
                "reads" => raw.reads = self.string_array(v, "reads"),
                "reason" => raw.reason = self.string(v, "reason"),
                "login" => raw.login = self.boolean(v, "login"),
                "password_env" => raw.password_env = self.string(v, "password_env"),
                "connection_limit" => raw.connection_limit = self.integer(v, "connection_limit"),
                "password_version" => raw.password_version = self.integer(v, "password_version"),
                _ => unreachable!("known() only yields listed keys"),
            }
        }
        Some(raw)
    }

    /// The entries of `table` whose keys are in `allowed`; every other key is reported.
    fn known<'a, 'i>(
        &mut self,
        table: &'a DeTable<'i>,
        allowed: &[&str],
        context: &str,
    ) -> Vec<Entry<'a, 'i>> {
        let mut entries = Vec::new();
        for (key, value) in table.iter() {
            let name = key.get_ref().as_ref();
            if allowed.contains(&name) {
                entries.push((key, value));
            } else if name == "password" {
                self.diagnostics.push(
                    Diagnostic::new(
                        key.span(),
                        format!("a password in plain text is not allowed in {context}"),
                    )
                    .secret(value.span())
                    .help(if context.starts_with("cluster") {
                        "leave it out: ~/.pgpass or PGPASSWORD supply it, or name a variable holding the whole URL with url_env"
                    } else {
                        "name an environment variable instead: password_env = \"BILLING_DB_PASSWORD\""
                    }),
                );
            } else {
                let help = match closest(name, allowed) {
                    Some(guess) => format!(
                        "did you mean `{guess}`? expected one of: {}",
                        allowed.join(", ")
                    ),
                    None => format!("expected one of: {}", allowed.join(", ")),
                };
                let mut diagnostic =
                    Diagnostic::new(key.span(), format!("unknown key `{name}` in {context}"))
                        .help(help);
                // A misspelt `password` (`pasword`, `passwd`) holds one all the same.
                if looks_secret(name) {
                    diagnostic = diagnostic.secret(value.span());
                }
                self.diagnostics.push(diagnostic);
            }
        }
        entries
    }

    fn entries<'a, 'i>(
        &mut self,
        value: &'a Spanned<DeValue<'i>>,
        context: &str,
    ) -> Vec<Entry<'a, 'i>> {
        match self.table(value, context) {
            Some(table) => table.iter().collect(),
            None => Vec::new(),
        }
    }

    fn table<'a, 'i>(
        &mut self,
        value: &'a Spanned<DeValue<'i>>,
        context: &str,
    ) -> Option<&'a DeTable<'i>> {
        let table = value.get_ref().as_table();
        if table.is_none() {
            self.type_error(value, context, "a table");
        }
        table
    }

    fn string(&mut self, value: &Spanned<DeValue<'_>>, key: &str) -> Option<Sp<String>> {
        match value.get_ref().as_str() {
            Some(text) => Some(Sp {
                value: text.to_string(),
                span: value.span(),
            }),
            None => {
                self.type_error(value, key, "a string");
                None
            }
        }
    }

    fn string_array(
        &mut self,
        value: &Spanned<DeValue<'_>>,
        key: &str,
    ) -> Option<Sp<Vec<Sp<String>>>> {
        let Some(items) = value.get_ref().as_array() else {
            self.type_error(value, key, "an array of strings");
            return None;
        };
        let mut strings = Vec::new();
        for item in items.iter() {
            if let Some(text) = self.string(item, key) {
                strings.push(text);
            }
        }
        Some(Sp {
            value: strings,
            span: value.span(),
        })
    }

    fn integer(&mut self, value: &Spanned<DeValue<'_>>, key: &str) -> Option<Sp<i64>> {
        let parsed = value
            .get_ref()
            .as_integer()
            .and_then(|i| i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok());
        match parsed {
            Some(number) => Some(Sp {
                value: number,
                span: value.span(),
            }),
            None => {
                self.type_error(value, key, "an integer");
                None
            }
        }
    }

    fn boolean(&mut self, value: &Spanned<DeValue<'_>>, key: &str) -> Option<Sp<bool>> {
        match value.get_ref().as_bool() {
            Some(flag) => Some(Sp {
                value: flag,
                span: value.span(),
            }),
            None => {
                self.type_error(value, key, "true or false");
                None
            }
        }
    }

    fn type_error(&mut self, value: &Spanned<DeValue<'_>>, key: &str, expected: &str) {
        self.diagnostics.push(Diagnostic::new(
            value.span(),
            format!(
                "`{key}` must be {expected}, found {}",
                value.get_ref().type_str()
            ),
        ));
    }
}

fn spanned_string(key: &Spanned<std::borrow::Cow<'_, str>>) -> Sp<String> {
    Sp {
        value: key.get_ref().to_string(),
        span: key.span(),
    }
}

/// The allowed key closest to a misspelt one, if any is close enough to be a likely typo.
fn closest<'a>(name: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|candidate| (edit_distance(name, candidate), *candidate))
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 4))
        .min()
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        assert_eq!(closest("acess", ROLE_KEYS), Some("access"));
        assert_eq!(closest("pasword_env", ROLE_KEYS), Some("password_env"));
        assert_eq!(closest("colour", ROLE_KEYS), None);
    }
}
