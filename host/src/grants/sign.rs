//! A signed lock file: the reviewer signs the reviewed plan with an SSH
//! key the way git signs commits (`ssh-keygen -Y sign -f KEY -n host-lock
//! rollout.lock` writes `rollout.lock.sig`), and the operator names the keys
//! whose signature they accept in an allowed-signers file (ssh's own
//! format, `man ssh-keygen`, ALLOWED SIGNERS). `--allowed-signers FILE`
//! refuses a plan whose lock file is unsigned, signed by another key, for
//! another namespace, or changed after it was signed.
//!
//! The lock file is read once: the bytes whose signature is verified are
//! the bytes parsed, so a file swapped between the two cannot run.

use super::lock::Lock;
use crate::report::{LockRecord, Signature};
use crate::text::terminal;
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use ssh_key::{HashAlg, PublicKey, SshSig};
use std::path::{Path, PathBuf};

/// The namespace a lock file is signed for (`ssh-keygen -Y sign -n`): a
/// signature made for git (`git`) or for a file (`file`) is not a review of
/// a plan.
pub const NAMESPACE: &str = "host-lock";

/// One line of an allowed-signers file.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The principals as the line names them (`alice@example.com,alice`).
    pub principals: String,
    /// `namespaces="…"`: the only namespaces this key may sign for.
    pub namespaces: Option<Vec<String>>,
    pub key: PublicKey,
    pub line: usize,
}

/// The allowed-signers file: every line a key. Comments (`#`) and blank
/// lines are skipped; an option other than `namespaces` is refused (a
/// `cert-authority` or `valid-before` the host ignored would accept a
/// signature ssh itself would not).
pub fn allowed_signers(path: &Path) -> Result<Vec<Signer>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the allowed signers file {}", path.display()))?;
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let signer = parse_line(line, i + 1).with_context(|| {
            format!(
                "{} line {}: not `principals [namespaces=\"{NAMESPACE}\"] keytype base64key [comment]`",
                path.display(),
                i + 1
            )
        })?;
        out.push(signer);
    }
    if out.is_empty() {
        bail!(
            "the allowed signers file {} lists no key: add the reviewer's public key as `principal keytype base64key`",
            path.display()
        );
    }
    Ok(out)
}

/// `principals [options] keytype base64key [comment]`.
fn parse_line(line: &str, n: usize) -> Result<Signer> {
    let (principals, rest) = field(line);
    let principals = principals.trim_matches('"').to_string();
    if principals.is_empty() || rest.is_empty() {
        bail!("a principal and a key are required");
    }
    let (namespaces, key) = match PublicKey::from_openssh(rest) {
        Ok(key) => (None, key),
        Err(_) => {
            let (options, key_text) = field(rest);
            let namespaces = options_of(options)?;
            let key = PublicKey::from_openssh(key_text).map_err(|e| anyhow::anyhow!("the key does not parse: {e}"))?;
            (namespaces, key)
        }
    };
    Ok(Signer { principals, namespaces, key, line: n })
}

/// The first whitespace-separated field (double quotes keep spaces), and
/// what follows it.
fn field(s: &str) -> (&str, &str) {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return (&s[..i], s[i..].trim_start()),
            _ => {}
        }
    }
    (s, "")
}

/// The options field: `namespaces="a,b"` is kept; any other is refused.
fn options_of(options: &str) -> Result<Option<Vec<String>>> {
    let mut namespaces = None;
    let (mut quoted, mut start) = (false, 0);
    let mut parts = Vec::new();
    for (i, c) in options.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&options[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&options[start..]);
    for part in parts {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        if name.eq_ignore_ascii_case("namespaces") {
            let list = value.trim_matches('"').split(',').map(|s| s.trim().to_string()).collect();
            namespaces = Some(list);
        } else {
            bail!(
                "the option `{}` is not supported (the host checks only `namespaces=\"…\"`; a certificate or validity window it ignored would accept a signature ssh refuses): remove it, or list the key itself",
                terminal(name)
            );
        }
    }
    Ok(namespaces)
}

/// Reads the lock file and, with `allowed`, refuses it unless its `.sig`
/// is a good `host-lock` signature of exactly these bytes by a key the
/// allowed-signers file lists. Without `allowed` a signature is only
/// noticed ("not checked").
pub fn read_lock(path: &Path, allowed: Option<&Path>) -> Result<(Lock, LockRecord)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read the lock file {}", path.display()))?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let sig_path = sig_path(path);
    let mut record = LockRecord {
        file: path.display().to_string(),
        sha256,
        signature: Signature::Unsigned,
        ..LockRecord::default()
    };
    match allowed {
        None => {
            if sig_path.exists() {
                record.signature = Signature::NotChecked;
            }
        }
        Some(allowed) => {
            let signers =
                allowed_signers(allowed).with_context(|| format!("refusing the lock file {}", path.display()))?;
            let signer = verify(path, &sig_path, &bytes, &signers, allowed)?;
            record.signature = Signature::Verified;
            record.signer = signer.principals.clone();
            record.key = signer.key.fingerprint(HashAlg::Sha256).to_string();
            record.checked_at = chrono::Utc::now().to_rfc3339();
        }
    }
    let text = String::from_utf8(bytes).with_context(|| format!("{} is not a valid lock file", path.display()))?;
    Ok((Lock::from_text(&text, path)?, record))
}

/// `rollout.lock` → `rollout.lock.sig`, as `ssh-keygen -Y sign` names it.
pub fn sig_path(lock: &Path) -> PathBuf {
    let mut name = lock.as_os_str().to_os_string();
    name.push(".sig");
    PathBuf::from(name)
}

/// The signer of `bytes`, or why the signature is refused.
fn verify<'a>(lock: &Path, sig_path: &Path, bytes: &[u8], signers: &'a [Signer], allowed: &Path) -> Result<&'a Signer> {
    let sign_it = format!("sign it: `ssh-keygen -Y sign -f KEY -n {NAMESPACE} {}`", lock.display());
    let refuse = |why: String| anyhow::anyhow!("refusing the lock file {}: {why}", lock.display());
    let pem = match std::fs::read_to_string(sig_path) {
        Ok(pem) => pem,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(refuse(format!(
                "it is not signed (no {} beside it), and --allowed-signers asks for a signed plan; {sign_it}",
                sig_path.display()
            )))
        }
        Err(e) => return Err(refuse(format!("cannot read its signature {}: {e}", sig_path.display()))),
    };
    let sig = SshSig::from_pem(pem.trim())
        .map_err(|e| refuse(format!("{} is not an SSH signature ({e}); {sign_it}", sig_path.display())))?;
    if sig.namespace() != NAMESPACE {
        return Err(refuse(format!(
            "its signature is for the namespace `{}`, not `{NAMESPACE}` (a signature made for something else is not a review of this plan); {sign_it}",
            terminal(sig.namespace())
        )));
    }
    let key = PublicKey::from(sig.public_key().clone());
    let fingerprint = key.fingerprint(HashAlg::Sha256);
    if key.verify(NAMESPACE, bytes, &sig).is_err() {
        return Err(refuse(format!(
            "its signature {} does not verify (key {fingerprint}): the lock file was changed after it was signed, or the signature is of another file; review the lock file as it is now and sign it again ({sign_it})",
            sig_path.display()
        )));
    }
    let Some(signer) = signers.iter().find(|s| s.key.key_data() == sig.public_key()) else {
        return Err(refuse(format!(
            "it is signed by the key {fingerprint}, which the allowed signers file {} does not list (add the reviewer's public key there, or have a listed reviewer sign it)",
            allowed.display()
        )));
    };
    if let Some(spaces) = &signer.namespaces {
        if !spaces.iter().any(|s| s == NAMESPACE) {
            return Err(refuse(format!(
                "the key {fingerprint} ({}) may sign only for the namespaces {} ({} line {}), not `{NAMESPACE}`",
                terminal(&signer.principals),
                terminal(&spaces.join(",")),
                allowed.display(),
                signer.line
            )));
        }
    }
    Ok(signer)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti foo@bar.com";

    #[test]
    fn a_line_with_and_without_namespaces() {
        let plain = parse_line(&format!("alice@example.com {KEY}"), 1).unwrap();
        assert_eq!(plain.principals, "alice@example.com");
        assert!(plain.namespaces.is_none());
        let ns = parse_line(&format!("alice,bob namespaces=\"git,host-lock\" {KEY}"), 2).unwrap();
        assert_eq!(ns.namespaces.unwrap(), vec!["git", "host-lock"]);
    }

    #[test]
    fn another_option_is_refused() {
        for option in ["cert-authority", "valid-before=\"20300101\"", "namespaces=\"host-lock\",valid-after=\"1\""] {
            let err = format!("{:#}", parse_line(&format!("alice {option} {KEY}"), 1).unwrap_err());
            assert!(err.contains("is not supported"), "{option}: {err}");
        }
    }
}
