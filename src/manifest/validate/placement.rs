//! The fleet part of validation: `[clusters.*]`, `[databases.*]`, the `database =` placement of
//! services and shared schemas, and what placement forbids (a `reads` or `search_path` across
//! databases, which PostgreSQL cannot follow; a password in a cluster's URL).

use super::super::diagnostic::Diagnostic;
use super::super::raw::{RawManifest, RawService, Sp};
use super::super::{
    Cluster, ClusterConnection, DEFAULT_CLUSTER, DatabaseSettings, FleetDatabase, Service,
    SharedSchema,
};
use super::Validator;
use crate::pg::conninfo;

/// The fleet of a v1 manifest: its `[database]` on the cluster of `--database-url`.
pub(super) fn single(database: Option<&DatabaseSettings>) -> (Vec<Cluster>, Vec<FleetDatabase>) {
    let clusters = vec![Cluster {
        name: DEFAULT_CLUSTER.to_string(),
        connection: ClusterConnection::Args,
    }];
    let databases = database
        .map(|settings| FleetDatabase {
            key: settings.name.clone(),
            cluster: DEFAULT_CLUSTER.to_string(),
            settings: settings.clone(),
        })
        .into_iter()
        .collect();
    (clusters, databases)
}

impl Validator<'_> {
    /// The clusters and databases of a manifest that declares `[clusters.*]` or `[databases.*]`.
    pub(super) fn fleet(&mut self, raw: &RawManifest) -> (Vec<Cluster>, Vec<FleetDatabase>) {
        if let Some(database) = &raw.database {
            self.error(
                database.span.clone(),
                "[database] and [databases.*] cannot both be given".into(),
                Some("move [database] into [databases.<key>] and place services with database = \"<key>\"".into()),
            );
        }
        let migrations_dir = self.migrations_dir(raw.migrations_dir.as_ref());
        let mut clusters = Vec::new();
        match &raw.clusters {
            Some(declared) => {
                for cluster in &declared.value {
                    if let Some(cluster) = self.cluster(cluster) {
                        clusters.push(cluster);
                    }
                }
                if declared.value.is_empty() {
                    self.error(
                        declared.span.clone(),
                        "[clusters] declares no cluster".into(),
                        Some("add [clusters.main] with url_env = \"MAIN_DATABASE_URL\", or remove [clusters] to use --database-url".into()),
                    );
                }
            }
            None => clusters.push(Cluster {
                name: DEFAULT_CLUSTER.to_string(),
                connection: ClusterConnection::Args,
            }),
        }
        let mut databases: Vec<FleetDatabase> = Vec::new();
        let Some(declared) = &raw.databases else {
            let span = raw.clusters.as_ref().map_or(0..0, |c| c.span.clone());
            self.error(
                span,
                "[clusters] is declared but no [databases.*]".into(),
                Some("add [databases.app] with cluster = \"<cluster>\" for each database the services live in".into()),
            );
            return (clusters, databases);
        };
        if declared.value.is_empty() {
            self.error(
                declared.span.clone(),
                "[databases] declares no database".into(),
                Some("add [databases.app] (name defaults to the key)".into()),
            );
        }
        let implicit = raw.clusters.is_none();
        let declared_clusters: Vec<&str> = match &raw.clusters {
            Some(declared) => declared
                .value
                .iter()
                .map(|c| c.key.value.as_str())
                .collect(),
            None => vec![DEFAULT_CLUSTER],
        };
        for raw_db in &declared.value {
            let key = self.identifier(&raw_db.key, "database key");
            let name = match &raw_db.name {
                Some(name) => self.identifier(name, "database name"),
                None => key.clone(),
            };
            let cluster = match &raw_db.cluster {
                Some(cluster) if clusters.iter().any(|c| c.name == cluster.value) => {
                    Some(cluster.value.clone())
                }
                // Declared, and already reported as invalid.
                Some(cluster) if declared_clusters.contains(&cluster.value.as_str()) => None,
                Some(cluster) => {
                    let help = if implicit {
                        format!(
                            "declare [clusters.{}] with url or url_env, or leave cluster out to use --database-url",
                            cluster.value
                        )
                    } else {
                        format!("declared clusters: {}", declared_clusters.join(", "))
                    };
                    self.error(
                        cluster.span.clone(),
                        format!("unknown cluster `{}`", cluster.value),
                        Some(help),
                    );
                    None
                }
                None if declared_clusters.len() <= 1 => clusters.first().map(|c| c.name.clone()),
                None => {
                    self.error(
                        raw_db.key.span.clone(),
                        format!(
                            "database `{}` has no `cluster`; the manifest declares {} clusters",
                            raw_db.key.value,
                            declared_clusters.len()
                        ),
                        Some(format!(
                            "write cluster = \"...\", one of: {}",
                            declared_clusters.join(", ")
                        )),
                    );
                    None
                }
            };
            let public_schema = self.public_schema(raw_db.public_schema.as_ref());
            let (Some(key), Some(name), Some(cluster)) = (key, name, cluster) else {
                continue;
            };
            if let Some(twin) = databases
                .iter()
                .find(|d| d.cluster == cluster && d.settings.name == name)
            {
                let span = raw_db.name.as_ref().unwrap_or(&raw_db.key).span.clone();
                self.error(
                    span,
                    format!(
                        "database `{name}` on cluster `{cluster}` is declared twice: as [databases.{key}] and as [databases.{}]",
                        twin.key
                    ),
                    Some("place both sets of services in one [databases.*] entry".into()),
                );
                continue;
            }
            databases.push(FleetDatabase {
                key,
                cluster,
                settings: DatabaseSettings {
                    name,
                    public_schema,
                    revoke_public_connect: raw_db
                        .revoke_public_connect
                        .as_ref()
                        .is_none_or(|b| b.value),
                    migrations_dir: migrations_dir.clone(),
                },
            });
        }
        (clusters, databases)
    }

    fn cluster(&mut self, raw: &super::super::raw::RawCluster) -> Option<Cluster> {
        let name = self.identifier(&raw.key, "cluster name");
        let key = &raw.key.value;
        let connection = match (&raw.url, &raw.url_env) {
            (Some(url), None) => self
                .url(url, key)
                .then(|| ClusterConnection::Url(url.value.clone())),
            (None, Some(env)) => self
                .env_name(
                    env,
                    "the variable holding the cluster's URL",
                    "MAIN_DATABASE_URL",
                )
                .map(ClusterConnection::UrlEnv),
            (Some(url), Some(_)) => {
                self.error(
                    url.span.clone(),
                    format!("cluster `{key}` has both `url` and `url_env`"),
                    Some("keep one of them".into()),
                );
                None
            }
            (None, None) => {
                self.error(
                    raw.key.span.clone(),
                    format!("cluster `{key}` has neither `url` nor `url_env`"),
                    Some("write url = \"postgres://admin@host:5432\" (no password: ~/.pgpass or PGPASSWORD supply it) or url_env = \"MAIN_DATABASE_URL\"".into()),
                );
                None
            }
        };
        Some(Cluster {
            name: name?,
            connection: connection?,
        })
    }

    /// Whether a cluster's `url` is a connection string without a password.
    fn url(&mut self, url: &Sp<String>, cluster: &str) -> bool {
        match conninfo::parse(&url.value) {
            Err(error) => {
                self.error(
                    url.span.clone(),
                    format!("the url of cluster `{cluster}` is not a connection string: {error}"),
                    Some("write a postgres:// URL or libpq's key=value form".into()),
                );
                false
            }
            Ok(settings) if settings.iter().any(|(key, _)| key == "password") => {
                self.diagnostics.push(
                    Diagnostic::new(
                        url.span.clone(),
                        format!("the url of cluster `{cluster}` contains a password"),
                    )
                    .help("leave it out: ~/.pgpass or PGPASSWORD supply it, or name a variable holding the whole URL with url_env")
                    .secret(url.span.clone()),
                );
                false
            }
            Ok(_) => true,
        }
    }

    /// An environment variable name: a letter or `_`, then letters, digits or `_`.
    fn env_name(&mut self, env: &Sp<String>, what: &str, example: &str) -> Option<String> {
        let mut chars = env.value.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            return Some(env.value.clone());
        }
        // Not a name: maybe the URL or password itself, so neither quoted nor shown.
        let diagnostic = Diagnostic::new(
            env.span.clone(),
            "the value is not an environment variable name (not shown: it may hold a password)",
        )
        .help(format!("name {what}, e.g. \"{example}\""))
        .secret(env.span.clone());
        self.diagnostics.push(diagnostic);
        None
    }

    /// The database key and cluster of a service or shared schema: `database = "<key>"`, or the
    /// only database.
    pub(super) fn place(
        &mut self,
        database: Option<&Sp<String>>,
        key: &Sp<String>,
        what: &str,
        raw: &RawManifest,
        databases: &[FleetDatabase],
    ) -> Option<(String, String)> {
        let found = |key: &str| {
            databases
                .iter()
                .find(|d| d.key == key)
                .map(|d| (d.key.clone(), d.cluster.clone()))
        };
        let declared: Vec<&str> = match &raw.databases {
            Some(declared) => declared
                .value
                .iter()
                .map(|d| d.key.value.as_str())
                .collect(),
            None => databases.iter().map(|d| d.key.as_str()).collect(),
        };
        match database {
            Some(database) if raw.databases.is_none() => {
                self.error(
                    database.span.clone(),
                    format!("{what} is placed in a database, but the manifest declares no [databases.*]"),
                    Some("remove `database`: the services share [database]; or declare [databases.<key>] instead of [database]".into()),
                );
                None
            }
            Some(database) => {
                let placed = found(&database.value);
                if placed.is_none() && !declared.contains(&database.value.as_str()) {
                    self.error(
                        database.span.clone(),
                        format!("unknown database `{}`", database.value),
                        Some(format!("declared databases: {}", declared.join(", "))),
                    );
                }
                placed
            }
            None if declared.len() <= 1 => databases.first().and_then(|d| found(&d.key)),
            None => {
                self.error(
                    key.span.clone(),
                    format!(
                        "{what} has no `database`; the manifest declares {} databases",
                        declared.len()
                    ),
                    Some(format!(
                        "write database = \"...\", one of: {}",
                        declared.join(", ")
                    )),
                );
                None
            }
        }
    }

    /// A service's `reads` and `search_path` stay in its own database: PostgreSQL cannot read
    /// across databases.
    pub(super) fn across_databases(
        &mut self,
        raw: &RawService,
        services: &[Service],
        shared: &[SharedSchema],
        databases: &[FleetDatabase],
    ) {
        let Some(service) = services.iter().find(|s| s.name == raw.key.value) else {
            return;
        };
        let database_of = |schema: &str| {
            services
                .iter()
                .find(|s| s.schema == schema)
                .map(|s| s.database.as_str())
                .or_else(|| {
                    shared
                        .iter()
                        .find(|s| s.schema == schema)
                        .map(|s| s.database.as_str())
                })
        };
        let name_of = |key: &str| {
            databases
                .iter()
                .find(|d| d.key == key)
                .map_or(key.to_string(), |d| {
                    format!("{}/{}", d.cluster, d.settings.name)
                })
        };
        let here = name_of(&service.database);
        let reads = raw.reads.iter().filter_map(|r| r.schema.as_ref());
        let path = raw.search_path.iter().flat_map(|p| p.value.iter());
        for (schema, kind) in reads
            .map(|s| (s, "reads"))
            .chain(path.map(|s| (s, "search_path names")))
        {
            let Some(there) = database_of(&schema.value) else {
                continue;
            };
            if there == service.database {
                continue;
            }
            self.error(
                schema.span.clone(),
                format!(
                    "service `{}` in database {here} {kind} schema `{}` of database {}: PostgreSQL cannot read across databases",
                    service.name,
                    schema.value,
                    name_of(there)
                ),
                Some(format!(
                    "place both in one database, or give database {here} its own copy (a [shared.*] schema placed there)"
                )),
            );
        }
    }
}
