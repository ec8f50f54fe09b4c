//! A small builder of hand-made clusters for the rules' unit tests: no database.

use std::collections::BTreeMap;

use crate::catalog::model::{
    Acl, ClusterState, Database, DefaultAclKey, DefaultObjects, Dependency, ForeignKey, Grantee,
    ObjectKind, Privilege, Role, RoleAttributes, Schema, SchemaObject,
};
use crate::finding::Finding;

use super::{Report, Services, audit};

/// The database every built cluster has.
pub const DB: &str = "app";

/// A cluster under construction: database `app`, schema `public` owned by the superuser
/// `postgres`.
pub struct Cluster {
    pub state: ClusterState,
}

impl Default for Cluster {
    fn default() -> Self {
        Self::new()
    }
}

impl Cluster {
    pub fn new() -> Self {
        let mut cluster = Cluster {
            state: ClusterState::default(),
        };
        cluster
            .state
            .databases
            .insert(DB.into(), Database::default());
        cluster = cluster.role_with("postgres", |r| r.attributes.superuser = true);
        cluster.schema("public", "postgres")
    }

    pub fn db(&mut self) -> &mut Database {
        self.state
            .databases
            .get_mut(DB)
            .expect("the database exists")
    }

    /// A NOLOGIN role that inherits, unless it exists already.
    pub fn role(self, name: &str) -> Self {
        self.role_with(name, |_| {})
    }

    pub fn role_with(mut self, name: &str, change: impl FnOnce(&mut Role)) -> Self {
        let role = self.state.roles.entry(name.into()).or_insert_with(|| Role {
            attributes: RoleAttributes::unprivileged(false, None),
            ..Role::default()
        });
        change(role);
        self
    }

    /// `GRANT group TO member`, creating both roles when missing.
    pub fn member(self, member: &str, group: &str) -> Self {
        self.role(group)
            .role_with(member, |r| _ = r.member_of.insert(group.into()))
    }

    /// A schema and its owner role.
    pub fn schema(mut self, name: &str, owner: &str) -> Self {
        self = self.role(owner);
        self.db().schemas.insert(
            name.into(),
            Schema {
                owner: owner.into(),
                acl: Acl::new(),
                grant_options: Acl::new(),
                objects: BTreeMap::new(),
            },
        );
        self
    }

    /// An object `schema.name` (routines: `schema.f(args)`) owned by the schema's owner.
    pub fn object(mut self, kind: ObjectKind, qualified: &str) -> Self {
        let (schema, key) = split(qualified);
        let (name, args) = match key.split_once('(') {
            Some((name, args)) => (name.to_string(), Some(args.trim_end_matches(')').into())),
            None => (key.to_string(), None),
        };
        let schema = self
            .db()
            .schemas
            .get_mut(schema)
            .expect("the schema exists");
        let object = SchemaObject {
            kind,
            name,
            args,
            owner: schema.owner.clone(),
            acl: Acl::new(),
            grant_options: Acl::new(),
            columns: BTreeMap::new(),
            linked: false,
        };
        schema.objects.insert(key.into(), object);
        self
    }

    pub fn table(self, qualified: &str) -> Self {
        self.object(ObjectKind::Table, qualified)
    }

    pub fn owned_by(mut self, qualified: &str, owner: &str) -> Self {
        self = self.role(owner);
        self.object_mut(qualified).owner = owner.into();
        self
    }

    pub fn object_mut(&mut self, qualified: &str) -> &mut SchemaObject {
        let (schema, key) = split(qualified);
        self.db()
            .schemas
            .get_mut(schema)
            .and_then(|s| s.objects.get_mut(key))
            .expect("the object exists")
    }

    /// `GRANT privileges ON schema.object TO grantee` (`grantee` "PUBLIC" for PUBLIC); a name
    /// without a dot is a schema.
    pub fn grant(mut self, privileges: &[Privilege], on: &str, grantee: &str) -> Self {
        let grantee = if grantee == "PUBLIC" {
            Grantee::Public
        } else {
            self = self.role(grantee);
            Grantee::Role(grantee.into())
        };
        let acl = if on.contains('.') {
            &mut self.object_mut(on).acl
        } else {
            &mut self
                .db()
                .schemas
                .get_mut(on)
                .expect("the schema exists")
                .acl
        };
        acl.entry(grantee)
            .or_default()
            .extend(privileges.iter().copied());
        self
    }

    /// `ALTER DEFAULT PRIVILEGES FOR ROLE owner [IN SCHEMA schema] GRANT ... ON objects TO grantee`.
    pub fn default_grant(
        mut self,
        owner: &str,
        schema: Option<&str>,
        objects: DefaultObjects,
        privileges: &[Privilege],
        grantee: &str,
    ) -> Self {
        let key = DefaultAclKey {
            owner: owner.into(),
            schema: schema.map(Into::into),
            objects,
        };
        self.db()
            .default_acls
            .entry(key)
            .or_default()
            .entry(Grantee::Role(grantee.into()))
            .or_default()
            .extend(privileges.iter().copied());
        self
    }

    pub fn foreign_key(mut self, from: &str, to: &str) -> Self {
        let ((schema, table), (target_schema, target_table)) = (split(from), split(to));
        let fk = ForeignKey {
            schema: schema.into(),
            table: table.into(),
            name: format!("{table}_fkey"),
            target_schema: target_schema.into(),
            target_table: target_table.into(),
        };
        self.db().foreign_keys.push(fk);
        self
    }

    /// A `pg_depend` edge of `how` from `from` to `to`, both `schema.object`.
    pub fn depends(mut self, from: &str, how: &str, to: &str) -> Self {
        let ((schema, object), (target_schema, target_object)) = (split(from), split(to));
        let dep = Dependency {
            schema: schema.into(),
            object: object.into(),
            how: how.into(),
            target_schema: target_schema.into(),
            target_object: target_object.into(),
        };
        self.db().dependencies.push(dep);
        self
    }

    /// The audit with inferred services.
    pub fn audit_inferred(&self) -> Report {
        let services = Services::infer(&self.state, &self.state.databases[DB]);
        audit(&self.state, DB, &services, None)
    }

    /// The audit with the given services.
    pub fn audit(&self, services: &Services) -> Report {
        audit(&self.state, DB, services, None)
    }
}

fn split(qualified: &str) -> (&str, &str) {
    qualified.split_once('.').expect("a qualified name")
}

/// The findings of one rule as `object | schema -> target | role` lines.
pub fn lines(report: &Report, rule: &str) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.rule.as_str() == rule)
        .map(line)
        .collect()
}

pub fn line(f: &Finding) -> String {
    format!(
        "{} | {} -> {} | {}",
        crate::report::findings::location(&f.location),
        f.schema.as_deref().unwrap_or("-"),
        f.target_schema.as_deref().unwrap_or("-"),
        f.role.as_deref().unwrap_or("-")
    )
}

/// Services as a manifest would declare them: `(service, schema, owner, roles)`.
pub fn declared(services: &[(&str, &str, &str, &[&str])]) -> Services {
    let mut out = Services::default();
    for (service, schema, owner, roles) in services {
        out.schema_service
            .insert((*schema).into(), (*service).into());
        out.owners.insert((*service).into(), (*owner).into());
        out.role_service.insert((*owner).into(), (*service).into());
        for role in *roles {
            out.role_service.insert((*role).into(), (*service).into());
        }
    }
    out
}
