//! PgBouncer's configuration for a manifest: `pgbouncer.ini` with one database alias per
//! service, and `userlist.txt` with the server's own SCRAM verifiers. Pure: the command
//! (`cmd::pooler`) reads the verifiers and writes the files.
//!
//! Only roles with a `pool_size` go through PgBouncer: they alone are in the userlist, so any
//! other role is refused at PgBouncer's door. A role's pool is capped with `max_user_connections`
//! in `[users]`, which PgBouncer 1.18 (Debian 12's) already reads; 1.23's per-user `pool_size`
//! would say the same for the one pool each role has (a role uses its own service's alias).

pub mod activity;
pub mod auth_query;
pub mod budget;
pub mod repoint;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::Path;

use crate::manifest::{Manifest, PoolMode, Pooler, PoolerAuth, Service, ServiceRole};

/// Where PgBouncer's server connections for one service go: the database the manifest places
/// it in, on its cluster as dbsplit connects to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// A host name, an IP address or a unix socket folder (starting with `/`).
    pub host: String,
    pub port: u16,
    pub dbname: String,
}

/// A value dbsplit cannot write into PgBouncer's files as it is.
#[derive(Debug, thiserror::Error)]
#[error("{what} `{value}` cannot be written to pgbouncer.ini: {why}")]
pub struct RenderError {
    what: &'static str,
    value: String,
    why: &'static str,
}

/// The roles PgBouncer lets in, with their service: every service role with a `pool_size`.
pub fn pooled_roles(manifest: &Manifest) -> Vec<(&Service, &ServiceRole)> {
    manifest
        .services
        .iter()
        .flat_map(|s| s.roles.iter().map(move |r| (s, r)))
        .filter(|(_, r)| r.pool_size.is_some())
        .collect()
}

/// How many database aliases `pgbouncer.ini` has: one per service with a pooled role.
pub fn pooled_aliases(manifest: &Manifest) -> usize {
    manifest
        .services
        .iter()
        .filter(|s| s.roles.iter().any(|r| r.pool_size.is_some()))
        .count()
}

/// `pgbouncer.ini` for `manifest`, each service's alias pointing at its placement in
/// `upstreams` (service name -> upstream), its users' verifiers in `auth_file`.
pub fn render_ini(
    manifest: &Manifest,
    pooler: &Pooler,
    upstreams: &BTreeMap<String, Upstream>,
    auth_file: &Path,
) -> Result<String, RenderError> {
    let pooled = pooled_roles(manifest);
    let databases: BTreeSet<&str> = upstreams.values().map(|u| u.dbname.as_str()).collect();
    let databases: Vec<&str> = databases.into_iter().collect();
    let auth_file = auth_file.to_str().filter(|p| !p.contains(['\n', '\r']));
    let Some(auth_file) = auth_file else {
        return Err(RenderError {
            what: "the folder",
            value: "--out".into(),
            why: "its path is not plain UTF-8 text on one line",
        });
    };
    let mut ini = String::new();
    let mode = pooler.pool_mode.as_str();
    // Writing to a String cannot fail.
    let _ = writeln!(
        ini,
        ";; PgBouncer for database{plural} {dbname}: written by `dbsplit pooler` from {manifest}.\n\
         ;; Write it again after changing the manifest; do not edit it by hand.\n\
         ;; {instances} instance{s} of PgBouncer run with this file; each opens the pools below.",
        manifest = manifest.path.display(),
        plural = if databases.len() == 1 { "" } else { "s" },
        dbname = databases.join(", "),
        instances = pooler.instances,
        s = crate::text::plural(pooler.instances),
    );
    ini.push_str("\n[databases]\n");
    ini.push_str(
        ";; One alias per service. pool_size: the largest pool of its roles; max_db_connections:\n\
         ;; all of them together.\n",
    );
    for service in &manifest.services {
        let sizes: Vec<u32> = pooled
            .iter()
            .filter(|(s, _)| s.name == service.name)
            .filter_map(|(_, r)| r.pool_size)
            .collect();
        let Some(largest) = sizes.iter().copied().max() else {
            continue;
        };
        let total: u32 = sizes.iter().sum();
        let Some(upstream) = upstreams.get(&service.name) else {
            return Err(RenderError {
                what: "service",
                value: service.name.clone(),
                why: "its database was not reached",
            });
        };
        let _ = writeln!(
            ini,
            "{} = host={} port={} dbname={} pool_size={largest} max_db_connections={total}",
            ini_name(&service.name)?,
            conn_value("host", &upstream.host)?,
            upstream.port,
            conn_value("database name", &upstream.dbname)?,
        );
    }
    ini.push_str("\n[users]\n");
    let auth_query = pooler.auth == PoolerAuth::AuthQuery;
    if !auth_query {
        ini.push_str(
            ";; Server connections per role (its pool_size), over every database alias.\n\
             ;; PgBouncer 1.23 and later also read a per-user pool_size; max_user_connections works on 1.18.\n",
        );
    }
    for (_, role) in &pooled {
        if auth_query {
            // A user named in [users] is not looked up with auth_query (PgBouncer issues #59,
            // #613): its login would fail.
            continue;
        }
        if let Some(size) = role.pool_size {
            let _ = writeln!(
                ini,
                "{} = max_user_connections={size}",
                ini_name(&role.name)?
            );
        }
    }
    if auth_query {
        let _ = writeln!(
            ini,
            ";; With auth_query the roles are not named here: PgBouncer does not look up a user it\n\
             ;; finds in [users]. Each role's pool is capped by its alias's pool_size instead.\n\
             ;; auth_query's own connections: one per alias.\n{} = max_user_connections={}",
            auth_query::AUTH_USER,
            pooled_aliases(manifest)
        );
    }
    let _ = write!(
        ini,
        "\n[pgbouncer]\n\
         listen_addr = *\n\
         listen_port = {port}\n\
         {auth}\
         pool_mode = {mode}\n\
         ;; Every alias sets its own pool_size; a role without pool_size cannot log in here.\n\
         default_pool_size = 1\n\
         max_client_conn = 1000\n\
         ;; Used in session mode, when a client leaves: no SET, prepared statement or temp table\n\
         ;; of one client reaches the next.\n\
         server_reset_query = DISCARD ALL\n\
         server_check_delay = 30\n\
         server_connect_timeout = 15\n\
         server_login_retry = 15\n\
         server_idle_timeout = 600\n\
         server_lifetime = 3600\n\
         client_login_timeout = 60\n\
         query_wait_timeout = 120\n\
         ;; JDBC sends it at startup; PgBouncer would refuse the connection otherwise.\n\
         ignore_startup_parameters = extra_float_digits\n",
        port = pooler.listen_port,
        auth = if auth_query {
            format!(
                ";; Clients log in with SCRAM against the verifier auth_query reads from the server;\n\
                 ;; PgBouncer then logs in to the server with the same SCRAM keys. It runs the query as\n\
                 ;; {user}, whom the server lets in by peer or cert: no password of it is written\n\
                 ;; anywhere, and userlist.txt stays empty.\n\
                 auth_type = scram-sha-256\n\
                 auth_file = {auth_file}\n\
                 auth_user = {user}\n\
                 auth_query = {query}\n\
                 ;; auth_dbname (PgBouncer 1.19 and later; 1.18 refuses it) stays unset: the query runs\n\
                 ;; in each alias's own database, where `dbsplit apply` created the function for the\n\
                 ;; roles of that database.\n",
                user = auth_query::AUTH_USER,
                query = auth_query::query(),
            )
        } else {
            format!(
                ";; Clients log in with SCRAM; PgBouncer then logs in to the server with the same SCRAM\n\
                 ;; keys, which works because userlist.txt holds the server's own verifiers.\n\
                 auth_type = scram-sha-256\n\
                 auth_file = {auth_file}\n"
            )
        },
    );
    if pooler.pool_mode != PoolMode::Session {
        ini.push_str(
            ";; In transaction and statement mode session state does not survive a transaction:\n\
             ;; the roles' search_path and application_name defaults still apply at each login.\n",
        );
    }
    Ok(ini)
}

/// `userlist.txt`: one `"role" "SCRAM-SHA-256$..."` line per role, quotes doubled.
pub fn render_userlist(verifiers: &[(String, String)]) -> String {
    let mut text = String::new();
    for (role, verifier) in verifiers {
        let _ = writeln!(text, "{} {}", quoted(role), quoted(verifier));
    }
    text
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// A key of `[databases]` or `[users]`: bare when PgBouncer reads it so, else SQL-quoted.
fn ini_name(name: &str) -> Result<String, RenderError> {
    if name.contains(['\n', '\r', '=', ';', '#']) {
        return Err(RenderError {
            what: "the name",
            value: name.escape_debug().to_string(),
            why: "PgBouncer's ini format cannot hold it",
        });
    }
    if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(name.to_string())
    } else {
        Ok(quoted(name))
    }
}

/// A value in an alias's connection string: PgBouncer splits them at spaces and quotes.
fn conn_value(what: &'static str, value: &str) -> Result<String, RenderError> {
    if value.is_empty() || value.contains(|c: char| c.is_whitespace() || "'\"\\=;#".contains(c)) {
        return Err(RenderError {
            what,
            value: value.escape_debug().to_string(),
            why: "it is empty or holds a space, a quote, a backslash, `=`, `;` or `#`",
        });
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every service of `manifest` at `upstream`.
    fn everywhere(manifest: &Manifest, upstream: &Upstream) -> BTreeMap<String, Upstream> {
        manifest
            .services
            .iter()
            .map(|s| (s.name.clone(), upstream.clone()))
            .collect()
    }

    #[test]
    fn each_alias_points_at_its_services_placement() {
        let manifest = manifest();
        let app = Upstream {
            host: "db-main.internal".into(),
            port: 5432,
            dbname: "app".into(),
        };
        let mut upstreams = everywhere(&manifest, &app);
        let billing = Upstream {
            host: "db-billing.internal".into(),
            port: 6000,
            dbname: "billing".into(),
        };
        upstreams.insert("billing".into(), billing);
        let ini = render_ini(
            &manifest,
            manifest.pooler.as_ref().unwrap(),
            &upstreams,
            Path::new("/x/userlist.txt"),
        )
        .unwrap();
        assert!(
            ini.starts_with(";; PgBouncer for databases app, billing: "),
            "{ini}"
        );
        assert!(ini.contains("\nbilling = host=db-billing.internal port=6000 dbname=billing pool_size=10 max_db_connections=14\n"), "{ini}");
        assert!(
            ini.contains("\n\"Notify Svc\" = host=db-main.internal port=5432 dbname=app "),
            "{ini}"
        );
    }

    fn manifest() -> Manifest {
        let text = "version = 1\n[database]\nname = \"app\"\n\
            [services.billing]\nroles.billing_rw = { access = \"readwrite\", password_env = \"B\", pool_size = 10, connection_limit = 20 }\n\
            roles.billing_ro = { access = \"readonly\", password_env = \"C\", pool_size = 4 }\n\
            roles.billing_migrator = { access = \"owner\" }\n\
            [services.\"Notify Svc\"]\nroles.notify_rw = { access = \"readwrite\", password_env = \"D\", pool_size = 5 }\n\
            [services.idle]\nroles.idle_rw = { access = \"readwrite\" }\n\
            [pooler]\ninstances = 2\npool_mode = \"session\"\n";
        Manifest::parse(Path::new("services.toml"), text).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The ini of `manifest` with every service on `host`, port 5432, database `app`.
    fn ini_for(manifest: &Manifest, host: &str) -> Result<String, RenderError> {
        let upstream = Upstream {
            host: host.into(),
            port: 5432,
            dbname: "app".into(),
        };
        render_ini(
            manifest,
            manifest.pooler.as_ref().unwrap(),
            &everywhere(manifest, &upstream),
            Path::new("/etc/pgbouncer/userlist.txt"),
        )
    }

    #[test]
    fn one_alias_per_pooled_service_and_one_user_line_per_pooled_role() {
        let manifest = manifest();
        let ini = ini_for(&manifest, "db.internal").unwrap();
        insta::assert_snapshot!(ini);
    }

    #[test]
    fn with_auth_query_the_roles_are_looked_up_not_listed() {
        let text = "version = 1\n[database]\nname = \"app\"\n\
            [services.billing]\nroles.billing_rw = { access = \"readwrite\", pool_size = 10 }\n\
            [pooler]\ninstances = 2\nauth = \"auth_query\"\n";
        let manifest = Manifest::parse(Path::new("services.toml"), text).unwrap();
        let ini = ini_for(&manifest, "/var/run/postgresql").unwrap();
        insta::assert_snapshot!(ini);
    }

    #[test]
    fn userlist_quotes_every_field() {
        let list = render_userlist(&[
            (
                "billing_rw".into(),
                "SCRAM-SHA-256$4096:c2FsdA==$a:b".into(),
            ),
            ("we\"ird".into(), "SCRAM-SHA-256$4096:c2FsdA==$c:d".into()),
        ]);
        assert_eq!(
            list,
            "\"billing_rw\" \"SCRAM-SHA-256$4096:c2FsdA==$a:b\"\n\"we\"\"ird\" \"SCRAM-SHA-256$4096:c2FsdA==$c:d\"\n"
        );
    }

    #[test]
    fn a_host_pgbouncer_would_split_is_refused() {
        let manifest = manifest();
        let error = ini_for(&manifest, "db internal").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("host `db internal` cannot be written")
        );
    }
}
