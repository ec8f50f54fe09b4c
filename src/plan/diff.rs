//! The live plan: a pure diff of the desired state against an introspected cluster.
//!
//! Creates what is missing, fixes role attributes, memberships, ownership and search_path, and
//! revokes every privilege in a managed schema that the manifest does not give: to another
//! service's role, to an unmanaged role, to PUBLIC, on columns too. Unmanaged schemas and roles
//! are listed in the notes, never dropped; `prune` drops roles dbsplit created that the manifest
//! no longer names, when nothing depends on them.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::catalog::model::{
    ALL_DATABASES, Acl, ClusterState, Database, DefaultAclKey, DefaultObjects, Grantee, Membership,
    Privilege, Privileges, Role, RoleDependent, RoleMark, Schema, SchemaObject,
};
use crate::desired::{Desired, parse_search_path};
use crate::manifest::{Manifest, PublicSchema};

use super::change::{Action, Change, Existing, Object, Plan, RoleOption, Scope};
use super::scopes::Scopes;

/// What is known of a role's password, worked out by the caller from the environment and the
/// stored verifier (`pg::scram`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordState {
    /// The environment variable is not set.
    Unset,
    /// The environment variable is set to the empty string (no password is sent).
    Empty,
    /// The stored verifier matches the password.
    Matches,
    /// The stored verifier does not match, or there is none.
    Differs,
    /// The stored verifier cannot be read (not a superuser).
    Unknown,
}

/// Options of the diff.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Password state per role that has `password_env`.
    pub passwords: BTreeMap<String, PasswordState>,
    /// Drop roles dbsplit created that the manifest no longer names.
    pub prune: bool,
    /// The server has PostgreSQL 16's membership options (INHERIT, SET per grant): see
    /// `Introspection::membership_options`. Off, plans use the syntax every major knows.
    pub membership_options: bool,
}

/// The changes that bring `live` (its roles and its database `database`) to `desired`, in
/// apply order, with notes on what is left alone. Pure: the live state comes from
/// introspection, or is built by hand (the empty cluster of the offline bootstrap, tests).
pub fn diff(
    manifest: &Manifest,
    desired: &Desired,
    live: &ClusterState,
    database: &str,
    options: &DiffOptions,
) -> Plan {
    let empty = Database::default();
    let live_db = live.databases.get(database).unwrap_or(&empty);
    let mut differ = Differ {
        scopes: Scopes::new(manifest),
        role_scopes: RefCell::new(HashMap::new()),
        desired,
        live,
        options,
        departing: departing(desired, &live.roles),
        auth_removal: auth_removal(desired, live_db, &live.roles),
        changes: Vec::new(),
        notes: Vec::new(),
    };
    differ.roles();
    let drops = differ.leaving();
    differ.database_acl(live_db);
    differ.schemas(live_db);
    differ.auth_lookup(manifest, live_db);
    differ.default_privileges(live_db);
    differ.public_schema(live_db);
    differ.unmanaged(live_db);
    for role in drops {
        let scope = Scope::Database(desired.database.clone());
        differ.push(scope, Action::DropRole { role });
    }
    let mut plan = Plan {
        database: desired.database.clone(),
        changes: differ.changes,
        notes: differ.notes,
    };
    plan.sort();
    plan
}

/// Roles dbsplit created for the desired database (their mark names it, or names no database:
/// marks written before marks named any) that the manifest no longer names. Roles whose mark
/// names only other databases belong to other manifests and are never touched, nor are the
/// roles another target of the fleet plans (`planned_elsewhere`).
fn departing(desired: &Desired, live: &BTreeMap<String, Role>) -> BTreeSet<String> {
    live.iter()
        .filter(|(name, role)| {
            !desired.state.roles.contains_key(*name)
                && !desired.planned_elsewhere.contains(*name)
                && role.mark().is_some_and(|mark| {
                    mark.databases.is_empty() || mark.databases.contains(&desired.database)
                })
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// What the plan removes of PgBouncer's lookup once the manifest no longer asks for it.
#[derive(Debug, Clone, Copy, Default)]
struct AuthRemoval {
    /// The lookup function, and the owner's SELECT on pg_shadow.
    lookup: bool,
    /// Its schema, which holds nothing else.
    schema: bool,
}

/// The lookup dbsplit created (its owner role carries dbsplit's mark) when the desired state
/// has none.
fn auth_removal(
    desired: &Desired,
    live_db: &Database,
    roles: &BTreeMap<String, Role>,
) -> AuthRemoval {
    use crate::pooler::auth_query::{ARGS, FUNCTION, OWNER, SCHEMA};
    let ours = roles.get(OWNER).is_some_and(|r| r.mark().is_some());
    if desired.db().auth_lookup.is_some() || !ours {
        return AuthRemoval::default();
    }
    let function = format!("{FUNCTION}({ARGS})");
    let schema = live_db
        .schemas
        .get(SCHEMA)
        .is_some_and(|s| s.owner == OWNER && s.objects.keys().all(|k| *k == function));
    AuthRemoval {
        lookup: live_db.auth_lookup.is_some() || live_db.shadow_readers.contains(OWNER),
        schema,
    }
}

struct Differ<'a> {
    scopes: Scopes<'a>,
    /// The scope of each role met so far: [`Scopes::of_role`] walks the manifest's services,
    /// which per grant made a cold cluster's diff grow with services x objects.
    role_scopes: RefCell<HashMap<String, Scope>>,
    desired: &'a Desired,
    live: &'a ClusterState,
    options: &'a DiffOptions,
    /// Roles dbsplit created for this database that the manifest no longer names.
    departing: BTreeSet<String>,
    auth_removal: AuthRemoval,
    changes: Vec<Change>,
    notes: Vec<String>,
}

impl Differ<'_> {
    fn push(&mut self, scope: Scope, action: Action) {
        self.changes.push(Change { scope, action });
    }

    fn scope_of_role(&self, role: &str) -> Scope {
        if let Some(scope) = self.role_scopes.borrow().get(role) {
            return scope.clone();
        }
        let scope = self.scopes.of_role(role);
        self.role_scopes
            .borrow_mut()
            .insert(role.to_string(), scope.clone());
        scope
    }

    fn scope_of_grantee(&self, grantee: &Grantee) -> Scope {
        match grantee {
            Grantee::Role(role) => self.scope_of_role(role),
            Grantee::Public => self.scopes.of_grantee(grantee),
        }
    }

    fn live_role(&self, name: &str) -> Option<&Role> {
        self.live.roles.get(name)
    }

    fn roles(&mut self) {
        let desired = self.desired;
        let database = &desired.database;
        let mut grants: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut revokes: BTreeMap<(String, Option<String>), Vec<String>> = BTreeMap::new();
        let cascading = self.cascading();
        for (name, want) in &desired.state.roles {
            let enforced = desired.enforced_roles.contains(name);
            let scope = self.scope_of_role(name);
            let have = self.live_role(name).cloned();
            if desired.planned_elsewhere.contains(name) {
                // A fleet plans a role once per cluster; here only its settings in this database.
                self.search_path(name, want, have.as_ref(), enforced, database, &scope);
                self.application_name(name, want, have.as_ref(), enforced, database, &scope);
                continue;
            }
            match &have {
                None => self.push(
                    scope.clone(),
                    Action::CreateRole {
                        role: name.clone(),
                        attributes: want.attributes.clone(),
                        password_env: None,
                        existing: if enforced {
                            Existing::Alter
                        } else {
                            Existing::Keep
                        },
                    },
                ),
                Some(have) if enforced && have.attributes != want.attributes => self.push(
                    scope.clone(),
                    Action::AlterRole {
                        role: name.clone(),
                        from: have.attributes.clone(),
                        to: want.attributes.clone(),
                    },
                ),
                Some(_) => {}
            }
            self.mark(name, have.as_ref(), &scope);
            if let Some(env) = desired.password_envs.get(name) {
                self.password(name, env, have.is_none(), &scope);
            }
            // Grants made by a role whose ADMIN OPTION goes are revoked with it (CASCADE).
            let held: Vec<Membership> = have
                .as_ref()
                .map(|h| h.memberships.as_slice())
                .unwrap_or_default()
                .iter()
                .filter(|m| match &m.grantor {
                    Some(grantor) => !cascading.contains(&(m.group.clone(), grantor.clone())),
                    None => true,
                })
                .cloned()
                .collect();
            let held = held.as_slice();
            for group in self.memberships(name, want, held, enforced, &scope) {
                grants.entry(group).or_default().push(name.clone());
            }
            if enforced {
                let options = self.options.membership_options;
                for grant in held {
                    if !want.member_of.contains(&grant.group) {
                        let grantor = grant.grantor.clone().filter(|_| options);
                        revokes
                            .entry((grant.group.clone(), grantor))
                            .or_default()
                            .push(name.clone());
                    }
                }
            }
            self.search_path(name, want, have.as_ref(), enforced, database, &scope);
            self.application_name(name, want, have.as_ref(), enforced, database, &scope);
        }
        for (group, members) in grants {
            let scope = if desired.state.roles.contains_key(&group) {
                self.scope_of_role(&group)
            } else {
                self.scope_of_role(&members[0])
            };
            self.push(scope, Action::GrantRole { group, members });
        }
        for ((group, granted_by), mut members) in revokes {
            members.dedup();
            let scope = self.scope_of_role(&members[0]);
            self.push(
                scope,
                Action::RevokeRole {
                    group,
                    members,
                    granted_by,
                },
            );
        }
    }

    /// Records this database in the mark of a role dbsplit creates now or created before
    /// (roles it did not create are never marked).
    fn mark(&mut self, name: &str, have: Option<&Role>, scope: &Scope) {
        let database = &self.desired.database;
        let mut mark = match have {
            None => RoleMark::default(),
            Some(role) => match role.mark() {
                Some(mark) => mark,
                None => return,
            },
        };
        let before = mark.databases.len();
        mark.databases.insert(database.clone());
        let serves = self.desired.serves.get(name).into_iter().flatten();
        mark.databases.extend(serves.cloned());
        if mark.databases.len() != before {
            self.push(
                scope.clone(),
                Action::MarkRole {
                    role: name.to_string(),
                    mark,
                },
            );
        }
    }

    /// On 16 and later: (group, member) for each ADMIN OPTION an enforced role loses, with its
    /// membership or alone. The grants it made of that group are revoked with it (CASCADE), so
    /// they are not planned again; a CREATEROLE admin could not revoke them itself, as it has
    /// not the privileges of their grantor.
    fn cascading(&self) -> BTreeSet<(String, String)> {
        if !self.options.membership_options {
            return BTreeSet::new();
        }
        self.desired
            .enforced_roles
            .iter()
            .filter_map(|name| Some((name, self.live_role(name)?)))
            .flat_map(|(name, role)| {
                role.memberships
                    .iter()
                    .filter(|m| m.admin)
                    .map(move |m| (m.group.clone(), name.clone()))
            })
            .collect()
    }

    /// The memberships `member` must hold: returns the groups to grant from scratch and pushes
    /// the option changes of those it holds. On 16 and later each grant has INHERIT and SET
    /// options (the manifest wants both on, what a plain GRANT gives); everywhere the manifest
    /// gives no ADMIN OPTION, so an enforced role's ADMIN OPTION is revoked, grant by grant.
    fn memberships(
        &mut self,
        member: &str,
        want: &Role,
        held: &[Membership],
        enforced: bool,
        scope: &Scope,
    ) -> Vec<String> {
        let options = self.options.membership_options;
        let mut missing = Vec::new();
        for wanted in &want.memberships {
            let grants: Vec<&Membership> =
                held.iter().filter(|m| m.group == wanted.group).collect();
            if grants.is_empty() {
                missing.push(wanted.group.clone());
                continue;
            }
            if !options {
                continue;
            }
            let inherit = wanted.inherit && !grants.iter().any(|m| m.inherit);
            let set = wanted.set && !grants.iter().any(|m| m.set);
            if inherit || set {
                self.push(
                    scope.clone(),
                    Action::GrantRoleOptions {
                        group: wanted.group.clone(),
                        member: member.to_string(),
                        inherit,
                        set,
                    },
                );
            }
            for grant in &grants {
                for (option, on, allowed) in [
                    (RoleOption::Inherit, grant.inherit, wanted.inherit),
                    (RoleOption::Set, grant.set, wanted.set),
                ] {
                    if on && !allowed {
                        self.revoke_option(option, grant, member, scope);
                    }
                }
            }
        }
        if enforced {
            for grant in held.iter().filter(|m| m.admin) {
                if want.member_of.contains(&grant.group) {
                    self.revoke_option(RoleOption::Admin, grant, member, scope);
                }
            }
        }
        missing
    }

    fn revoke_option(
        &mut self,
        option: RoleOption,
        grant: &Membership,
        member: &str,
        scope: &Scope,
    ) {
        let granted_by = grant
            .grantor
            .clone()
            .filter(|_| self.options.membership_options);
        self.push(
            scope.clone(),
            Action::RevokeRoleOption {
                option,
                group: grant.group.clone(),
                member: member.to_string(),
                granted_by,
            },
        );
    }

    /// Roles that left the manifest lose what dbsplit gave them in this database (CONNECT and
    /// privileges in managed schemas are revoked with the ACLs, below; here search_path and
    /// memberships in the manifest's roles); `--prune` drops them when nothing else depends on
    /// them, and otherwise says what does.
    /// Returns the roles to drop, last, once the plan revoked everything else.
    fn leaving(&mut self) -> Vec<String> {
        let database = self.desired.database.clone();
        let scope = Scope::Database(database.clone());
        let mut drops = Vec::new();
        for name in self.departing.clone() {
            let Some(role) = self.live_role(&name).cloned() else {
                continue;
            };
            let options = self.options.membership_options;
            for grant in &role.memberships {
                if self.desired.state.roles.contains_key(&grant.group) {
                    self.push(
                        scope.clone(),
                        Action::RevokeRole {
                            group: grant.group.clone(),
                            members: vec![name.clone()],
                            granted_by: grant.grantor.clone().filter(|_| options),
                        },
                    );
                }
            }
            let path = role.settings.get(&database);
            if path.is_some_and(|s| s.contains_key(crate::pg::SEARCH_PATH)) {
                self.push(
                    scope.clone(),
                    Action::ResetSearchPath {
                        role: name.clone(),
                        database: Some(database.clone()),
                    },
                );
            }
            if path.is_some_and(|s| s.contains_key("application_name")) {
                self.push(
                    scope.clone(),
                    Action::ApplicationName {
                        role: name.clone(),
                        database: database.clone(),
                        name: None,
                    },
                );
            }
            let blockers: Vec<String> = role
                .dependents
                .iter()
                .filter(|d| !self.clears(d))
                .map(RoleDependent::describe)
                .collect();
            if self.options.prune && blockers.is_empty() {
                drops.push(name);
            } else if self.options.prune {
                self.notes.push(format!(
                    "role {name} is no longer in the manifest but is not dropped: {}",
                    blockers.join("; ")
                ));
            } else {
                self.notes.push(format!(
                    "role {name} was created by dbsplit and is no longer in the manifest; `--prune` drops it"
                ));
            }
        }
        drops
    }

    /// Whether this plan removes a dependency of a departing role: its privileges on this
    /// database, on anything in a managed schema and in global default privileges, what it
    /// owns in a managed schema (ownership goes to the schema's owner), and its default
    /// privileges in this database (reset).
    fn clears(&self, dependent: &RoleDependent) -> bool {
        if dependent.database.as_deref() != Some(self.desired.database.as_str()) {
            return false;
        }
        let removal = self.auth_removal;
        let schema = dependent.schema.as_deref();
        if removal.schema && schema == Some(crate::pooler::auth_query::SCHEMA)
            || removal.lookup
                && schema == Some("pg_catalog")
                && dependent.object.as_deref() == Some("view pg_catalog.pg_shadow")
        {
            return true;
        }
        let managed = dependent
            .schema
            .as_ref()
            .is_some_and(|s| self.desired.db().schemas.contains_key(s));
        let in_schema = ["pg_class", "pg_proc", "pg_type", "pg_namespace"];
        match (dependent.kind.as_str(), dependent.catalog.as_str()) {
            ("a", "pg_database") => true,
            // Its own default privileges are reset; it is removed from global ones and from
            // those of managed schemas.
            ("o", "pg_default_acl") => true,
            ("a", "pg_default_acl") => dependent.schema.is_none() || managed,
            ("a" | "o", catalog) => managed && in_schema.contains(&catalog),
            _ => false,
        }
    }

    fn password(&mut self, role: &str, env: &str, created: bool, scope: &Scope) {
        let state = self
            .options
            .passwords
            .get(role)
            .copied()
            .unwrap_or(PasswordState::Unset);
        let version = self.desired.password_versions.get(role).copied();
        let mark = self.live_role(role).and_then(Role::mark);
        let applied = mark.as_ref().and_then(|m| m.password_version);
        // The version is recorded in dbsplit's mark, which only roles dbsplit creates carry.
        let recordable = created || mark.is_some();
        let send = match state {
            PasswordState::Unset | PasswordState::Empty => {
                let how = if state == PasswordState::Unset {
                    "is not set"
                } else {
                    "is empty"
                };
                self.notes.push(if created {
                    format!("${env} {how}: {role} is created without a password")
                } else {
                    format!("${env} {how}: the password of {role} is left as it is")
                });
                false
            }
            PasswordState::Matches => false,
            PasswordState::Differs => true,
            PasswordState::Unknown if created => true,
            // Without pg_authid, the manifest's password_version decides.
            PasswordState::Unknown => match version {
                Some(_) if !recordable => {
                    self.notes.push(format!(
                        "the stored password of {role} cannot be read (not a superuser), and {role} was not created by dbsplit, so its password_version cannot be recorded: the password is left as it is"
                    ));
                    false
                }
                Some(version) => applied.is_none_or(|a| version > a),
                None => {
                    self.notes.push(format!(
                        "the stored password of {role} cannot be read (not a superuser): it is set only when the role is created, or when its password_version rises"
                    ));
                    false
                }
            },
        };
        if !send {
            return;
        }
        self.push(
            scope.clone(),
            Action::SetPassword {
                role: role.to_string(),
                env: env.to_string(),
            },
        );
        let Some(version) = version.filter(|v| recordable && applied != Some(*v)) else {
            return;
        };
        // One mark per role: the one `mark` planned gets the version too.
        let planned = self
            .changes
            .iter_mut()
            .rev()
            .find_map(|c| match &mut c.action {
                Action::MarkRole { role: r, mark } if r == role => Some(mark),
                _ => None,
            });
        match planned {
            Some(planned) => planned.password_version = Some(version),
            None => {
                let mut mark = mark.unwrap_or_default();
                mark.password_version = Some(version);
                self.push(
                    scope.clone(),
                    Action::MarkRole {
                        role: role.to_string(),
                        mark,
                    },
                );
            }
        }
    }

    fn search_path(
        &mut self,
        name: &str,
        want: &Role,
        have: Option<&Role>,
        enforced: bool,
        database: &str,
        scope: &Scope,
    ) {
        let wanted = want
            .settings
            .get(database)
            .and_then(|s| s.get(crate::pg::SEARCH_PATH))
            .map(|v| parse_search_path(v));
        let current = have
            .and_then(|h| h.settings.get(database))
            .and_then(|s| s.get(crate::pg::SEARCH_PATH))
            .map(|v| parse_search_path(v));
        match (&wanted, &current) {
            (Some(wanted), current) if Some(wanted) != current.as_ref() => self.push(
                scope.clone(),
                Action::SetSearchPath {
                    role: name.to_string(),
                    database: database.to_string(),
                    schemas: wanted.clone(),
                },
            ),
            (None, Some(_)) if enforced => self.push(
                scope.clone(),
                Action::ResetSearchPath {
                    role: name.to_string(),
                    database: Some(database.to_string()),
                },
            ),
            _ => {}
        }
        // A search_path set for all databases applies wherever the per-database one does not.
        let global = have
            .and_then(|h| h.settings.get(ALL_DATABASES))
            .is_some_and(|s| s.contains_key(crate::pg::SEARCH_PATH));
        if enforced && global {
            self.push(
                scope.clone(),
                Action::ResetSearchPath {
                    role: name.to_string(),
                    database: None,
                },
            );
        }
    }

    /// The role's `application_name` in this database: its service's name, like search_path.
    fn application_name(
        &mut self,
        name: &str,
        want: &Role,
        have: Option<&Role>,
        enforced: bool,
        database: &str,
        scope: &Scope,
    ) {
        let setting = |role: &Role| {
            role.settings
                .get(database)
                .and_then(|s| s.get("application_name"))
                .cloned()
        };
        let wanted = setting(want);
        let current = have.and_then(setting);
        let reset = wanted.is_none() && current.is_some() && enforced;
        if (wanted.is_some() && wanted != current) || reset {
            self.push(
                scope.clone(),
                Action::ApplicationName {
                    role: name.to_string(),
                    database: database.to_string(),
                    name: wanted,
                },
            );
        }
    }

    fn schemas(&mut self, live_db: &Database) {
        let desired_db = self.desired.db();
        for (name, want) in &desired_db.schemas {
            let scope = self.scopes.of_schema(name);
            let on = Object::Schema(name.clone());
            let Some(have) = live_db.schemas.get(name) else {
                self.push(
                    scope.clone(),
                    Action::CreateSchema {
                        schema: name.clone(),
                        owner: want.owner.clone(),
                    },
                );
                self.acl(&Acl::new(), &want.acl, None, Some(&want.owner), &on, &scope);
                continue;
            };
            if have.owner != want.owner {
                self.push(
                    scope.clone(),
                    Action::AlterOwner {
                        object: on.clone(),
                        owner: want.owner.clone(),
                    },
                );
            }
            self.acl(
                &have.acl,
                &want.acl,
                Some(&have.owner),
                Some(&want.owner),
                &on,
                &scope,
            );
            let owners = [have.owner.as_str(), want.owner.as_str()];
            self.grant_options(&have.grant_options, &want.acl, owners, &on, &scope);
            self.objects(name, have, want, desired_db, &scope);
        }
    }

    fn objects(
        &mut self,
        schema: &str,
        have: &Schema,
        want: &Schema,
        desired_db: &Database,
        scope: &Scope,
    ) {
        // What an object should carry depends on its kind's default privileges and on
        // whether it is the migration history: worked out once per schema, not per object.
        let mut wanted_acls: BTreeMap<(DefaultObjects, bool), Acl> = BTreeMap::new();
        for object in have.objects.values() {
            let history = object.name == crate::migrations::HISTORY_TABLE && object.args.is_none();
            let wanted = wanted_acls
                .entry((object.kind.default_objects(), history))
                .or_insert_with(|| object_acl(desired_db, schema, &want.owner, object));
            // A linked sequence follows its table: ALTER SEQUENCE ... OWNER would fail.
            let owner = object.owner != want.owner && !object.linked;
            let (grants, revokes) =
                acl_delta(&object.acl, wanted, Some(&object.owner), Some(&want.owner));
            let owners = [object.owner.as_str(), want.owner.as_str()];
            let options = grant_options_kept(&object.grant_options, wanted, owners);
            if !owner
                && grants.is_empty()
                && revokes.is_empty()
                && options.is_empty()
                && object.columns.is_empty()
            {
                // The common case on a converged cluster: nothing to build for it.
                continue;
            }
            let on = Object::InSchema {
                kind: object.kind,
                schema: schema.to_string(),
                name: object.name.clone(),
                args: object.args.clone(),
            };
            if owner {
                self.push(
                    scope.clone(),
                    Action::AlterOwner {
                        object: on.clone(),
                        owner: want.owner.clone(),
                    },
                );
            }
            self.acl_changes(grants, revokes, &on, scope);
            self.grant_option_changes(options, &on, scope);
            for (column, acl) in &object.columns {
                let on = Object::Column {
                    schema: schema.to_string(),
                    table: object.name.clone(),
                    column: column.clone(),
                };
                // The manifest gives no column privileges: every one is revoked.
                self.acl(acl, &Acl::new(), None, None, &on, scope);
            }
        }
    }

    /// Grants what `want` has and `have` lacks, revokes what `have` has beyond `want`, the
    /// owners aside (see [`acl_delta`]): grants one statement per scope of the grantees and
    /// privilege set, revokes one per privilege set.
    fn acl(
        &mut self,
        have: &Acl,
        want: &Acl,
        owner: Option<&str>,
        new_owner: Option<&str>,
        on: &Object,
        scope: &Scope,
    ) {
        let (grants, revokes) = acl_delta(have, want, owner, new_owner);
        self.acl_changes(grants, revokes, on, scope);
    }

    /// The statements of an [`acl_delta`] on `on`.
    fn acl_changes(&mut self, grants: Delta, revokes: Delta, on: &Object, scope: &Scope) {
        for ((grant_scope, privileges), to) in self.group_by_scope(grants) {
            self.push(
                grant_scope,
                Action::Grant {
                    privileges,
                    on: on.clone(),
                    to,
                },
            );
        }
        for (privileges, from) in group_by_privileges(revokes) {
            self.push(
                scope.clone(),
                Action::Revoke {
                    privileges: Some(privileges),
                    on: on.clone(),
                    from,
                },
            );
        }
    }

    /// Grants grouped into one statement per scope of the grantees and privilege set.
    fn group_by_scope(&self, grants: Delta) -> BTreeMap<(Scope, Privileges), Vec<Grantee>> {
        let mut groups: BTreeMap<(Scope, Privileges), Vec<Grantee>> = BTreeMap::new();
        for (grantee, privileges) in grants {
            groups
                .entry((self.scope_of_grantee(&grantee), privileges))
                .or_default()
                .push(grantee);
        }
        groups
    }

    /// The manifest gives no grant option: a grantee that keeps a privilege loses the option
    /// to pass it on. (Privileges it loses altogether take their option with them.)
    fn grant_options(
        &mut self,
        options: &Acl,
        want: &Acl,
        owners: [&str; 2],
        on: &Object,
        scope: &Scope,
    ) {
        let kept = grant_options_kept(options, want, owners);
        self.grant_option_changes(kept, on, scope);
    }

    /// The statements of [`grant_options_kept`] on `on`.
    fn grant_option_changes(&mut self, kept: Delta, on: &Object, scope: &Scope) {
        for (grantee, privileges) in kept {
            self.push(
                scope.clone(),
                Action::RevokeGrantOption {
                    privileges,
                    on: on.clone(),
                    from: vec![grantee],
                },
            );
        }
    }

    /// The database ACL: only the grantees the desired state names (PUBLIC, service roles).
    fn database_acl(&mut self, live_db: &Database) {
        let desired_db = self.desired.db();
        let have: Acl = live_db
            .acl
            .iter()
            .filter(|(g, _)| {
                desired_db.acl.contains_key(*g)
                    || g.role().is_some_and(|r| self.departing.contains(r))
            })
            .map(|(g, p)| (g.clone(), p.clone()))
            .collect();
        let on = Object::Database(self.desired.database.clone());
        let scope = Scope::Database(self.desired.database.clone());
        self.acl(&have, &desired_db.acl, None, None, &on, &scope);
        if desired_db.acl.contains_key(&Grantee::Public) {
            self.cut_off(live_db);
        }
    }

    /// With CONNECT taken from PUBLIC, the login roles outside the manifest that hold it no
    /// other way (monitoring, backups, an auditor, the admin running dbsplit) can no longer
    /// connect: named in a note, so nobody learns it from an outage.
    fn cut_off(&mut self, live_db: &Database) {
        let connects = |role: &str| {
            live_db
                .acl
                .get(&Grantee::Role(role.to_string()))
                .is_some_and(|p| p.contains(&Privilege::Connect))
        };
        let roles = &self.live.roles;
        let cut: Vec<&str> = roles
            .iter()
            .filter(|(name, role)| {
                role.attributes.login
                    && !role.attributes.superuser
                    && !self.desired.state.roles.contains_key(*name)
                    && !self.departing.contains(*name)
                    && !connects(name)
                    && !role.member_of.iter().any(|group| connects(group))
            })
            .map(|(name, _)| name.as_str())
            .collect();
        if !cut.is_empty() {
            let public_connects = live_db
                .acl
                .get(&Grantee::Public)
                .is_some_and(|p| p.contains(&Privilege::Connect));
            self.notes.push(format!(
                "revoke_public_connect: {} login role{} outside the manifest {} connect to database {}: {}; grant {} CONNECT or declare {} as an observer with login = true",
                cut.len(),
                crate::text::plural(cut.len()),
                if public_connects { "will no longer" } else { "cannot" },
                self.desired.database,
                cut.join(", "),
                if cut.len() == 1 { "it" } else { "them" },
                if cut.len() == 1 { "it" } else { "each" },
            ));
        }
    }

    /// Default privileges: those the manifest wants for its owners, the removal of any other
    /// default grant that reaches into a managed schema or comes from a managed owner, and the
    /// removal of a service role from anyone's global default privileges (`FOR ROLE postgres
    /// GRANT ... ON TABLES TO billing_rw` reaches every schema, the other services' included).
    fn default_privileges(&mut self, live_db: &Database) {
        let desired_db = self.desired.db();
        let enforced = &self.desired.enforced_roles;
        let departing = &self.departing.clone();
        let managed_schema = |schema: &Option<String>| {
            schema
                .as_ref()
                .is_some_and(|s| desired_db.schemas.contains_key(s))
        };
        let service_role = |g: &Grantee| {
            g.role()
                .is_some_and(|r| enforced.contains(r) || departing.contains(r))
        };
        // Keys dbsplit manages whole, and others where it only judges the service roles.
        let whole = |k: &DefaultAclKey| {
            managed_schema(&k.schema) || enforced.contains(&k.owner) || departing.contains(&k.owner)
        };
        let mut keys: BTreeSet<&DefaultAclKey> = desired_db.default_acls.keys().collect();
        keys.extend(live_db.default_acls.iter().filter_map(|(k, acl)| {
            let names_service_role = k.schema.is_none() && acl.keys().any(service_role);
            (whole(k) || names_service_role).then_some(k)
        }));
        let empty = Acl::new();
        for key in keys {
            // A departing role's own defaults go back to PostgreSQL's (the entry disappears).
            let mut want = match desired_db.default_acls.get(key) {
                Some(acl) => acl.clone(),
                None if key.schema.is_none() && departing.contains(&key.owner) => {
                    builtin_default_acl(key.objects)
                }
                None => empty.clone(),
            };
            let mut have = match live_db.default_acls.get(key) {
                Some(acl) => acl.clone(),
                None if key.schema.is_none() => builtin_default_acl(key.objects),
                None => Acl::new(),
            };
            if !whole(key) {
                have.retain(|g, _| service_role(g));
                want.retain(|g, _| service_role(g));
            }
            let (grants, revokes) = acl_delta(&have, &want, Some(&key.owner), Some(&key.owner));
            for ((scope, privileges), grantees) in self.group_by_scope(grants) {
                self.push(scope, default_privileges(key, true, privileges, grantees));
            }
            for (privileges, grantees) in group_by_privileges(revokes) {
                let scope = if whole(key) {
                    self.scope_of_role(&key.owner)
                } else {
                    self.scope_of_grantee(&grantees[0])
                };
                self.push(scope, default_privileges(key, false, privileges, grantees));
            }
        }
    }

    fn public_schema(&mut self, live_db: &Database) {
        let Some(public) = live_db.schemas.get(crate::pg::PUBLIC_SCHEMA) else {
            return;
        };
        let scope = Scope::Database(self.desired.database.clone());
        match self.desired.public_schema {
            PublicSchema::Lockdown => {
                let managed = |g: &Grantee| match g {
                    Grantee::Public => true,
                    Grantee::Role(r) => self.desired.state.roles.contains_key(r),
                };
                let from: Vec<Grantee> = public
                    .acl
                    .iter()
                    .filter(|(g, p)| managed(g) && p.contains(&Privilege::Create))
                    .map(|(g, _)| g.clone())
                    .collect();
                if !from.is_empty() {
                    self.push(
                        scope,
                        Action::Revoke {
                            privileges: Some([Privilege::Create].into()),
                            on: Object::Schema(crate::pg::PUBLIC_SCHEMA.into()),
                            from,
                        },
                    );
                }
            }
            PublicSchema::Drop if public.objects.is_empty() => self.push(
                scope,
                Action::DropSchema {
                    schema: crate::pg::PUBLIC_SCHEMA.into(),
                },
            ),
            PublicSchema::Drop => self.notes.push(format!(
                "schema public holds {} objects: not dropped (public_schema = \"drop\" drops it only when empty)",
                public.objects.len()
            )),
            PublicSchema::Unmanaged => {}
        }
    }

    /// PgBouncer's lookup function (`[pooler] auth = "auth_query"`): created or replaced when
    /// missing or different, or when its owner cannot read pg_shadow; the rest (schema, roles,
    /// the function's owner and ACL) is planned like any managed schema's. Dropped, with its
    /// schema when that holds nothing else, when the manifest no longer asks for it.
    fn auth_lookup(&mut self, manifest: &Manifest, live_db: &Database) {
        use crate::pooler::auth_query::{AUTH_USER, OWNER, SCHEMA, lookup_roles};
        let scope = Scope::Database(self.desired.database.clone());
        if let Some(want) = &self.desired.db().auth_lookup {
            let current = live_db.auth_lookup.as_ref() == Some(want);
            if !current || !live_db.shadow_readers.contains(OWNER) {
                let action = Action::AuthLookup {
                    owner: OWNER.to_string(),
                    auth_user: AUTH_USER.to_string(),
                    roles: lookup_roles(manifest).unwrap_or_default(),
                };
                self.push(scope, action);
            }
            return;
        }
        if self.auth_removal.lookup {
            let action = Action::DropAuthLookup {
                owner: OWNER.to_string(),
            };
            self.push(scope.clone(), action);
        }
        if self.auth_removal.schema {
            let schema = SCHEMA.to_string();
            self.push(scope, Action::DropSchema { schema });
        }
    }

    fn unmanaged(&mut self, live_db: &Database) {
        let desired_db = self.desired.db();
        for name in live_db.schemas.keys() {
            if self.auth_removal.schema && name == crate::pooler::auth_query::SCHEMA {
                continue;
            }
            if name != crate::pg::PUBLIC_SCHEMA && !desired_db.schemas.contains_key(name) {
                self.notes
                    .push(format!("schema {name} is not in the manifest: left alone"));
            }
        }
        // Roles outside the manifest: listed, never changed (their privileges in managed
        // schemas are revoked above). Built-in roles, those dbsplit created (they have a note
        // of their own) and the fleet's roles of the cluster's other databases are left out.
        let others: Vec<&str> = self
            .live
            .roles
            .iter()
            .filter(|(name, _)| {
                !name.starts_with("pg_")
                    && !self.desired.state.roles.contains_key(*name)
                    && !self.desired.planned_elsewhere.contains(*name)
                    && !self.departing.contains(*name)
            })
            .map(|(name, _)| name.as_str())
            .collect();
        if !others.is_empty() {
            const SHOWN: usize = 20;
            let mut list = others
                .iter()
                .take(SHOWN)
                .copied()
                .collect::<Vec<_>>()
                .join(", ");
            if others.len() > SHOWN {
                list.push_str(&format!(" and {} more", others.len() - SHOWN));
            }
            self.notes.push(format!(
                "{} role{} not in the manifest, left alone: {list}",
                others.len(),
                crate::text::plural(others.len())
            ));
        }
    }
}

/// What each object in a managed schema should carry: what the schema owner's default
/// privileges give new objects of its kind (the migration history table aside). Types keep
/// PUBLIC's USAGE, PostgreSQL's default, because columns and casts of the service's own roles
/// need it.
pub fn object_acl(desired_db: &Database, schema: &str, owner: &str, object: &SchemaObject) -> Acl {
    let kind = object.kind;
    // The migration history is the owner's alone: an application role that could write it
    // could hide or replay migrations.
    if object.name == crate::migrations::HISTORY_TABLE && object.args.is_none() {
        return Acl::new();
    }
    let key = DefaultAclKey {
        owner: owner.to_string(),
        schema: Some(schema.to_string()),
        objects: kind.default_objects(),
    };
    let mut acl = desired_db
        .default_acls
        .get(&key)
        .cloned()
        .unwrap_or_default();
    acl.retain(|_, privileges| !privileges.is_empty());
    if kind.default_objects() == DefaultObjects::Types {
        acl.insert(Grantee::Public, [Privilege::Usage].into());
    }
    acl
}

/// The default privileges PostgreSQL applies when a role has no global `pg_default_acl` entry
/// (`acldefault`): PUBLIC may execute new functions and use new types.
fn builtin_default_acl(objects: DefaultObjects) -> Acl {
    match objects {
        DefaultObjects::Functions => Acl::from([(Grantee::Public, [Privilege::Execute].into())]),
        DefaultObjects::Types => Acl::from([(Grantee::Public, [Privilege::Usage].into())]),
        DefaultObjects::Tables | DefaultObjects::Sequences => Acl::new(),
    }
}

/// Per grantee, privileges to grant or to revoke.
type Delta = Vec<(Grantee, Privileges)>;

/// Per grantee: privileges to grant and to revoke. The owners hold everything implicitly:
/// `owner` (the current one) and `new_owner` are not judged, and since ALTER ... OWNER hands
/// the current owner's entry to the new one, the current owner counts as holding nothing.
/// Allocates nothing when there is nothing to change.
fn acl_delta(
    have: &Acl,
    want: &Acl,
    owner: Option<&str>,
    new_owner: Option<&str>,
) -> (Delta, Delta) {
    let none = Privileges::new();
    let owned =
        |g: &Grantee, owners: &[Option<&str>]| g.role().is_some_and(|r| owners.contains(&Some(r)));
    let held = |g: &Grantee| match have.get(g) {
        Some(held) if !owned(g, &[owner, new_owner]) => held,
        _ => &none,
    };
    let grants = want
        .iter()
        .filter(|(g, _)| !owned(g, &[new_owner]))
        .filter_map(|(g, wanted)| {
            let missing: Privileges = wanted.difference(held(g)).copied().collect();
            (!missing.is_empty()).then(|| (g.clone(), missing))
        })
        .collect();
    let revokes = have
        .iter()
        .filter(|(g, _)| !owned(g, &[owner, new_owner]))
        .filter_map(|(g, held)| {
            let extra: Privileges = held
                .difference(want.get(g).unwrap_or(&none))
                .copied()
                .collect();
            (!extra.is_empty()).then(|| (g.clone(), extra))
        })
        .collect();
    (grants, revokes)
}

/// Per grantee other than `owners`, the privileges it keeps in `want` and holds WITH GRANT
/// OPTION in `options`: the options to revoke.
fn grant_options_kept(options: &Acl, want: &Acl, owners: [&str; 2]) -> Delta {
    let none = Privileges::new();
    options
        .iter()
        .filter(|(grantee, _)| !grantee.role().is_some_and(|r| owners.contains(&r)))
        .filter_map(|(grantee, grantable)| {
            let kept: Privileges = grantable
                .intersection(want.get(grantee).unwrap_or(&none))
                .copied()
                .collect();
            (!kept.is_empty()).then(|| (grantee.clone(), kept))
        })
        .collect()
}

fn group_by_privileges(delta: Delta) -> BTreeMap<Privileges, Vec<Grantee>> {
    let mut groups: BTreeMap<Privileges, Vec<Grantee>> = BTreeMap::new();
    for (grantee, privileges) in delta {
        groups.entry(privileges).or_default().push(grantee);
    }
    groups
}

fn default_privileges(
    key: &DefaultAclKey,
    grant: bool,
    privileges: Privileges,
    grantees: Vec<Grantee>,
) -> Action {
    Action::DefaultPrivileges {
        owner: key.owner.clone(),
        schema: key.schema.clone(),
        objects: key.objects,
        grant,
        privileges: Some(privileges),
        grantees,
    }
}
