//! A plugin's checked statements, by text: a text the plugin sends again
//! costs a lookup, not a parse, a walk and a deparse.
//!
//! What the check decides depends on the text, the number of parameters,
//! the plugin's grants and memory limit (fixed for the session), and
//! whether the session is read-only at the moment (a tier's
//! post-conditions are; its apply is not): the key holds each of these that
//! can change. Only passes are kept: a refusal can come from the call's
//! deadline, which the next call does not share. The cache is bounded in
//! entries and bytes; once full, new texts are checked every time.

use super::check::{Checked, Checker, Refusal};
use std::collections::HashMap;
use std::sync::Arc;

/// At most this many texts are kept per session...
const MAX_ENTRIES: usize = 4096;
/// ...and at most this many bytes of text (the statement and its deparse).
const MAX_BYTES: usize = 16 << 20;

/// The per-call rules a check depends on, besides the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rules {
    params: usize,
    read_only: bool,
    /// A tier with grants per phase: the phase the check held it to.
    phase: Option<crate::manifest::Phase>,
}

/// Passed checks of one plugin's session.
#[derive(Default)]
pub struct CheckCache {
    by_text: HashMap<String, Vec<(Rules, Arc<Checked>)>>,
    entries: usize,
    bytes: usize,
}

impl CheckCache {
    /// `checker`'s verdict on `sql` with `params` parameters, from the
    /// cache when this text passed under the same rules before.
    pub fn check(
        &mut self,
        checker: &Checker,
        sql: &str,
        params: usize,
        read_only: bool,
    ) -> Result<Arc<Checked>, Refusal> {
        let rules = Rules { params, read_only, phase: checker.phase() };
        if let Some(hit) = self.by_text.get(sql).and_then(|v| v.iter().find(|(r, _)| *r == rules)) {
            return Ok(hit.1.clone());
        }
        let checked = Arc::new(checker.check(sql, params)?);
        let size = sql.len() + checked.sql.len();
        if self.entries < MAX_ENTRIES && self.bytes + size <= MAX_BYTES {
            self.entries += 1;
            self.bytes += size;
            self.by_text.entry(sql.to_string()).or_default().push((rules, checked.clone()));
        }
        Ok(checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Grants;

    fn grants() -> Grants {
        Grants { read: vec!["public.t".into()], insert: vec!["public.t".into()], ..Grants::default() }
    }

    #[test]
    fn a_repeated_text_is_the_same_check() {
        let g = grants();
        let checker = Checker::new(&g, false);
        let mut cache = CheckCache::default();
        let a = cache.check(&checker, "SELECT * FROM public.t", 0, false).unwrap();
        let b = cache.check(&checker, "SELECT * FROM public.t", 0, false).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "the second is a lookup");
        assert_eq!(cache.entries, 1);
    }

    #[test]
    fn the_per_call_rules_are_part_of_the_key() {
        let g = grants();
        let mut cache = CheckCache::default();
        let insert = "INSERT INTO public.t VALUES ($1)";
        cache.check(&Checker::new(&g, false), insert, 1, false).unwrap();
        // The same text in a read-only call (post-conditions) is checked
        // again, and refused, although it passed in the apply.
        let ro = cache.check(&Checker::new(&g, true), insert, 1, true);
        assert!(ro.is_err(), "a write passed in read-only mode: {ro:?}");
        assert_eq!(cache.entries, 1, "refusals are not kept");
        // Another parameter count is another check (the checker is told it).
        cache.check(&Checker::new(&g, false), insert, 2, false).unwrap();
        assert_eq!(cache.entries, 2);
    }

    #[test]
    fn the_cache_is_bounded() {
        let g = grants();
        let checker = Checker::new(&g, false);
        let mut cache = CheckCache::default();
        for i in 0..MAX_ENTRIES + 10 {
            cache.check(&checker, &format!("SELECT {i} FROM public.t"), 0, false).unwrap();
        }
        assert_eq!(cache.entries, MAX_ENTRIES);
        assert_eq!(cache.by_text.len(), MAX_ENTRIES);
        // Past the bound a text is still checked, and still passes.
        assert!(cache.check(&checker, "SELECT 'late' FROM public.t", 0, false).is_ok());
    }
}
