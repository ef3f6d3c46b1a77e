//! What the report and the ledger say of the lock file a command ran
//! under: its sha256, and whether its signature was checked, by whom it is
//! signed (principal and key fingerprint) and when the host checked it.

use super::Reporter;
use crate::text::markdown as md;
use serde::{Deserialize, Serialize};

/// The lock file's signature, as the host found it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signature {
    /// No `.sig` beside it, and none asked for.
    #[default]
    Unsigned,
    /// A `.sig` is there, but no `--allowed-signers` was given to check it.
    NotChecked,
    /// Verified against the allowed signers file.
    Verified,
}

impl Signature {
    pub fn as_str(self) -> &'static str {
        match self {
            Signature::Unsigned => "unsigned",
            Signature::NotChecked => "not checked",
            Signature::Verified => "verified",
        }
    }
}

/// The lock file a command ran under (`--lock`).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockRecord {
    /// The path the operator gave.
    pub file: String,
    /// The sha256 of its bytes, as read (and, when verified, as signed).
    pub sha256: String,
    pub signature: Signature,
    /// The principals of the allowed-signers line whose key signed it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub signer: String,
    /// That key's fingerprint (`SHA256:…`, as `ssh-keygen -l` prints it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    /// When the host verified the signature (RFC 3339).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub checked_at: String,
}

impl LockRecord {
    /// One line for the screen, the log and report.md (`md` for Markdown).
    pub fn line(&self, quote: impl Fn(&str) -> String) -> String {
        let what = match self.signature {
            Signature::Verified => format!(
                "signed by {} (key {}), signature checked at {}",
                quote(&self.signer),
                quote(&self.key),
                quote(&self.checked_at)
            ),
            Signature::NotChecked => "a signature is beside it but was not checked (no --allowed-signers)".to_string(),
            Signature::Unsigned => "unsigned".to_string(),
        };
        format!("lock file {} (sha256 {}): {what}", quote(&self.file), quote(&self.sha256))
    }

    /// Its line in report.md.
    pub fn markdown(&self) -> String {
        format!("- {}\n", self.line(md))
    }
}

impl Reporter {
    /// The lock file the command runs under, as checked.
    pub fn set_lock(&self, lock: LockRecord) {
        self.edit(|s| s.lock = Some(lock));
    }

    /// The lock file the command runs under, if any.
    pub fn lock(&self) -> Option<LockRecord> {
        self.state().summary.lock.clone()
    }
}
