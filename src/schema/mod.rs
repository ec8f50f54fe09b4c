//! The JSON Schema of services.toml, for editors (taplo, Even Better TOML) and other tools.
//!
//! Which keys each table has comes from the manifest reader itself
//! ([`crate::manifest::KEY_TABLES`], the lists it rejects unknown keys with); what each key means
//! (type, allowed values, default, description) comes from [`keys`]. The tests hold the two
//! together: a key the reader accepts without a description here fails them, and so does an
//! allowed value, a default or a range the validator does not accept the same way.
//! The schema is looser than the validator where JSON Schema cannot say it (names declared
//! twice, reads of undeclared schemas): `dbsplit validate` stays the judge.

mod keys;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value, json};

use crate::manifest::KEY_TABLES;
use keys::{Default, KEYS, Key, TABLE_DESCRIPTIONS, Type};

/// The draft the schema is written in: the newest that taplo and VS Code's JSON support read.
pub const DRAFT: &str = "http://json-schema.org/draft-07/schema#";

/// Where `init` writes the schema, next to the manifest, and where the example's directive points.
pub const FILE_NAME: &str = "services.schema.json";

/// The first line of a manifest `init` writes: taplo's directive naming the schema file
/// (relative to the manifest), which Even Better TOML follows to complete and check the file.
pub const DIRECTIVE: &str = "#:schema ./services.schema.json";

/// The `team` and `contact` keys of a service, commented, as `init` and `import` write them
/// under each service: who answers for it, shown with its plan changes and findings and turned
/// into CODEOWNERS lines by `dbsplit codeowners`.
pub const OWNER_COMMENTS: &str = "\
# team = \"@your-org/your-team\"  # who answers for it: @org/team, @user or an email (a CODEOWNERS owner)
# contact = \"#your-oncall\"  # how to reach them: one line of free text, shown with its changes and findings
";

/// The schema as JSON: the top level, with one definition per other table of the manifest.
pub fn schema() -> Value {
    let mut root = table("manifest");
    root.insert("$schema".into(), DRAFT.into());
    root.insert("title".into(), "services.toml".into());
    let definitions: Map<String, Value> = KEY_TABLES
        .iter()
        .filter(|(name, _)| *name != "manifest")
        .map(|(name, _)| (name.to_string(), Value::Object(table(name))))
        .collect();
    root.insert("definitions".into(), Value::Object(definitions));
    Value::Object(root)
}

/// The schema as `dbsplit schema` prints it: pretty JSON and a final newline.
pub fn render() -> String {
    let mut text =
        serde_json::to_string_pretty(&schema()).expect("a serde_json::Value always serializes");
    text.push('\n');
    text
}

/// One table of the manifest as a closed object: exactly the keys the reader accepts.
fn table(name: &str) -> Map<String, Value> {
    let accepted = KEY_TABLES
        .iter()
        .find(|(table, _)| *table == name)
        .map_or(&[][..], |(_, keys)| *keys);
    let mut properties = Map::new();
    let mut required = Vec::new();
    for key_name in accepted {
        // A key without a description still gets a property (so the schema never rejects what
        // the validator accepts); `tests::every_key_the_reader_accepts_is_described` fails.
        let property = match describe(name, key_name) {
            Some(key) => {
                if key.required {
                    required.push(Value::from(*key_name));
                }
                property(key)
            }
            None => json!({}),
        };
        properties.insert(key_name.to_string(), property);
    }
    let mut object = Map::new();
    object.insert("type".into(), "object".into());
    if let Some((_, description)) = TABLE_DESCRIPTIONS.iter().find(|(t, _)| *t == name) {
        object.insert("description".into(), (*description).into());
    }
    object.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        object.insert("required".into(), Value::Array(required));
    }
    object.insert("additionalProperties".into(), false.into());
    object
}

/// The description of `key` in `table`.
fn describe(table: &str, key: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.table == table && k.key == key)
}

fn property(key: &Key) -> Value {
    let mut property = value_type(key.type_)
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut description = key.description.to_string();
    if let Type::OneOf(values) = key.type_ {
        for (value, meaning) in values {
            description.push_str(&format!("\n- `{value}`: {meaning}"));
        }
        property.insert(
            "enumDescriptions".into(),
            values.iter().map(|(_, meaning)| *meaning).collect(),
        );
    }
    property.insert("description".into(), description.into());
    if let Some(default) = key.default {
        let default = match default {
            Default::Text(text) => Value::from(text),
            Default::Integer(number) => Value::from(number),
            Default::Boolean(flag) => Value::from(flag),
        };
        property.insert("default".into(), default);
    }
    Value::Object(property)
}

fn value_type(type_: Type) -> Value {
    match type_ {
        Type::Text { min, max } => match max {
            Some(max) => json!({ "type": "string", "minLength": min, "maxLength": max }),
            None => json!({ "type": "string", "minLength": min }),
        },
        Type::Name => name(),
        Type::EnvName => json!({ "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$" }),
        Type::Integer { min, max } => json!({ "type": "integer", "minimum": min, "maximum": max }),
        Type::Const(value) => json!({ "type": "integer", "const": value }),
        Type::Boolean => json!({ "type": "boolean" }),
        Type::Names => json!({ "type": "array", "items": name() }),
        Type::OneOf(values) => json!({
            "type": "string",
            "enum": values.iter().map(|(value, _)| *value).collect::<Vec<_>>(),
        }),
        // Draft 7 ignores the siblings of a `$ref`, so the description goes next to an allOf.
        Type::Table(definition) => json!({ "allOf": [reference(definition)] }),
        Type::Named(definition) => json!({
            "type": "object",
            "propertyNames": name(),
            "additionalProperties": reference(definition),
        }),
        Type::Tables(definition) => json!({ "type": "array", "items": reference(definition) }),
    }
}

/// A PostgreSQL name: not empty, at most 63 bytes (the schema counts characters, which is
/// looser for names beyond ASCII; the validator counts bytes).
fn name() -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": 63 })
}

fn reference(definition: &str) -> Value {
    json!({ "$ref": format!("#/definitions/{definition}") })
}
