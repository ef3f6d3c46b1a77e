//! Large objects: they live outside every schema (`pg_largeobject`), so a
//! rollout that overwrites or unlinks one (a trigger's `lo_put`,
//! `lo_unlink`) changed nothing the relations' digest reads. Each is an
//! object of the digest by its oid: owner, ACL, comment and a hash of its
//! content, read in the snapshot through `lo_get` a chunk at a time. A
//! large object the reading role may not read fails the reading, naming
//! it: passing over it would prove nothing about it.

use super::read::{self, Snapshot};
use super::{Kind, Object, Reach, Rows};
use anyhow::{Context as _, Result};
use sha2::{Digest as _, Sha256};
use tokio_postgres::error::SqlState;

/// Every large object with its owner, ACL and comment, by oid.
const LIST: &str = "SELECT m.oid::bigint, pg_get_userbyid(m.lomowner)::text, coalesce(m.lomacl::text, '-'),
       coalesce(obj_description(m.oid, 'pg_largeobject'), '-')
  FROM pg_largeobject_metadata m ORDER BY 1";

/// One chunk of a large object's content (`lo_get` reads in the
/// transaction's snapshot).
const CHUNK: &str = "SELECT pg_catalog.lo_get($1::bigint::oid, $2, $3)";

/// Bytes read per round trip.
const CHUNK_BYTES: i32 = 1 << 20;

/// Every large object, as objects of the digest, read in one transaction
/// of the snapshot.
pub(super) async fn read(snapshot: &Snapshot<'_>) -> Result<Vec<(String, Object)>> {
    let client = snapshot.open(None).await?;
    let read = all(client).await;
    snapshot.close().await;
    read
}

async fn all(client: &tokio_postgres::Client) -> Result<Vec<(String, Object)>> {
    let listed = client.query(LIST, &[]).await.context("cannot list the large objects")?;
    let mut out = Vec::with_capacity(listed.len());
    for row in listed {
        let (oid, owner, acl, comment): (i64, String, String, String) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?);
        let (hash, bytes) = content(client, oid).await?;
        let shape = format!("owner {owner}\nacl {acl}\ncomment {comment}\ncontent {bytes} bytes sha256 {hash}");
        let object = Object { kind: Kind::LargeObject, reach: Reach::Exact, shape, rows: Rows::None };
        out.push((oid.to_string(), object));
    }
    Ok(out)
}

/// The hash of large object `oid`'s content, and its length.
async fn content(client: &tokio_postgres::Client, oid: i64) -> Result<(String, u64)> {
    let mut h = Sha256::new();
    let mut offset: i64 = 0;
    loop {
        let chunk: Vec<u8> = match client.query_one(CHUNK, &[&oid, &offset, &CHUNK_BYTES]).await {
            Ok(row) => row.try_get(0)?,
            Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "the digest reads every large object, large object {oid} included, and may not: grant the role \
                     that rehearses SELECT on it (GRANT SELECT ON LARGE OBJECT {oid} TO …) on both databases, or \
                     rehearse as a role that may read every large object"
                )));
            }
            Err(e) => return Err(read::refused(e.into(), &format!("large object {oid}"))),
        };
        h.update(&chunk);
        offset += chunk.len() as i64;
        if chunk.len() < CHUNK_BYTES as usize {
            return Ok((hex::encode(h.finalize()), offset as u64));
        }
    }
}
