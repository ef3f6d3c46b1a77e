//! `copy-in`: many rows with one checked statement, as one `COPY … FROM
//! STDIN` the host writes.
//!
//! The plugin names a relation and columns, never SQL. The host quotes
//! each name and checks the equivalent `INSERT INTO "s"."t" ("a", …)
//! VALUES ($1, …)` against the grants exactly as `query` would (cached by
//! text, so a loop of batches is checked once); only when it passes does it
//! send `COPY "s"."t" ("a", …) FROM STDIN` with the rows as COPY text, each
//! value escaped, read by the server as its column's type like a bound
//! parameter. Text, not binary COPY: the values already travel as text,
//! and the server's own input functions parse them.

use super::stop::{stop_signal, Stop};
use super::{convert, SqlSession};
use crate::bindings::types::{SqlError, SqlValue};
use crate::quote::ident;
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::SinkExt;

/// COPY data is sent in chunks of about this many bytes.
const CHUNK: usize = 256 << 10;

impl SqlSession {
    /// Loads `rows` into `columns` of `relation` (`schema.table`): one
    /// statement, `rows.len()` rows changed.
    pub async fn copy_in(
        &mut self,
        relation: &str,
        columns: &[String],
        rows: &[Vec<SqlValue>],
    ) -> Result<Result<u64, SqlError>, Stop> {
        let target = match target(relation, columns) {
            Ok(t) => t,
            Err(why) => return Ok(Err(self.refuse(&format!("copy-in {relation}"), why))),
        };
        let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
        let insert = format!("INSERT INTO {} VALUES ({})", target, placeholders.join(", "));
        let checked = match self.begin(&insert, columns.len())? {
            Ok(c) => c,
            Err(refused) => return Ok(Err(refused)),
        };
        let Some((written, _)) = checked.accesses.iter().find(|(_, op)| *op == super::check::Op::Insert).cloned()
        else {
            return Ok(Err(self.refuse(&insert, "copy-in needs an `insert` grant on the relation".into())));
        };
        if let Some(i) = rows.iter().position(|r| r.len() != columns.len()) {
            let why = format!("row {i} has {} values for {} columns", rows[i].len(), columns.len());
            return Ok(Err(self.refuse(&insert, why)));
        }
        // Nothing is sent that the budget would stop part-way.
        let n = rows.len() as u64;
        if self.stats.rows_changed + n > self.limits.rows_changed {
            return Err(Stop::Limit { name: "rows_changed", value: self.limits.rows_changed });
        }
        let copy = format!("COPY {target} FROM STDIN");
        let (client, wire) = (self.client.clone(), self.wire.clone());
        let send = async {
            let statement = client.prepare(&copy).await?;
            let sink = match client.copy_in::<_, Bytes>(&statement).await {
                Ok(sink) => sink,
                // Refused before COPY mode began (a missing column, a lock
                // timeout, no privilege): the driver's two Syncs get two
                // answers; the wire takes the extra one out, so the next
                // request reads its own.
                Err(e) => {
                    if let (Some(_), Some(wire)) = (e.code(), &wire) {
                        wire.drop_ready();
                    }
                    return Err(e);
                }
            };
            futures_util::pin_mut!(sink);
            let mut buf = BytesMut::with_capacity(CHUNK + 4096);
            for row in rows {
                encode(row, &mut buf);
                if buf.len() >= CHUNK {
                    sink.send(buf.split().freeze()).await?;
                }
            }
            if !buf.is_empty() {
                sink.send(buf.freeze()).await?;
            }
            sink.finish().await
        };
        let stop = stop_signal(self.deadline, self.limits.wall_time_ms, self.interrupt.clone());
        let started = std::time::Instant::now();
        let loaded = super::stoppable(send, stop, &self.cancel).await;
        let (ok, rows) = match &loaded {
            Ok(Ok(n)) => (true, *n),
            _ => (false, 0),
        };
        // Listed before a stop (Ctrl-C, the deadline) ends the plugin: it was sent.
        self.stats.sent.record(&copy, super::sent::Effect::MayChange, Vec::new(), ok, rows, started.elapsed());
        let loaded = loaded?;
        let loaded = match loaded {
            Ok(n) => n,
            Err(e) => return Ok(Err(self.failed(&insert, &checked, &e)?)),
        };
        self.prove_role().await?;
        self.stats.rows_changed += loaded;
        self.stats.changes.push(super::Change { relation: written, op: super::check::Op::Insert, rows: loaded });
        if self.stats.rows_changed > self.limits.rows_changed {
            return Err(Stop::Limit { name: "rows_changed", value: self.limits.rows_changed });
        }
        Ok(Ok(loaded))
    }
}

/// `"schema"."table" ("a", "b")` from the plugin's names, each quoted;
/// an error says what is wrong with them.
fn target(relation: &str, columns: &[String]) -> Result<String, String> {
    let Some((schema, table)) = relation.split_once('.') else {
        return Err(format!("copy-in relation `{relation}` must be `schema.table`, as the grants name it"));
    };
    if columns.is_empty() {
        return Err("copy-in needs at least one column".into());
    }
    let mut seen = std::collections::HashSet::new();
    for name in [schema, table].into_iter().chain(columns.iter().map(String::as_str)) {
        if name.is_empty() || name.contains('\0') || name.len() > 63 {
            return Err(format!("copy-in name `{}` is not an identifier", name.escape_debug()));
        }
    }
    if let Some(dup) = columns.iter().find(|c| !seen.insert(c.as_str())) {
        return Err(format!("copy-in names column `{dup}` twice"));
    }
    let cols: Vec<String> = columns.iter().map(|c| ident(c)).collect();
    Ok(format!("{}.{} ({})", ident(schema), ident(table), cols.join(", ")))
}

/// One row as a line of COPY text: tab-separated, `\N` for NULL, and the
/// characters COPY reads specially escaped.
fn encode(row: &[SqlValue], out: &mut BytesMut) {
    for (i, value) in row.iter().enumerate() {
        if i > 0 {
            out.put_u8(b'\t');
        }
        let (_, text) = convert::param(value);
        match text.text() {
            None => out.put_slice(b"\\N"),
            Some(s) => {
                for b in s.bytes() {
                    match b {
                        b'\\' => out.put_slice(b"\\\\"),
                        b'\t' => out.put_slice(b"\\t"),
                        b'\n' => out.put_slice(b"\\n"),
                        b'\r' => out.put_slice(b"\\r"),
                        _ => out.put_u8(b),
                    }
                }
            }
        }
    }
    out.put_u8(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_and_checked() {
        let cols = vec!["id".to_string(), "Odd \"name\"".to_string()];
        assert_eq!(target("app.items", &cols).unwrap(), r#""app"."items" ("id", "Odd ""name""")"#);
        assert!(target("items", &cols).is_err(), "a relation without its schema");
        assert!(target("app.items", &[]).is_err());
        assert!(target("app.items", &["a".into(), "a".into()]).is_err());
        assert!(target("app.items", &["a\0b".into()]).is_err());
    }

    #[test]
    fn copy_text_escapes_what_copy_reads() {
        let mut out = BytesMut::new();
        let row =
            [SqlValue::Int8(7), SqlValue::Null, SqlValue::Text("a\tb\nc\\N\r".into()), SqlValue::Bytes(vec![1, 255])];
        encode(&row, &mut out);
        assert_eq!(&out[..], b"7\t\\N\ta\\tb\\nc\\\\N\\r\t\\\\x01ff\n");
    }
}
