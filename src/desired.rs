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
use crate::manifest::{Access, Manifest, Observer, PublicSchema, Service, SharedSchema};
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
    /// In a fleet: roles whose cluster-wide state (creation, attributes, password, mark,
    /// memberships) another target of the same cluster plans, so that each role is planned
    /// once per cluster. This target plans only what it holds in its database (grants,
    /// settings). Empty for a v1 manifest.
    pub planned_elsewhere: BTreeSet<String>,
    /// In a fleet: role -> every database of its cluster it serves, recorded in its mark by the
    /// target that plans it (besides this target's own database). Empty for a v1 manifest.
    pub serves: BTreeMap<String, BTreeSet<String>>,
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
    let db_name = manifest.database.name.clone();
    let readers = readers(manifest);
    let mut build = Builder::default();
    for service in &manifest.services {
        build.service(service, &db_name, readers.get(service.schema.as_str()));
    }
    for shared in &manifest.shared {
        build.shared(shared, readers.get(shared.schema.as_str()));
    }
    for observer in &manifest.observers {
        build.observer(observer);
    }
    // [pooler] auth = "auth_query": PgBouncer's lookup function, its schema and roles.
    let auth_lookup = crate::pooler::auth_query::lookup_roles(manifest);
    if let Some(roles) = &auth_lookup {
        build.auth_lookup(manifest, roles);
    }
    if manifest.database.revoke_public_connect {
        build.revoke_public_connect(manifest, auth_lookup.is_some());
    }

    let Builder {
        mut state,
        db,
        enforced_roles,
        password_envs,
        password_versions,
    } = build;
    state.databases.insert(db_name.clone(), db);
    Desired {
        state,
        database: db_name,
        enforced_roles,
        password_envs,
        password_versions,
        public_schema: manifest.database.public_schema,
        planned_elsewhere: BTreeSet::new(),
        serves: BTreeMap::new(),
    }
}

/// Who reads each schema besides its own service: roles of services that declare a read, and
/// observers. A declared read reaches the service's owner role too, so that its migrations can
/// create views over the schema read; read-only, like every reader.
fn readers(manifest: &Manifest) -> BTreeMap<&str, BTreeSet<String>> {
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
    readers
}

/// The parts of a [`Desired`] that its declarations fill in, one at a time.
#[derive(Default)]
struct Builder {
    state: ClusterState,
    db: Database,
    enforced_roles: BTreeSet<String>,
    password_envs: BTreeMap<String, String>,
    password_versions: BTreeMap<String, u32>,
}

impl Builder {
    fn add_role(&mut self, name: &str, role: Role, enforced: bool) {
        self.state.roles.insert(name.to_string(), role);
        if enforced {
            self.enforced_roles.insert(name.to_string());
        }
    }

    /// A schema owner: no login, no attributes beyond the defaults.
    fn add_owner_role(&mut self, name: &str) {
        let role = Role {
            attributes: RoleAttributes::unprivileged(false, None),
            ..Role::default()
        };
        self.add_role(name, role, true);
    }

    fn add_password(&mut self, role: &str, env: Option<&String>, version: Option<u32>) {
        if let Some(env) = env {
            self.password_envs.insert(role.to_string(), env.clone());
        }
        if let Some(version) = version {
            self.password_versions.insert(role.to_string(), version);
        }
    }

    fn add_schema(&mut self, name: &str, owner: &str, acl: Acl) {
        let schema = Schema {
            owner: owner.to_string(),
            acl,
            grant_options: Acl::new(),
            objects: BTreeMap::new(),
        };
        self.db.schemas.insert(name.to_string(), schema);
    }

    /// A service: its owner, its roles with their access, its schema and default privileges.
    fn service(&mut self, service: &Service, db_name: &str, readers: Option<&BTreeSet<String>>) {
        use Privilege::*;
        self.add_owner_role(&service.owner);
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
            let role_state = Role {
                attributes: RoleAttributes::unprivileged(true, role.connection_limit),
                member_of,
                memberships,
                settings: service_settings(service, db_name),
                ..Role::default()
            };
            self.add_role(&role.name, role_state, true);
            self.add_password(
                &role.name,
                role.password_env.as_ref(),
                role.password_version,
            );
        }
        grant_reads(readers, &mut schema_acl, &mut tables, &mut sequences);
        self.add_schema(&service.schema, &service.owner, schema_acl);
        insert_default_acls(
            &mut self.db,
            &service.owner,
            &service.schema,
            [
                (DefaultObjects::Tables, tables),
                (DefaultObjects::Sequences, sequences),
                (DefaultObjects::Functions, functions),
            ],
        );
    }

    /// A shared schema: its owner, the schema, and read access for its readers.
    fn shared(&mut self, shared: &SharedSchema, readers: Option<&BTreeSet<String>>) {
        self.add_owner_role(&shared.owner);
        let mut schema_acl = Acl::from([(
            Grantee::Role(shared.owner.clone()),
            privileges([Privilege::Usage, Privilege::Create]),
        )]);
        let mut tables = Acl::new();
        let mut sequences = Acl::new();
        grant_reads(readers, &mut schema_acl, &mut tables, &mut sequences);
        self.add_schema(&shared.schema, &shared.owner, schema_acl);
        insert_default_acls(
            &mut self.db,
            &shared.owner,
            &shared.schema,
            [
                (DefaultObjects::Tables, tables),
                (DefaultObjects::Sequences, sequences),
                (DefaultObjects::Functions, Acl::new()),
            ],
        );
    }

    /// An observer: a role created when missing, never enforced.
    fn observer(&mut self, observer: &Observer) {
        let role = Role {
            attributes: RoleAttributes::unprivileged(observer.login, observer.connection_limit),
            ..Role::default()
        };
        self.add_role(&observer.name, role, false);
        self.add_password(
            &observer.name,
            observer.password_env.as_ref(),
            observer.password_version,
        );
    }

    /// PgBouncer's auth_query: the lookup function over `roles`, its schema, owner and user.
    fn auth_lookup(&mut self, manifest: &Manifest, roles: &[String]) {
        use crate::pooler::auth_query::{AUTH_USER, OWNER, SCHEMA, auth_user_limit, definition};
        self.add_owner_role(OWNER);
        let limit = Some(auth_user_limit(manifest));
        let auth_user = Role {
            attributes: RoleAttributes::unprivileged(true, limit),
            ..Role::default()
        };
        self.add_role(AUTH_USER, auth_user, true);
        let schema_acl = Acl::from([
            (
                Grantee::Role(OWNER.to_string()),
                privileges([Privilege::Usage, Privilege::Create]),
            ),
            (
                Grantee::Role(AUTH_USER.to_string()),
                privileges([Privilege::Usage]),
            ),
        ]);
        self.add_schema(SCHEMA, OWNER, schema_acl);
        let functions = Acl::from([(
            Grantee::Role(AUTH_USER.to_string()),
            privileges([Privilege::Execute]),
        )]);
        insert_default_acls(
            &mut self.db,
            OWNER,
            SCHEMA,
            [(DefaultObjects::Functions, functions)],
        );
        self.db.auth_lookup = Some(definition(roles));
        self.db.shadow_readers.insert(OWNER.to_string());
    }

    /// PUBLIC loses CONNECT on the database; every role that connects gets it by name.
    fn revoke_public_connect(&mut self, manifest: &Manifest, auth_lookup: bool) {
        self.db.acl.insert(Grantee::Public, BTreeSet::new());
        let auth_user = auth_lookup.then(|| crate::pooler::auth_query::AUTH_USER.to_string());
        let connecting = manifest
            .services
            .iter()
            .flat_map(|s| s.roles.iter().map(|r| r.name.clone()))
            .chain(manifest.observers.iter().map(|o| o.name.clone()))
            .chain(auth_user);
        for role in connecting {
            self.db
                .acl
                .insert(Grantee::Role(role), privileges([Privilege::Connect]));
        }
    }
}

/// The settings of a service's login roles in its database. application_name names the service
/// in pg_stat_activity and the server's logs, unless the client sets its own.
fn service_settings(
    service: &Service,
    db_name: &str,
) -> BTreeMap<String, BTreeMap<String, String>> {
    BTreeMap::from([(
        db_name.to_string(),
        BTreeMap::from([
            (
                crate::pg::SEARCH_PATH.to_string(),
                search_path_value(&service.search_path),
            ),
            ("application_name".to_string(), service.name.clone()),
        ]),
    )])
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
