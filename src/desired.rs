//! The desired state: what the cluster must look like for a manifest, in the same
//! [`ClusterState`] model introspection produces. Pure: no I/O.
//!
//! Conventions of a desired state: a managed schema's ACL lists every grantee that may hold
//! anything on it; an ACL entry with an empty privilege set means "must hold nothing" (PUBLIC's
//! CONNECT on the database, PUBLIC's EXECUTE on new functions).

use std::collections::{BTreeMap, BTreeSet};

use crate::catalog::model::{
    Acl, ClusterState, Database, DefaultAclKey, DefaultObjects, Grantee, Membership, Privilege,
    Role, RoleAttributes, Schema,
};
use crate::manifest::{Access, Manifest, PublicSchema};
use crate::pg::ident::{Ident, split_identifiers};

/// A desired cluster state plus the intentions the state itself cannot express.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub state: ClusterState,
    /// The database the services share.
    pub database: String,
    /// Roles whose attributes dbsplit enforces. Observers are only created when missing.
    pub enforced_roles: BTreeSet<String>,
    /// Role -> the environment variable holding its password.
    pub password_envs: BTreeMap<String, String>,
    /// Role -> its `password_version`, when the manifest gives one.
    pub password_versions: BTreeMap<String, u32>,
    pub public_schema: PublicSchema,
}

impl Desired {
    /// The desired database.
    pub fn db(&self) -> &Database {
        self.state
            .databases
            .get(&self.database)
            .expect("a desired state always holds its database")
    }
}

/// The `search_path` setting value for a list of schemas, every name quoted.
pub fn search_path_value(schemas: &[String]) -> String {
    schemas
        .iter()
        .map(|s| Ident(s).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn privileges<const N: usize>(list: [Privilege; N]) -> BTreeSet<Privilege> {
    list.into_iter().collect()
}

/// Computes the desired state of `manifest`.
pub fn desired_state(manifest: &Manifest) -> Desired {
    use Privilege::*;
    let db_name = manifest.database.name.clone();
    let mut state = ClusterState::default();
    let mut enforced_roles = BTreeSet::new();
    let mut password_envs = BTreeMap::new();
    let mut password_versions = BTreeMap::new();
    let mut db = Database::default();

    let mut add_role = |state: &mut ClusterState, name: &str, role: Role, enforced: bool| {
        state.roles.insert(name.to_string(), role);
        if enforced {
            enforced_roles.insert(name.to_string());
        }
    };
    let owner_role = || Role {
        attributes: RoleAttributes::unprivileged(false, None),
        ..Role::default()
    };

    // Who reads each schema besides its own service: roles of services that declare a read,
    // and observers. A declared read reaches the service's owner role too, so that its
    // migrations can create views over the schema read; read-only, like every reader.
    let mut readers: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for service in &manifest.services {
        for read in &service.reads {
            let entry = readers.entry(read.schema.as_str()).or_default();
            entry.insert(service.owner.clone());
            entry.extend(service.roles.iter().map(|r| r.name.clone()));
        }
    }
    for observer in &manifest.observers {
        for schema in &observer.reads {
            readers
                .entry(schema.as_str())
                .or_default()
                .insert(observer.name.clone());
        }
    }

    for service in &manifest.services {
        add_role(&mut state, &service.owner, owner_role(), true);
        let mut schema_acl = Acl::new();
        schema_acl.insert(
            Grantee::Role(service.owner.clone()),
            privileges([Usage, Create]),
        );
        let mut tables = Acl::new();
        let mut sequences = Acl::new();
        let mut functions = Acl::new();
        for role in &service.roles {
            let mut member_of = BTreeSet::new();
            let mut memberships = Vec::new();
            let grantee = Grantee::Role(role.name.clone());
            match role.access {
                Access::Owner => {
                    member_of.insert(service.owner.clone());
                    memberships.push(Membership::wanted(&service.owner));
                }
                Access::ReadWrite => {
                    schema_acl.insert(grantee.clone(), privileges([Usage]));
                    tables.insert(
                        grantee.clone(),
                        privileges([Select, Insert, Update, Delete]),
                    );
                    sequences.insert(grantee.clone(), privileges([Usage, Select]));
                    functions.insert(grantee, privileges([Execute]));
                }
                Access::ReadOnly => {
                    schema_acl.insert(grantee.clone(), privileges([Usage]));
                    tables.insert(grantee.clone(), privileges([Select]));
                    sequences.insert(grantee, privileges([Select]));
                }
            }
            for group in &role.member_of {
                member_of.insert(group.clone());
                memberships.push(Membership::wanted(group));
            }
            // application_name names the service in pg_stat_activity and the server's logs,
            // unless the client sets its own.
            let settings = BTreeMap::from([(
                db_name.clone(),
                BTreeMap::from([
                    (
                        crate::pg::SEARCH_PATH.to_string(),
                        search_path_value(&service.search_path),
                    ),
                    ("application_name".to_string(), service.name.clone()),
                ]),
            )]);
            let attributes = RoleAttributes::unprivileged(true, role.connection_limit);
            add_role(
                &mut state,
                &role.name,
                Role {
                    attributes,
                    member_of,
                    memberships,
                    settings,
                    ..Role::default()
                },
                true,
            );
            if let Some(env) = &role.password_env {
                password_envs.insert(role.name.clone(), env.clone());
            }
            if let Some(version) = role.password_version {
                password_versions.insert(role.name.clone(), version);
            }
        }
        let readers_here = readers.get(service.schema.as_str());
        grant_reads(readers_here, &mut schema_acl, &mut tables, &mut sequences);
        db.schemas.insert(
            service.schema.clone(),
            Schema {
                owner: service.owner.clone(),
                acl: schema_acl,
                grant_options: Acl::new(),
                objects: BTreeMap::new(),
            },
        );
        insert_default_acls(
            &mut db,
            &service.owner,
            &service.schema,
            [
                (DefaultObjects::Tables, tables),
                (DefaultObjects::Sequences, sequences),
                (DefaultObjects::Functions, functions),
            ],
        );
    }

    for shared in &manifest.shared {
        add_role(&mut state, &shared.owner, owner_role(), true);
        let mut schema_acl = Acl::from([(
            Grantee::Role(shared.owner.clone()),
            privileges([Usage, Create]),
        )]);
        let mut tables = Acl::new();
        let mut sequences = Acl::new();
        let readers_here = readers.get(shared.schema.as_str());
        grant_reads(readers_here, &mut schema_acl, &mut tables, &mut sequences);
        db.schemas.insert(
            shared.schema.clone(),
            Schema {
                owner: shared.owner.clone(),
                acl: schema_acl,
                grant_options: Acl::new(),
                objects: BTreeMap::new(),
            },
        );
        insert_default_acls(
            &mut db,
            &shared.owner,
            &shared.schema,
            [
                (DefaultObjects::Tables, tables),
                (DefaultObjects::Sequences, sequences),
                (DefaultObjects::Functions, Acl::new()),
            ],
        );
    }

    for observer in &manifest.observers {
        let role = Role {
            attributes: RoleAttributes::unprivileged(observer.login, observer.connection_limit),
            ..Role::default()
        };
        add_role(&mut state, &observer.name, role, false);
        if let Some(env) = &observer.password_env {
            password_envs.insert(observer.name.clone(), env.clone());
        }
        if let Some(version) = observer.password_version {
            password_versions.insert(observer.name.clone(), version);
        }
    }

    // [pooler] auth = "auth_query": PgBouncer's lookup function, its schema and roles.
    let auth_lookup = crate::pooler::auth_query::lookup_roles(manifest);
    if let Some(roles) = &auth_lookup {
        use crate::pooler::auth_query::{AUTH_USER, OWNER, SCHEMA, auth_user_limit, definition};
        add_role(&mut state, OWNER, owner_role(), true);
        let limit = Some(auth_user_limit(manifest));
        let auth_user = Role {
            attributes: RoleAttributes::unprivileged(true, limit),
            ..Role::default()
        };
        add_role(&mut state, AUTH_USER, auth_user, true);
        let schema_acl = Acl::from([
            (
                Grantee::Role(OWNER.to_string()),
                privileges([Usage, Create]),
            ),
            (Grantee::Role(AUTH_USER.to_string()), privileges([Usage])),
        ]);
        db.schemas.insert(
            SCHEMA.to_string(),
            Schema {
                owner: OWNER.to_string(),
                acl: schema_acl,
                grant_options: Acl::new(),
                objects: BTreeMap::new(),
            },
        );
        let functions = Acl::from([(Grantee::Role(AUTH_USER.to_string()), privileges([Execute]))]);
        insert_default_acls(
            &mut db,
            OWNER,
            SCHEMA,
            [(DefaultObjects::Functions, functions)],
        );
        db.auth_lookup = Some(definition(roles));
        db.shadow_readers.insert(OWNER.to_string());
    }

    if manifest.database.revoke_public_connect {
        db.acl.insert(Grantee::Public, BTreeSet::new());
        let auth_user = auth_lookup
            .as_ref()
            .map(|_| crate::pooler::auth_query::AUTH_USER.to_string());
        let connecting = manifest
            .services
            .iter()
            .flat_map(|s| s.roles.iter().map(|r| r.name.clone()))
            .chain(manifest.observers.iter().map(|o| o.name.clone()))
            .chain(auth_user);
        for role in connecting {
            db.acl.insert(Grantee::Role(role), privileges([Connect]));
        }
    }

    state.databases.insert(db_name.clone(), db);
    Desired {
        state,
        database: db_name,
        enforced_roles,
        password_envs,
        password_versions,
        public_schema: manifest.database.public_schema,
    }
}

/// Read access for each reader: USAGE on the schema, SELECT on its tables and sequences.
fn grant_reads(
    readers: Option<&BTreeSet<String>>,
    schema_acl: &mut Acl,
    tables: &mut Acl,
    sequences: &mut Acl,
) {
    for reader in readers.into_iter().flatten() {
        let grantee = Grantee::Role(reader.clone());
        schema_acl.insert(grantee.clone(), privileges([Privilege::Usage]));
        tables.insert(grantee.clone(), privileges([Privilege::Select]));
        sequences.insert(grantee, privileges([Privilege::Select]));
    }
}

/// Default privileges of `owner` in `schema`, plus the owner's global revoke of EXECUTE on new
/// functions from PUBLIC. That revoke must be global: per-schema default privileges can only add
/// to the global ones (see the notes of ALTER DEFAULT PRIVILEGES in the PostgreSQL docs).
fn insert_default_acls<const N: usize>(
    db: &mut Database,
    owner: &str,
    schema: &str,
    acls: [(DefaultObjects, Acl); N],
) {
    for (objects, acl) in acls {
        if !acl.is_empty() {
            let key = DefaultAclKey {
                owner: owner.to_string(),
                schema: Some(schema.to_string()),
                objects,
            };
            db.default_acls.insert(key, acl);
        }
    }
    let global = DefaultAclKey {
        owner: owner.to_string(),
        schema: None,
        objects: DefaultObjects::Functions,
    };
    db.default_acls
        .insert(global, Acl::from([(Grantee::Public, BTreeSet::new())]));
}

/// The schemas of a `search_path` setting value, as PostgreSQL stores it
/// (`billing, "Billing Svc"`): split at commas outside double quotes, quotes removed.
pub fn parse_search_path(value: &str) -> Vec<String> {
    if value.trim().is_empty() {
        return Vec::new();
    }
    split_identifiers(value, ',')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_path_round_trips_through_its_setting_value() {
        let schemas = vec![
            "billing".to_string(),
            "Billing Svc".to_string(),
            r#"a"b,c"#.to_string(),
        ];
        assert_eq!(parse_search_path(&search_path_value(&schemas)), schemas);
        assert_eq!(parse_search_path("billing, public"), ["billing", "public"]);
        assert_eq!(parse_search_path(""), Vec::<String>::new());
    }
}
