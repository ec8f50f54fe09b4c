//! SARIF 2.1.0 (https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html) as plain serde
//! structs, as cargo-deny writes it: one run, every rule of the rule table in the driver, one
//! result per finding. GitHub code scanning reads this.

use std::io::{self, Write};

use serde::Serialize;

use crate::finding::{Finding, Location, RULES, Severity};

#[derive(Serialize)]
struct Log {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: Vec<Run>,
}

#[derive(Serialize)]
struct Run {
    tool: Tool,
    results: Vec<SarifResult>,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    version: &'static str,
    rules: Vec<ReportingDescriptor>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportingDescriptor {
    id: &'static str,
    short_description: Message,
    default_configuration: Configuration,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct Message {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: &'static str,
    rule_index: usize,
    level: &'static str,
    message: Message,
    locations: Vec<SarifLocation>,
    /// The service's team and contact, when the manifest names them; the fleet target.
    #[serde(skip_serializing_if = "Option::is_none")]
    properties: Option<OwnerProperties>,
}

#[derive(Serialize)]
struct OwnerProperties {
    #[serde(skip_serializing_if = "Option::is_none")]
    team: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact: Option<String>,
    /// The fleet target (audit of a fleet manifest); no database for a cluster-wide finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifLocation {
    #[serde(skip_serializing_if = "Option::is_none")]
    physical_location: Option<PhysicalLocation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    logical_locations: Vec<LogicalLocation>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    region: Region,
}

#[derive(Serialize)]
struct ArtifactLocation {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: usize,
    start_column: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogicalLocation {
    fully_qualified_name: String,
}

/// SARIF's `level`: its own vocabulary (error, warning, note), not our severity words.
fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// Writes a SARIF 2.1.0 log of `findings`.
pub fn sarif(findings: &[Finding], out: &mut impl Write) -> io::Result<()> {
    let rules = RULES
        .iter()
        .map(|rule| ReportingDescriptor {
            id: rule.name,
            short_description: Message {
                text: rule.description.to_string(),
            },
            default_configuration: Configuration {
                level: level(rule.severity),
            },
        })
        .collect();
    let results = findings
        .iter()
        .map(|f| SarifResult {
            rule_id: f.rule.as_str(),
            rule_index: RULES.iter().position(|r| r.id == f.rule).unwrap_or(0),
            level: level(f.severity),
            properties: (f.owner.is_some() || f.place.is_some()).then(|| OwnerProperties {
                team: f.owner.as_ref().and_then(|o| o.team.clone()),
                contact: f.owner.as_ref().and_then(|o| o.contact.clone()),
                cluster: f.place.as_ref().map(|p| p.cluster.clone()),
                database: f.place.as_ref().and_then(|p| p.database.clone()),
            }),
            message: Message {
                text: f.message.clone(),
            },
            locations: vec![match &f.location {
                Location::File { path, line, column } => SarifLocation {
                    physical_location: Some(PhysicalLocation {
                        artifact_location: ArtifactLocation {
                            // SARIF URIs use forward slashes, also on Windows.
                            uri: path.to_string_lossy().replace('\\', "/"),
                        },
                        region: Region {
                            start_line: *line,
                            start_column: *column,
                        },
                    }),
                    logical_locations: Vec::new(),
                },
                Location::Object { object } => SarifLocation {
                    physical_location: None,
                    logical_locations: vec![LogicalLocation {
                        fully_qualified_name: object.clone(),
                    }],
                },
            }],
        })
        .collect();
    let log = Log {
        schema: "https://json.schemastore.org/sarif-2.1.0.json",
        version: "2.1.0",
        runs: vec![Run {
            tool: Tool {
                driver: Driver {
                    name: "dbsplit",
                    version: env!("CARGO_PKG_VERSION"),
                    rules,
                },
            },
            results,
        }],
    };
    serde_json::to_writer_pretty(&mut *out, &log)?;
    writeln!(out)
}
