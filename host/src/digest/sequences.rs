//! Sequence positions: they never roll back, so they are not in the
//! digest's equality. One set BACK behind the baseline fails the rehearsal
//! ([`set_back`]): its next values are ones the baseline already handed
//! out, so the next INSERT drawing from it collides with existing keys. And
//! a rollout that burns a sequence towards its bound
//! breaks the application's next INSERT on production (`nextval: reached
//! maximum value`) however exactly its rollback restores the rows. Every
//! sequence of the database's user schemas is read at every digest; each
//! step shows the ones it moved, before → after, and the margin left.

use std::collections::BTreeMap;

pub mod reading;
pub use reading::read;

/// A sequence's position and the bounds it moves within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sequence {
    pub last_value: i64,
    pub is_called: bool,
    pub start: i64,
    pub min: i64,
    pub max: i64,
    pub increment: i64,
    pub cycle: bool,
}

/// A sequence left with less than this share of its range (1/10).
const NEAR: i128 = 10;

impl Sequence {
    /// The value `nextval` returns next (past the bound once exhausted).
    pub fn next(&self) -> i128 {
        let last = i128::from(self.last_value);
        if self.is_called {
            last + i128::from(self.increment)
        } else {
            last
        }
    }

    /// How many values `nextval` can still return before its bound.
    pub fn left(&self) -> i128 {
        let (next, step) = (self.next(), i128::from(self.increment).abs().max(1));
        let room = if self.increment > 0 { i128::from(self.max) - next } else { next - i128::from(self.min) };
        if room < 0 {
            0
        } else {
            room / step + 1
        }
    }

    /// How many values the sequence has between its bounds.
    pub fn range(&self) -> i128 {
        (i128::from(self.max) - i128::from(self.min)) / i128::from(self.increment).abs().max(1) + 1
    }

    /// The bound it moves towards.
    fn bound(&self) -> (&'static str, i64) {
        if self.increment > 0 {
            ("maximum", self.max)
        } else {
            ("minimum", self.min)
        }
    }

    /// `last_value`, and whether `nextval` was ever called since it was set.
    pub fn position(&self) -> String {
        if self.is_called {
            self.last_value.to_string()
        } else {
            format!("{} (is_called false)", self.last_value)
        }
    }
}

/// A sequence a step moved (or created, or dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub sequence: String,
    pub before: Option<Sequence>,
    pub after: Option<Sequence>,
}

impl Move {
    /// Values drawn during the step (negative: set back).
    pub fn drawn(&self) -> i128 {
        match (self.before, self.after) {
            (Some(b), Some(a)) if a.increment != 0 => (a.next() - b.next()) / i128::from(a.increment),
            _ => 0,
        }
    }

    /// Why the position after the step is a danger to production, if it
    /// is: less than a tenth of its range left, or fewer values left than
    /// the step drew (the rollout could not run once more).
    pub fn warning(&self) -> Option<String> {
        let after = self.after?;
        let (drawn, left, range) = (self.drawn(), after.left(), after.range());
        if drawn <= 0 {
            return None;
        }
        let (bound, at) = after.bound();
        let wraps = if after.cycle { "; it CYCLEs, so it will hand out values again from its other end" } else { "" };
        if left < drawn {
            Some(format!(
                "sequence {} has {left} values left before its {bound} {at}, fewer than this step drew ({drawn}): \
                 one more such run exhausts it{wraps}",
                self.sequence
            ))
        } else if left * NEAR < range {
            Some(format!(
                "sequence {} has {left} of its {range} values left before its {bound} {at} ({}, under {} %){wraps}",
                self.sequence,
                percent(left, range),
                100 / NEAR
            ))
        } else {
            None
        }
    }
}

impl std::fmt::Display for Move {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.before, self.after) {
            (None, Some(a)) => write!(f, "{} created at {}", self.sequence, a.position()),
            (Some(b), None) => write!(f, "{} (at {}) dropped", self.sequence, b.position()),
            (Some(b), Some(a)) => {
                let (bound, at) = a.bound();
                let drawn = self.drawn();
                let how = if drawn >= 0 { format!("drew {drawn}") } else { format!("set back by {}", -drawn) };
                write!(
                    f,
                    "{} {} → {} ({how}); {} values left before its {bound} {at} ({} of its range)",
                    self.sequence,
                    b.position(),
                    a.position(),
                    a.left(),
                    percent(a.left(), a.range())
                )
            }
            (None, None) => Ok(()),
        }
    }
}

fn percent(part: i128, whole: i128) -> String {
    format!("{:.1} %", part as f64 * 100.0 / whole.max(1) as f64)
}

impl Move {
    /// Why a sequence behind the baseline ([`set_back`]) fails a proof.
    pub fn behind(&self) -> String {
        let show = |s: Option<Sequence>| s.map_or_else(|| "absent".to_string(), |s| s.position());
        format!(
            "sequence {} is set back behind the baseline: at {} in the baseline, {} now: nextval hands out values \
             the baseline had already handed out, so the next INSERT drawing from it can collide with existing keys \
             (a sequence's position is not transactional: no rollback restores it)",
            self.sequence,
            show(self.before),
            show(self.after)
        )
    }
}

/// The sequences of `now` whose next value lies behind `baseline`'s, in
/// the direction they move (a descending one is behind when higher).
pub fn set_back(baseline: &BTreeMap<String, Sequence>, now: &BTreeMap<String, Sequence>) -> Vec<Move> {
    now.iter()
        .filter_map(|(name, a)| {
            let b = baseline.get(name)?;
            let behind = if a.increment < 0 { a.next() > b.next() } else { a.next() < b.next() };
            behind.then(|| Move { sequence: name.clone(), before: Some(*b), after: Some(*a) })
        })
        .collect()
}

/// The sequences whose position differs between `before` and `after`.
pub fn moves(before: &BTreeMap<String, Sequence>, after: &BTreeMap<String, Sequence>) -> Vec<Move> {
    let names: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let (b, a) = (before.get(name).copied(), after.get(name).copied());
            let moved = match (b, a) {
                (Some(b), Some(a)) => (b.last_value, b.is_called) != (a.last_value, a.is_called),
                _ => true,
            };
            moved.then(|| Move { sequence: name.clone(), before: b, after: a })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{moves, set_back, Move, Sequence};
    use std::collections::BTreeMap;

    fn smallint(last_value: i64, is_called: bool) -> Sequence {
        Sequence { last_value, is_called, start: 1, min: 1, max: 32767, increment: 1, cycle: false }
    }

    fn moved(before: Sequence, after: Sequence) -> Move {
        Move { sequence: "s".into(), before: Some(before), after: Some(after) }
    }

    #[test]
    fn margins_count_the_values_nextval_can_still_return() {
        assert_eq!(smallint(1, false).left(), 32767);
        assert_eq!(smallint(1, true).left(), 32766);
        assert_eq!(smallint(32767, true).left(), 0);
        assert_eq!(smallint(32767, false).left(), 1);
        assert_eq!(smallint(1, true).range(), 32767);
        let down =
            Sequence { last_value: -10, is_called: true, start: -1, min: -100, max: -1, increment: -5, cycle: false };
        assert_eq!(down.left(), 18, "-15, -20, … -100");
        assert_eq!(down.range(), 20);
    }

    #[test]
    fn a_step_that_burns_a_sequence_near_its_bound_warns_and_one_that_does_not_is_quiet() {
        let burned = moved(smallint(1, false), smallint(30000, true));
        assert_eq!(burned.drawn(), 30000);
        let w = burned.warning().expect("a warning");
        assert!(w.contains("2767 values left before its maximum 32767"), "{w}");
        // Far from its bound, but fewer values left than the step drew.
        let greedy = moved(smallint(1, true), smallint(20000, true));
        assert!(greedy.warning().expect("a warning").contains("fewer than this step drew (19999)"));
        // A step that drew a little, far from the bound: quiet.
        assert_eq!(moved(smallint(1, true), smallint(11, true)).warning(), None);
        // Set back (a rollback's setval): shown, never a warning.
        let back = moved(smallint(30000, true), smallint(10, true));
        assert_eq!(back.drawn(), -29990);
        assert_eq!(back.warning(), None);
        assert!(back.to_string().contains("set back by 29990"), "{back}");
    }

    #[test]
    fn a_sequence_behind_the_baseline_in_its_own_direction_is_set_back() {
        let base = BTreeMap::from([
            ("up".to_string(), smallint(100, true)),
            ("fresh".to_string(), smallint(1, false)),
            (
                "down".to_string(),
                Sequence {
                    last_value: -10,
                    is_called: true,
                    start: -1,
                    min: -100,
                    max: -1,
                    increment: -1,
                    cycle: false,
                },
            ),
        ]);
        let mut now = base.clone();
        assert!(set_back(&base, &now).is_empty());
        now.insert("up".into(), smallint(150, true));
        now.insert("fresh".into(), smallint(1, true));
        assert!(set_back(&base, &now).is_empty(), "drawn forward is not behind");
        now.insert("up".into(), smallint(100, false));
        now.insert("down".into(), Sequence { last_value: -5, ..base["down"] });
        let behind = set_back(&base, &now);
        assert_eq!(behind.iter().map(|m| m.sequence.as_str()).collect::<Vec<_>>(), ["down", "up"]);
        assert!(
            behind[1].behind().contains("at 100 in the baseline, 100 (is_called false) now"),
            "{}",
            behind[1].behind()
        );
    }

    #[test]
    fn only_the_sequences_a_step_moved_are_listed() {
        let before = BTreeMap::from([("a".to_string(), smallint(1, true)), ("b".to_string(), smallint(5, true))]);
        let mut after = before.clone();
        after.insert("b".into(), smallint(6, true));
        after.insert("c".into(), smallint(1, false));
        let m = moves(&before, &after);
        assert_eq!(m.iter().map(|m| m.sequence.as_str()).collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!(
            m[0].to_string(),
            "b 5 → 6 (drew 1); 32761 values left before its maximum 32767 (100.0 % of its range)"
        );
    }
}
