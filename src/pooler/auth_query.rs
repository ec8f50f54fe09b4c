//! `[pooler] auth = "auth_query"`: PgBouncer asks the server for a client's SCRAM verifier
//! instead of reading it from `userlist.txt`. `apply` creates what it asks through, in the
//! manifest's database, planned and converged like everything else:
//!
//! - schema `pgbouncer`, owned by the NOLOGIN role `pgbouncer_owner`, which alone may read
//!   `pg_catalog.pg_shadow` (granted by a superuser: `apply` runs as one for this);
//! - `pgbouncer.get_auth(text)`, a SECURITY DEFINER SQL function owned by `pgbouncer_owner`, with
//!   its `search_path` fixed, that returns the name and verifier of the manifest's pooled roles
//!   only (their names are written into its body) and never of a superuser;
//! - the LOGIN role `pgbouncer_auth` (PgBouncer's `auth_user`), the only one with USAGE on the
//!   schema and EXECUTE on the function.
//!
//! PgBouncer logs in to the server as `pgbouncer_auth` to run the query. It cannot do so with a
//! SCRAM verifier (logging in by SCRAM needs the password or the keys a client's own SCRAM login
//! gave it), and dbsplit writes no plain password: the server lets `pgbouncer_auth` in by `peer`
//! (PgBouncer on the database host, over the unix socket) or `cert` (a client certificate in
//! PgBouncer's `server_tls_cert_file`), and `userlist.txt` holds no one.

use crate::catalog::model::AuthLookup;
use crate::manifest::{Manifest, PoolerAuth};
use crate::pg::ident::{Ident, Literal, dollar_quote};

/// The schema holding the lookup function.
pub const SCHEMA: &str = "pgbouncer";
/// The lookup function's name; it takes one `text` argument.
pub const FUNCTION: &str = "get_auth";
/// Its identity arguments, as `pg_get_function_identity_arguments` prints them.
pub const ARGS: &str = "p_usename text";
/// The NOLOGIN owner of the schema and the function; it may read `pg_shadow`.
pub const OWNER: &str = "pgbouncer_owner";
/// PgBouncer's `auth_user`.
pub const AUTH_USER: &str = "pgbouncer_auth";

const RESULT: &str = "TABLE(usename name, passwd text)";
const SEARCH_PATH: &str = "pg_catalog, pg_temp";

/// The roles whose verifiers the function returns: the pooled roles, in the manifest's order,
/// when the manifest asks for `auth_query`.
pub fn lookup_roles(manifest: &Manifest) -> Option<Vec<String>> {
    let pooler = manifest.pooler.as_ref()?;
    (pooler.auth == PoolerAuth::AuthQuery).then(|| {
        super::pooled_roles(manifest)
            .iter()
            .map(|(_, r)| r.name.clone())
            .collect()
    })
}

/// PgBouncer's server connections as `pgbouncer_auth`: one per alias (each alias has its own
/// pool for it), per instance.
pub fn auth_user_limit(manifest: &Manifest) -> i32 {
    let aliases = super::pooled_aliases(manifest);
    let instances = manifest.pooler.as_ref().map_or(1, |p| p.instances);
    i32::try_from(aliases.saturating_mul(instances as usize).max(1)).unwrap_or(i32::MAX)
}

/// The function's body: the verifier of `$1` when it is one of `roles` and not a superuser.
pub fn body(roles: &[String]) -> String {
    let names = if roles.is_empty() {
        "NULL".to_string()
    } else {
        roles
            .iter()
            .map(|r| Literal(r).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "\n  SELECT s.usename, s.passwd\n  FROM pg_catalog.pg_shadow AS s\n  WHERE s.usename = p_usename\n    AND NOT s.usesuper\n    AND s.usename IN ({names})\n"
    )
}

/// The function as the server stores it, for `roles`.
pub fn definition(roles: &[String]) -> AuthLookup {
    AuthLookup {
        language: "sql".to_string(),
        security_definer: true,
        config: vec![format!("search_path={SEARCH_PATH}")],
        result: RESULT.to_string(),
        body: body(roles),
    }
}

/// `"pgbouncer"."get_auth"(text)`, as ALTER, GRANT and DROP name it.
pub fn signature() -> String {
    format!("{}.{}(text)", Ident(SCHEMA), Ident(FUNCTION))
}

/// PgBouncer's `auth_query`.
pub fn query() -> String {
    format!("SELECT usename, passwd FROM {SCHEMA}.{FUNCTION}($1)")
}

/// Creates or replaces the function for `roles`, owned by `owner`, executable by `auth_user`
/// alone, after letting `owner` read `pg_shadow`. Every statement is idempotent.
pub fn create_statements(owner: &str, auth_user: &str, roles: &[String]) -> Vec<String> {
    let signature = signature();
    vec![
        format!(
            "GRANT SELECT ON TABLE pg_catalog.pg_shadow TO {};",
            Ident(owner)
        ),
        format!(
            "CREATE OR REPLACE FUNCTION {}.{}({ARGS})\n  RETURNS {RESULT}\n  LANGUAGE sql STABLE SECURITY DEFINER\n  SET search_path = {SEARCH_PATH}\nAS {};",
            Ident(SCHEMA),
            Ident(FUNCTION),
            dollar_quote(&body(roles))
        ),
        format!("ALTER FUNCTION {signature} OWNER TO {};", Ident(owner)),
        format!("REVOKE ALL ON FUNCTION {signature} FROM PUBLIC;"),
        format!(
            "GRANT EXECUTE ON FUNCTION {signature} TO {};",
            Ident(auth_user)
        ),
    ]
}

/// Drops the function and takes `pg_shadow` from `owner`.
pub fn drop_statements(owner: &str) -> Vec<String> {
    vec![
        format!("DROP FUNCTION IF EXISTS {};", signature()),
        format!(
            "REVOKE SELECT ON TABLE pg_catalog.pg_shadow FROM {};",
            Ident(owner)
        ),
    ]
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn manifest(auth: &str) -> Manifest {
        let text = format!(
            "version = 1\n[database]\nname = \"app\"\n\
             [services.billing]\nroles.billing_rw = {{ access = \"readwrite\", pool_size = 4 }}\n\
             roles.billing_migrator = {{ access = \"owner\" }}\n\
             [services.notify]\nroles.\"o'brien\" = {{ access = \"readwrite\", pool_size = 2 }}\n\
             [pooler]\ninstances = 3\nauth = \"{auth}\"\n"
        );
        Manifest::parse(Path::new("services.toml"), &text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_function_names_the_pooled_roles_only_and_never_a_superuser() {
        let manifest = manifest("auth_query");
        let roles = lookup_roles(&manifest).unwrap();
        assert_eq!(roles, ["billing_rw", "o'brien"]);
        let statements = create_statements(OWNER, AUTH_USER, &roles);
        insta::assert_snapshot!(statements.join("\n"));
        assert_eq!(auth_user_limit(&manifest), 6);
        assert!(lookup_roles(&manifest_userlist()).is_none());
    }

    fn manifest_userlist() -> Manifest {
        manifest("userlist")
    }

    #[test]
    fn the_catalog_query_reads_the_function_this_module_creates() {
        let sql = include_str!("../catalog/queries/pooler_auth.sql");
        assert!(sql.contains(&format!("'{SCHEMA}.{FUNCTION}(text)'")));
        assert_eq!(
            query(),
            "SELECT usename, passwd FROM pgbouncer.get_auth($1)"
        );
    }
}
