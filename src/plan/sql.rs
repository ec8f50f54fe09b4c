//! Renders changes to SQL. Every name goes through `pg::ident`; nothing else is spliced in.
//!
//! The statements are idempotent, so a rendered plan can run twice: roles are created in a DO
//! block that checks `pg_roles`, schemas with IF NOT EXISTS, and GRANT, REVOKE and ALTER are
//! no-ops when already in effect.

use crate::catalog::model::{Grantee, MANAGED_COMMENT, Privileges, RoleAttributes};
use crate::pg::ident::{Ident, Literal, dollar_quote, ident_list};

use super::change::{Action, Existing, Object, Plan, attribute_changes, keywords};

mod grouped;

pub use grouped::{OBJECTS_PER_STATEMENT, STATEMENTS_PER_MESSAGE, grouped, grouped_with, messages};

/// The SQL of one change: one or more statements, each ending in `;`.
pub fn statements(action: &Action) -> Vec<String> {
    match action {
        Action::CreateRole {
            role,
            attributes,
            password_env,
            existing,
        } => {
            let mut out = Vec::new();
            if let Some(env) = password_env {
                // The name is checked to be [A-Za-z_][A-Za-z0-9_]*, safe in a comment.
                out.push(format!(
                    "-- password of {}: set by `dbsplit apply` from ${env}; never printed",
                    Ident(role)
                ));
            }
            out.push(create_role(role, attributes, *existing));
            vec![out.join("\n")]
        }
        Action::AlterRole { role, from, to } => vec![format!(
            "ALTER ROLE {} WITH {};",
            Ident(role),
            attribute_changes(from, to, true).join(" ")
        )],
        Action::MarkRole { role, mark } => vec![super::mark::comment(role, mark)],
        Action::SetPassword { role, env } => vec![format!(
            // The statement apply runs carries a SCRAM verifier; plans never hold it.
            "-- ALTER ROLE {} PASSWORD '<SCRAM-SHA-256 verifier of ${env}, computed at apply time>';",
            Ident(role)
        )],
        Action::AlterOwner { object: on, owner } => vec![format!(
            "ALTER {} OWNER TO {};",
            alter_target(on),
            Ident(owner)
        )],
        Action::RevokeRole {
            group,
            members,
            granted_by,
        } => vec![format!(
            // CASCADE: grants the members made with an ADMIN OPTION go too (16+).
            "REVOKE {} FROM {}{} CASCADE;",
            Ident(group),
            ident_list(members.iter().map(String::as_str)),
            granted_by_clause(granted_by.as_deref())
        )],
        Action::GrantRoleOptions {
            group,
            member,
            inherit,
            set,
        } => {
            let mut with = Vec::new();
            if *inherit {
                with.push("INHERIT TRUE");
            }
            if *set {
                with.push("SET TRUE");
            }
            vec![format!(
                "GRANT {} TO {} WITH {};",
                Ident(group),
                Ident(member),
                with.join(", ")
            )]
        }
        Action::RevokeRoleOption {
            option,
            group,
            member,
            granted_by,
        } => vec![format!(
            "REVOKE {} OPTION FOR {} FROM {}{} CASCADE;",
            option.keyword(),
            Ident(group),
            Ident(member),
            granted_by_clause(granted_by.as_deref())
        )],
        Action::SelfGrant {
            group,
            member,
            set_option,
        } => vec![if *set_option {
            format!(
                "GRANT {} TO {} WITH INHERIT FALSE, SET TRUE;",
                Ident(group),
                Ident(member)
            )
        } else {
            format!("GRANT {} TO {};", Ident(group), Ident(member))
        }],
        Action::ResetSearchPath { role, database } => vec![match database {
            Some(database) => format!(
                "ALTER ROLE {} IN DATABASE {} RESET search_path;",
                Ident(role),
                Ident(database)
            ),
            None => format!("ALTER ROLE {} RESET search_path;", Ident(role)),
        }],
        Action::DropRole { role } => vec![format!("DROP ROLE {};", Ident(role))],
        Action::CreateSchema { schema, owner } => vec![
            format!(
                "CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {};",
                Ident(schema),
                Ident(owner)
            ),
            format!("ALTER SCHEMA {} OWNER TO {};", Ident(schema), Ident(owner)),
        ],
        Action::GrantRole { group, members } => vec![format!(
            "GRANT {} TO {};",
            Ident(group),
            ident_list(members.iter().map(String::as_str))
        )],
        Action::Grant { .. } | Action::Revoke { .. } | Action::RevokeGrantOption { .. } => {
            let parts = privilege_parts(action).expect("a grant or a revoke has parts");
            vec![parts.statement(&[parts.object.as_str()])]
        }
        Action::DefaultPrivileges {
            owner,
            schema,
            objects,
            grant,
            privileges,
            grantees,
        } => {
            let in_schema = schema
                .as_ref()
                .map(|s| format!(" IN SCHEMA {}", Ident(s)))
                .unwrap_or_default();
            let (verb, preposition) = if *grant {
                ("GRANT", "TO")
            } else {
                ("REVOKE", "FROM")
            };
            vec![format!(
                "ALTER DEFAULT PRIVILEGES FOR ROLE {}{in_schema} {verb} {} ON {} {preposition} {};",
                Ident(owner),
                privilege_list(privileges.as_ref()),
                objects.keyword(),
                grantee_list(grantees)
            )]
        }
        Action::SetSearchPath {
            role,
            database,
            schemas,
        } => vec![format!(
            "ALTER ROLE {} IN DATABASE {} SET search_path = {};",
            Ident(role),
            Ident(database),
            ident_list(schemas.iter().map(String::as_str))
        )],
        Action::ApplicationName {
            role,
            database,
            name,
        } => vec![match name {
            Some(name) => format!(
                "ALTER ROLE {} IN DATABASE {} SET application_name = {};",
                Ident(role),
                Ident(database),
                Literal(name)
            ),
            None => format!(
                "ALTER ROLE {} IN DATABASE {} RESET application_name;",
                Ident(role),
                Ident(database)
            ),
        }],
        Action::DropSchema { schema } => vec![format!(
            // RESTRICT: fails instead of dropping anything the schema still holds.
            "DROP SCHEMA IF EXISTS {} RESTRICT;",
            Ident(schema)
        )],
        Action::AuthLookup {
            owner,
            auth_user,
            roles,
        } => crate::pooler::auth_query::create_statements(owner, auth_user, roles),
        Action::DropAuthLookup { owner } => crate::pooler::auth_query::drop_statements(owner),
    }
}

fn granted_by_clause(grantor: Option<&str>) -> String {
    grantor
        .map(|g| format!(" GRANTED BY {}", Ident(g)))
        .unwrap_or_default()
}

/// The whole plan as a script for `psql -v ON_ERROR_STOP=1 -1 -f`.
///
/// It opens with a guard that stops the script in any database but the manifest's: schemas and
/// default privileges are per database, and running it elsewhere would set up the wrong one.
pub fn script(plan: &Plan) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "-- dbsplit plan for database {}: {} change{}.\n",
        Ident(&plan.database),
        plan.changes.len(),
        crate::text::plural(plan.changes.len())
    ));
    out.push_str("-- Run it in one transaction: psql -v ON_ERROR_STOP=1 -1 -f <this file>\n\n");
    out.push_str(&database_guard(&plan.database));
    out.push('\n');
    for change in &plan.changes {
        out.push('\n');
        for statement in statements(&change.action) {
            out.push_str(&statement);
            out.push('\n');
        }
    }
    out
}

fn database_guard(database: &str) -> String {
    let body = format!(
        "\nBEGIN\n  IF pg_catalog.current_database() <> {db} THEN\n    RAISE EXCEPTION 'this script is for database %, not %', {db}, pg_catalog.current_database();\n  END IF;\nEND\n",
        db = Literal(database)
    );
    format!("DO {};", dollar_quote(&body))
}

/// The statements apply may run instead of [`statements`] for a role the live state read in
/// the same transaction does not have: a plain `CREATE ROLE` and `COMMENT ON ROLE` with the
/// whole mark, without the DO blocks that make the plan's SQL safe to run anywhere (a server
/// compiles each DO block; 400 of them took a tenth of a 10,000-table cold apply). What they
/// leave is what the DO blocks would: on a new role the mark merges with the bare managed
/// comment into `mark` itself. Should the role appear meanwhile, CREATE ROLE fails and the
/// transaction rolls back. `None` for every other change.
pub fn new_role_statements(action: &Action) -> Option<Vec<String>> {
    match action {
        Action::CreateRole {
            role, attributes, ..
        } => Some(vec![
            format!(
                "CREATE ROLE {} WITH {};",
                Ident(role),
                role_options(attributes, true)
            ),
            format!(
                "COMMENT ON ROLE {} IS {};",
                Ident(role),
                Literal(MANAGED_COMMENT)
            ),
        ]),
        Action::MarkRole { role, mark } => Some(vec![format!(
            "COMMENT ON ROLE {} IS {};",
            Ident(role),
            Literal(&jsonb_mark(mark))
        )]),
        _ => None,
    }
}

/// The comment the mark's DO block writes on a new role: the mark as PostgreSQL prints a
/// `jsonb` (keys by length, then bytes; `", "` and `": "` between), so both ways leave the
/// same text.
fn jsonb_mark(mark: &crate::catalog::model::RoleMark) -> String {
    fn jsonb(value: &serde_json::Value) -> String {
        match value {
            serde_json::Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
                let fields: Vec<String> = keys
                    .into_iter()
                    .map(|k| {
                        format!(
                            "{}: {}",
                            serde_json::Value::from(k.as_str()),
                            jsonb(&map[k])
                        )
                    })
                    .collect();
                format!("{{{}}}", fields.join(", "))
            }
            serde_json::Value::Array(items) => {
                let items: Vec<String> = items.iter().map(jsonb).collect();
                format!("[{}]", items.join(", "))
            }
            other => other.to_string(),
        }
    }
    match serde_json::to_value(mark) {
        Ok(value) if value.as_object().is_some_and(|o| !o.is_empty()) => {
            format!("{MANAGED_COMMENT} {}", jsonb(&value))
        }
        _ => mark.render(),
    }
}

/// A DO block that creates the role when missing. For `Existing::Alter` it otherwise brings the
/// attributes back: those a CREATEROLE user may set always, and SUPERUSER, REPLICATION and
/// BYPASSRLS only when one of them is on, because naming them at all requires a superuser.
fn create_role(role: &str, attributes: &RoleAttributes, existing: Existing) -> String {
    let name = Ident(role);
    let literal = Literal(role);
    let mut body = format!(
        "\nBEGIN\n  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {literal}) THEN\n    CREATE ROLE {name} WITH {};\n    COMMENT ON ROLE {name} IS {};\n",
        role_options(attributes, true),
        Literal(MANAGED_COMMENT)
    );
    if existing == Existing::Alter {
        body.push_str(&format!(
            "  ELSE\n    ALTER ROLE {name} WITH {};\n",
            role_options(attributes, false)
        ));
        body.push_str(&format!(
            "    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {literal} AND (rolsuper OR rolreplication OR rolbypassrls)) THEN\n      ALTER ROLE {name} WITH NOSUPERUSER NOREPLICATION NOBYPASSRLS;\n    END IF;\n"
        ));
    }
    body.push_str("  END IF;\nEND\n");
    format!("DO {};", dollar_quote(&body))
}

/// Role options; `superuser_only` adds SUPERUSER, REPLICATION and BYPASSRLS.
fn role_options(a: &RoleAttributes, superuser_only: bool) -> String {
    let flag = |on: bool, name: &str| {
        if on {
            name.to_string()
        } else {
            format!("NO{name}")
        }
    };
    let mut options = vec![flag(a.login, "LOGIN")];
    if superuser_only {
        options.push(flag(a.superuser, "SUPERUSER"));
    }
    options.push(flag(a.createdb, "CREATEDB"));
    options.push(flag(a.createrole, "CREATEROLE"));
    options.push(flag(a.inherit, "INHERIT"));
    if superuser_only {
        options.push(flag(a.replication, "REPLICATION"));
        options.push(flag(a.bypassrls, "BYPASSRLS"));
    }
    options.push(format!("CONNECTION LIMIT {}", a.connection_limit));
    options.join(" ")
}

/// A GRANT or REVOKE cut around its object, so that statements of the same shape can name a
/// list of objects: `head` `object[, object...]` `tail`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PrivilegeParts {
    /// `GRANT SELECT ON TABLE`, `REVOKE GRANT OPTION FOR USAGE ON SCHEMA`.
    head: String,
    /// `"s"."t"`, `"s"."f"(integer)`.
    object: String,
    /// `TO "r";`, `FROM "r" CASCADE;`.
    tail: String,
}

impl PrivilegeParts {
    fn statement(&self, objects: &[&str]) -> String {
        format!("{} {} {}", self.head, objects.join(", "), self.tail)
    }
}

/// The parts of a GRANT, REVOKE or REVOKE GRANT OPTION; `None` for any other change.
fn privilege_parts(action: &Action) -> Option<PrivilegeParts> {
    let (head, on, tail) = match action {
        Action::Grant { privileges, on, to } => (
            format!("GRANT {}", privileges_on(Some(privileges), on)),
            on,
            format!("TO {};", grantee_list(to)),
        ),
        Action::Revoke {
            privileges,
            on,
            from,
        } => (
            format!("REVOKE {}", privileges_on(privileges.as_ref(), on)),
            on,
            format!("FROM {};", grantee_list(from)),
        ),
        Action::RevokeGrantOption {
            privileges,
            on,
            from,
        } => (
            format!(
                "REVOKE GRANT OPTION FOR {}",
                privileges_on(Some(privileges), on)
            ),
            on,
            format!("FROM {} CASCADE;", grantee_list(from)),
        ),
        _ => return None,
    };
    let (keyword, object) = object_parts(on);
    Some(PrivilegeParts {
        head: format!("{head} ON {keyword}"),
        object,
        tail,
    })
}

/// The object as GRANT and REVOKE name it: `TABLE "s"."t"`, `FUNCTION "s"."f"(integer)`.
fn object(on: &Object) -> String {
    let (keyword, name) = object_parts(on);
    format!("{keyword} {name}")
}

/// The keyword and the name of `object`: (`TABLE`, `"s"."t"`).
fn object_parts(on: &Object) -> (&'static str, String) {
    match on {
        Object::Database(name) => ("DATABASE", Ident(name).to_string()),
        Object::Schema(name) => ("SCHEMA", Ident(name).to_string()),
        Object::InSchema {
            kind,
            schema,
            name,
            args,
        } => (
            kind.grant_keyword(),
            qualified(schema, name, args.as_deref()),
        ),
        Object::Column { schema, table, .. } => ("TABLE", qualified(schema, table, None)),
    }
}

/// The object as ALTER names it: `MATERIALIZED VIEW "s"."v"`, `SCHEMA "s"`.
fn alter_target(on: &Object) -> String {
    match on {
        Object::InSchema {
            kind,
            schema,
            name,
            args,
        } => format!(
            "{} {}",
            kind.alter_keyword(),
            qualified(schema, name, args.as_deref())
        ),
        other => object(other),
    }
}

/// `"schema"."name"`, with a routine's argument list as PostgreSQL printed it
/// (`pg_get_function_identity_arguments`, made to be read back).
fn qualified(schema: &str, name: &str, args: Option<&str>) -> String {
    match args {
        Some(args) => format!("{}.{}({args})", Ident(schema), Ident(name)),
        None => format!("{}.{}", Ident(schema), Ident(name)),
    }
}

/// The privilege list; for a column each privilege names it: `SELECT ("c"), UPDATE ("c")`.
fn privileges_on(privileges: Option<&Privileges>, on: &Object) -> String {
    match (privileges, on) {
        (Some(privileges), Object::Column { column, .. }) => privileges
            .iter()
            .map(|p| format!("{} ({})", p.keyword(), Ident(column)))
            .collect::<Vec<_>>()
            .join(", "),
        (None, Object::Column { column, .. }) => format!("ALL ({})", Ident(column)),
        (privileges, _) => privilege_list(privileges),
    }
}

fn privilege_list(privileges: Option<&Privileges>) -> String {
    privileges.map_or("ALL".to_string(), keywords)
}

fn grantee_list(grantees: &[Grantee]) -> String {
    grantees
        .iter()
        .map(|g| match g {
            Grantee::Public => "PUBLIC".to_string(),
            Grantee::Role(name) => Ident(name).to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
