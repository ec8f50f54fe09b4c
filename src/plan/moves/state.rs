//! Where a move stands, kept in the clusters themselves: the names of its publications,
//! subscriptions and slots, and the phase written in the source publication's comment. Pure.
//!
//! A second operator, or a re-run after an interruption, reads the same objects and comment
//! and resumes from there; nothing is kept in local files.

use serde::{Deserialize, Serialize};

/// The phases of a move, in order. Each step of `cutover` and `abort` writes the phase before
/// doing what it names, so a killed run is resumed by running the same command again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// The subscription copies and streams the source's changes; writes go to the source.
    Copying,
    /// Cut-over began: the source refuses the service's writes.
    Fenced,
    /// The target holds every row and sequence; the forward subscription is gone.
    Switched,
    /// Writes go to the target; a reverse subscription keeps the source current.
    CutOver,
    /// An abort after cut-over is moving writes back to the source.
    Aborting,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Copying => "copying",
            Phase::Fenced => "fenced",
            Phase::Switched => "switched",
            Phase::CutOver => "cut-over",
            Phase::Aborting => "aborting",
        }
    }
}

/// The JSON in the source publication's comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// Always "move": tells dbsplit's publications from others.
    pub dbsplit: String,
    pub service: String,
    pub phase: Phase,
    /// The target, `user@host:port/dbname` (never a password).
    pub target: String,
    /// The role the target's subscription reads the source as, when it is not a superuser: the
    /// move granted it SELECT on the schema's tables for the initial copy, which `plan` leaves
    /// alone until cut-over or abort takes it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copier: Option<String>,
}

impl Mark {
    pub fn new(service: &str, phase: Phase, target: &str) -> Mark {
        Mark {
            dbsplit: "move".to_string(),
            service: service.to_string(),
            phase,
            target: target.to_string(),
            copier: None,
        }
    }

    pub fn to_comment(&self) -> String {
        serde_json::to_string(self).expect("a mark always serializes")
    }

    /// Reads a comment; `None` when it is not a dbsplit move mark.
    pub fn parse(comment: &str) -> Option<Mark> {
        serde_json::from_str::<Mark>(comment)
            .ok()
            .filter(|m| m.dbsplit == "move")
    }
}

/// The names of a service's replication objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// Publication on the source, subscription on the target, slot on the source.
    pub forward: String,
    /// Publication on the target, subscription on the source, slot on the target, after
    /// cut-over.
    pub back: String,
}

impl Names {
    pub fn of(service: &str) -> Names {
        Names {
            forward: object_name("dbsplit_move_", service),
            back: object_name("dbsplit_back_", service),
        }
    }
}

/// `prefix` + the service, usable as a replication slot name (lowercase letters, digits and
/// `_`, at most 63 bytes); a service name that had to change gets a short digest so two
/// services never share a name.
fn object_name(prefix: &str, service: &str) -> String {
    let clean: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let name = format!("{prefix}{clean}");
    if clean == service && name.len() <= 63 {
        return name;
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(service.as_bytes());
    let suffix = crate::text::hex(&digest[..4]);
    let room = 63 - prefix.len() - 1 - suffix.len();
    let kept: String = clean.chars().take(room).collect();
    format!("{prefix}{kept}_{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_valid_slot_names_and_distinct() {
        assert_eq!(Names::of("billing").forward, "dbsplit_move_billing");
        assert_eq!(Names::of("billing").back, "dbsplit_back_billing");
        let upper = Names::of("Billing").forward;
        let lower = Names::of("billing").forward;
        assert_ne!(upper, lower);
        assert!(upper.starts_with("dbsplit_move_billing_"), "{upper}");
        let long = Names::of(&"x".repeat(63)).forward;
        assert!(long.len() <= 63, "{long}");
        for name in [upper, long, Names::of("a b-c").back] {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{name}"
            );
        }
    }

    #[test]
    fn a_mark_round_trips_and_other_comments_are_not_marks() {
        let mark = Mark::new("billing", Phase::CutOver, "postgres@db:5432/billing");
        let comment = mark.to_comment();
        assert!(comment.contains(r#""phase":"cut-over""#), "{comment}");
        assert_eq!(Mark::parse(&comment), Some(mark));
        assert_eq!(Mark::parse("published by the CDC team"), None);
        assert_eq!(
            Mark::parse(r#"{"dbsplit":"x","service":"a","phase":"copying","target":"t"}"#),
            None
        );
    }
}
