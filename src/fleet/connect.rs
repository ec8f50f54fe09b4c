//! The connection settings of a target: its cluster's (`url`, `url_env`, or `--database-url`
//! and the PG* variables) with the target's database, resolved as libpq would (`~/.pgpass`,
//! `PGPASSWORD` supply a password the manifest never holds).

use crate::cli::ConnectArgs;
use crate::manifest::ClusterConnection;
use crate::pg::conninfo;
use crate::pg::options::{ConnectOptions, Env, resolve};

use super::Target;

/// Why a target's connection settings are unusable. Never shows a URL: it may hold a password.
#[derive(Debug, thiserror::Error)]
pub enum TargetSettingsError {
    #[error("cluster `{cluster}`: environment variable `{variable}` (its url_env) is not set")]
    Unset { cluster: String, variable: String },
    #[error("cluster `{cluster}`: {message}")]
    Invalid { cluster: String, message: String },
}

/// The settings to connect to `target`'s database: its cluster's connection string, or for a
/// cluster without one `--database-url` and the PG* variables, always with the target's
/// database (a database in the string or in PGDATABASE is overridden). A v1 manifest's one
/// target connects exactly as before: the database defaults to the manifest's.
pub fn options(target: &Target, args: &ConnectArgs) -> Result<ConnectOptions, TargetSettingsError> {
    let invalid = |message: String| TargetSettingsError::Invalid {
        cluster: target.cluster.clone(),
        message,
    };
    let text = match &target.connection {
        ClusterConnection::Args => args.database_url.clone(),
        ClusterConnection::Url(url) => Some(url.clone()),
        ClusterConnection::UrlEnv(variable) => Some(
            std::env::var(variable)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| TargetSettingsError::Unset {
                    cluster: target.cluster.clone(),
                    variable: variable.clone(),
                })?,
        ),
    };
    let mut pairs = match &text {
        Some(text) => {
            conninfo::parse(text).map_err(|e| invalid(format!("invalid connection string: {e}")))?
        }
        None => Vec::new(),
    };
    pairs.retain(|(key, _)| key != "dbname");
    pairs.push(("dbname".to_string(), target.database.clone()));
    let rendered = pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| {
            format!(
                "{key}='{}'",
                value.replace('\\', "\\\\").replace('\'', "\\'")
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    resolve(Some(&rendered), &Env::process()).map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::manifest::Manifest;
    use crate::pg::options::Host;

    fn target(url: &str) -> Target {
        let text = format!(
            "version = 1\n[clusters.c]\nurl = \"{url}\"\n[databases.app]\nname = \"it's app\"\n[services.a]\n"
        );
        let manifest = Manifest::parse(Path::new("services.toml"), &text).unwrap();
        super::super::targets(&manifest).remove(0)
    }

    #[test]
    fn the_cluster_url_with_the_target_database() {
        let args = ConnectArgs {
            database_url: Some("postgres://ignored@elsewhere/x".into()),
        };
        let options = options(
            &target("postgres://admin@db:5433/other?sslmode=disable"),
            &args,
        )
        .unwrap();
        assert_eq!(options.host, Host::Tcp("db".into()));
        assert_eq!(options.port, 5433);
        assert_eq!(options.user, "admin");
        assert_eq!(options.dbname, "it's app");
    }

    #[test]
    fn an_unset_url_env_names_the_variable() {
        let text = "version = 1\n[clusters.c]\nurl_env = \"DBSPLIT_TEST_SURELY_UNSET_URL\"\n[databases.app]\n[services.a]\n";
        let manifest = Manifest::parse(Path::new("services.toml"), text).unwrap();
        let target = super::super::targets(&manifest).remove(0);
        let error = options(&target, &ConnectArgs { database_url: None }).unwrap_err();
        assert_eq!(
            error.to_string(),
            "cluster `c`: environment variable `DBSPLIT_TEST_SURELY_UNSET_URL` (its url_env) is not set"
        );
    }
}
