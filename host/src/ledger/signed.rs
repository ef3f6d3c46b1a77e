//! The lock file a rollout ran under, on its rollout row: the sha256 of
//! its bytes and, when its signature was checked (`--allowed-signers`),
//! who signed it, with which key, and when the host checked it.

use std::collections::BTreeMap;
use tokio_postgres::{Client, Error};

const SET: &str = "
    UPDATE rollout_ledger.rollout
    SET lock_sha256 = $2, lock_signer = NULLIF($3, ''), lock_key = NULLIF($4, ''),
        lock_checked_at = NULLIF($5, '')::timestamptz
    WHERE id = $1";
/// The ledger has the columns (read-only verbs never upgrade it).
const HAS: &str = "
    SELECT EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = to_regclass('rollout_ledger.rollout') AND attname = 'lock_sha256'
                     AND NOT attisdropped)";
const OF: &str = "
    SELECT id, lock_sha256, coalesce(lock_signer, ''), coalesce(lock_key, ''),
           coalesce(to_char(lock_checked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), '')
    FROM rollout_ledger.rollout WHERE id = ANY ($1) AND lock_sha256 IS NOT NULL";

/// The lock file as checked; empty strings where its signature was not.
pub struct LockSigned<'a> {
    pub sha256: &'a str,
    pub signer: &'a str,
    pub key: &'a str,
    /// RFC 3339.
    pub checked_at: &'a str,
}

/// Records the lock file on rollout `id`.
pub async fn set_lock(client: &Client, id: i64, l: &LockSigned<'_>) -> Result<(), Error> {
    let signer = super::storable(l.signer);
    client.execute(SET, &[&id, &l.sha256, &signer.as_ref(), &l.key, &l.checked_at]).await.map(|_| ())
}

/// One line per rollout of `ids` that ran under a lock file: its sha256
/// and who signed it (`host status`).
pub async fn lock_lines(client: &Client, ids: &[i64]) -> Result<BTreeMap<i64, String>, Error> {
    if ids.is_empty() || !client.query_one(HAS, &[]).await?.get::<_, bool>(0) {
        return Ok(BTreeMap::new());
    }
    let mut out = BTreeMap::new();
    for r in client.query(OF, &[&ids]).await? {
        let (id, sha256, signer, key, at): (i64, String, String, String, String) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?);
        let short: String = sha256.chars().take(12).collect();
        let line = match signer.is_empty() {
            true => format!("{short} not verified"),
            false => format!("{short} signed by {signer} ({key}), checked {at} UTC"),
        };
        out.insert(id, line);
    }
    Ok(out)
}
