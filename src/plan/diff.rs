//! The live plan: a pure diff of the desired state against an introspected cluster.
//!
//! Creates what is missing, fixes role attributes, memberships, ownership and search_path, and
//! revokes every privilege in a managed schema that the manifest does not give: to another
//! service's role, to an unmanaged role, to PUBLIC, on columns too. Unmanaged schemas and roles
//! are listed in the notes, never dropped; `prune` drops roles dbsplit created that the manifest
//! no longer names, when nothing depends on them.

use std::collections::{BTreeMap, BTreeSet};

use crate::catalog::introspect::Introspection;
use crate::catalog::model::{
    Acl, Database, DefaultAclKey, DefaultObjects, Grantee, Privilege, Privileges, Role, Schema,
    SchemaObject,
};
use crate::desired::{Desired, parse_search_path};
use crate::manifest::{Manifest, PublicSchema};

use super::change::{Action, Change, Existing, Object, Plan, Scope};
use super::scopes::Scopes;

/// What is known of a role's password, worked out by the caller from the environment and the
/// stored verifier (`pg::scram`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordState {
    /// The environment variable is not set.
    Unset,
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
}

/// The changes that bring `live` to `desired`, in apply order, with notes on what is left alone.
pub fn diff(
    manifest: &Manifest,
    desired: &Desired,
    live: &Introspection,
    options: &DiffOptions,
) -> Plan {
    let mut differ = Differ {
        scopes: Scopes::new(manifest),
        desired,
        live,
        options,
        changes: Vec::new(),
        notes: Vec::new(),
    };
    let empty = Database::default();
    let live_db = live.state.databases.get(&live.database).unwrap_or(&empty);
    differ.roles();
    differ.schemas(live_db);
    differ.database_acl(live_db);
    differ.default_privileges(live_db);
    differ.public_schema(live_db);
    differ.unmanaged(live_db);
    let mut plan = Plan {
        database: desired.database.clone(),
        changes: differ.changes,
        notes: differ.notes,
    };
    plan.sort();
    plan
}

struct Differ<'a> {
    scopes: Scopes<'a>,
    desired: &'a Desired,
    live: &'a Introspection,
    options: &'a DiffOptions,
    changes: Vec<Change>,
    notes: Vec<String>,
}

impl Differ<'_> {
    fn push(&mut self, scope: Scope, action: Action) {
        self.changes.push(Change { scope, action });
    }

    fn live_role(&self, name: &str) -> Option<&Role> {
        self.live.state.roles.get(name)
    }

    fn roles(&mut self) {
        let desired = self.desired;
        let database = &desired.database;
        let mut grants: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut revokes: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, want) in &desired.state.roles {
            let enforced = desired.enforced_roles.contains(name);
            let scope = self.scopes.of_role(name);
            let have = self.live_role(name).cloned();
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
            if let Some(env) = desired.password_envs.get(name) {
                self.password(name, env, have.is_none(), &scope);
            }
            let have_groups = have
                .as_ref()
                .map(|h| h.member_of.clone())
                .unwrap_or_default();
            for group in want.member_of.difference(&have_groups) {
                grants.entry(group.clone()).or_default().push(name.clone());
            }
            if enforced {
                for group in have_groups.difference(&want.member_of) {
                    revokes.entry(group.clone()).or_default().push(name.clone());
                }
            }
            self.search_path(name, want, have.as_ref(), enforced, database, &scope);
        }
        for (group, members) in grants {
            self.push(
                self.scopes.of_role(&group),
                Action::GrantRole { group, members },
            );
        }
        for (group, members) in revokes {
            let scope = self.scopes.of_role(&members[0]);
            self.push(scope, Action::RevokeRole { group, members });
        }
        if let Some(prunable) = self.prunable() {
            for (name, role) in prunable {
                if self.options.prune && !role.has_dependents {
                    self.push(
                        Scope::Database(database.clone()),
                        Action::DropRole { role: name },
                    );
                } else if self.options.prune {
                    self.notes.push(format!(
                        "role {name} is no longer in the manifest but still owns objects or holds privileges; not dropped"
                    ));
                } else {
                    self.notes.push(format!(
                        "role {name} was created by dbsplit and is no longer in the manifest; `--prune` drops it"
                    ));
                }
            }
        }
    }

    /// Roles dbsplit created (by their comment) that the manifest no longer names.
    fn prunable(&self) -> Option<Vec<(String, Role)>> {
        let roles: Vec<(String, Role)> = self
            .live
            .state
            .roles
            .iter()
            .filter(|(name, role)| {
                role.mark().is_some() && !self.desired.state.roles.contains_key(*name)
            })
            .map(|(name, role)| (name.clone(), role.clone()))
            .collect();
        (!roles.is_empty()).then_some(roles)
    }

    fn password(&mut self, role: &str, env: &str, created: bool, scope: &Scope) {
        let state = self
            .options
            .passwords
            .get(role)
            .copied()
            .unwrap_or(PasswordState::Unset);
        match state {
            PasswordState::Unset => self.notes.push(format!(
                "${env} is not set: the password of {role} is left as it is"
            )),
            PasswordState::Matches => {}
            PasswordState::Unknown if !created => self.notes.push(format!(
                "the stored password of {role} cannot be read (not a superuser): it is set only when the role is created"
            )),
            PasswordState::Differs | PasswordState::Unknown => self.push(
                scope.clone(),
                Action::SetPassword {
                    role: role.to_string(),
                    env: env.to_string(),
                },
            ),
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
            .and_then(|s| s.get("search_path"))
            .map(|v| parse_search_path(v));
        let current = have
            .and_then(|h| h.settings.get(database))
            .and_then(|s| s.get("search_path"))
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
            .and_then(|h| h.settings.get(""))
            .is_some_and(|s| s.contains_key("search_path"));
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
        for object in have.objects.values() {
            let on = Object::InSchema {
                kind: object.kind,
                schema: schema.to_string(),
                name: object.name.clone(),
                args: object.args.clone(),
            };
            // A linked sequence follows its table: ALTER SEQUENCE ... OWNER would fail.
            if object.owner != want.owner && !object.linked {
                self.push(
                    scope.clone(),
                    Action::AlterOwner {
                        object: on.clone(),
                        owner: want.owner.clone(),
                    },
                );
            }
            let wanted = object_acl(desired_db, schema, &want.owner, object);
            self.acl(
                &object.acl,
                &wanted,
                Some(&object.owner),
                Some(&want.owner),
                &on,
                scope,
            );
            let owners = [object.owner.as_str(), want.owner.as_str()];
            self.grant_options(&object.grant_options, &wanted, owners, &on, scope);
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
        let mut groups: BTreeMap<(Scope, Privileges), Vec<Grantee>> = BTreeMap::new();
        for (grantee, privileges) in grants {
            groups
                .entry((self.scopes.of_grantee(&grantee), privileges))
                .or_default()
                .push(grantee);
        }
        for ((grant_scope, privileges), to) in groups {
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
        let none = Privileges::new();
        for (grantee, grantable) in options {
            if grantee.role().is_some_and(|r| owners.contains(&r)) {
                continue;
            }
            let kept: Privileges = grantable
                .intersection(want.get(grantee).unwrap_or(&none))
                .copied()
                .collect();
            if !kept.is_empty() {
                self.push(
                    scope.clone(),
                    Action::RevokeGrantOption {
                        privileges: kept,
                        on: on.clone(),
                        from: vec![grantee.clone()],
                    },
                );
            }
        }
    }

    /// The database ACL: only the grantees the desired state names (PUBLIC, service roles).
    fn database_acl(&mut self, live_db: &Database) {
        let desired_db = self.desired.db();
        let have: Acl = live_db
            .acl
            .iter()
            .filter(|(g, _)| desired_db.acl.contains_key(*g))
            .map(|(g, p)| (g.clone(), p.clone()))
            .collect();
        let on = Object::Database(self.desired.database.clone());
        let scope = Scope::Database(self.desired.database.clone());
        self.acl(&have, &desired_db.acl, None, None, &on, &scope);
    }

    /// Default privileges: those the manifest wants for its owners, and the removal of any other
    /// default grant that reaches into a managed schema or comes from a managed owner.
    fn default_privileges(&mut self, live_db: &Database) {
        let desired_db = self.desired.db();
        let managed_schema = |schema: &Option<String>| {
            schema
                .as_ref()
                .is_some_and(|s| desired_db.schemas.contains_key(s))
        };
        let mut keys: BTreeSet<&DefaultAclKey> = desired_db.default_acls.keys().collect();
        keys.extend(live_db.default_acls.keys().filter(|k| {
            managed_schema(&k.schema) || self.desired.enforced_roles.contains(&k.owner)
        }));
        let empty = Acl::new();
        for key in keys {
            let want = desired_db.default_acls.get(key).unwrap_or(&empty);
            let have = match live_db.default_acls.get(key) {
                Some(acl) => acl.clone(),
                None if key.schema.is_none() => builtin_default_acl(key.objects),
                None => Acl::new(),
            };
            let (grants, revokes) = acl_delta(&have, want, Some(&key.owner), Some(&key.owner));
            let scope = self.scopes.of_role(&key.owner);
            for (privileges, grantees) in group_by_privileges(grants) {
                self.push(
                    self.scopes.of_grantee(&grantees[0]),
                    default_privileges(key, true, privileges, grantees),
                );
            }
            for (privileges, grantees) in group_by_privileges(revokes) {
                self.push(
                    scope.clone(),
                    default_privileges(key, false, privileges, grantees),
                );
            }
        }
    }

    fn public_schema(&mut self, live_db: &Database) {
        let Some(public) = live_db.schemas.get("public") else {
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
                            on: Object::Schema("public".into()),
                            from,
                        },
                    );
                }
            }
            PublicSchema::Drop if public.objects.is_empty() => self.push(
                scope,
                Action::DropSchema {
                    schema: "public".into(),
                },
            ),
            PublicSchema::Drop => self.notes.push(format!(
                "schema public holds {} objects: not dropped (public_schema = \"drop\" drops it only when empty)",
                public.objects.len()
            )),
            PublicSchema::Unmanaged => {}
        }
    }

    fn unmanaged(&mut self, live_db: &Database) {
        let desired_db = self.desired.db();
        for name in live_db.schemas.keys() {
            if name != "public" && !desired_db.schemas.contains_key(name) {
                self.notes
                    .push(format!("schema {name} is not in the manifest: left alone"));
            }
        }
        // Roles outside the manifest: listed, never changed (their privileges in managed
        // schemas are revoked above). Built-in roles and those dbsplit created, which have a
        // note of their own, are left out.
        let others: Vec<&str> = self
            .live
            .state
            .roles
            .iter()
            .filter(|(name, role)| {
                !name.starts_with("pg_")
                    && !self.desired.state.roles.contains_key(*name)
                    && role.mark().is_none()
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
                if others.len() == 1 { "" } else { "s" }
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
fn acl_delta(
    have: &Acl,
    want: &Acl,
    owner: Option<&str>,
    new_owner: Option<&str>,
) -> (Delta, Delta) {
    let none = Privileges::new();
    let owned =
        |g: &Grantee, owners: &[Option<&str>]| g.role().is_some_and(|r| owners.contains(&Some(r)));
    let have: Acl = have
        .iter()
        .filter(|(g, _)| !owned(g, &[owner, new_owner]))
        .map(|(g, p)| (g.clone(), p.clone()))
        .collect();
    let grants = want
        .iter()
        .filter(|(g, _)| !owned(g, &[new_owner]))
        .map(|(g, wanted)| {
            let missing = wanted
                .difference(have.get(g).unwrap_or(&none))
                .copied()
                .collect();
            (g.clone(), missing)
        })
        .filter(|(_, p): &(Grantee, Privileges)| !p.is_empty())
        .collect();
    let revokes = have
        .iter()
        .map(|(g, held)| {
            let extra = held
                .difference(want.get(g).unwrap_or(&none))
                .copied()
                .collect();
            (g.clone(), extra)
        })
        .filter(|(_, p): &(Grantee, Privileges)| !p.is_empty())
        .collect();
    (grants, revokes)
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
