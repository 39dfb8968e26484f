//! The checks SSCAN, HSCAN and ZSCAN share on a big (`hashtable`/`skiplist`) collection at `k`:
//! about COUNT elements a step, every element present throughout returned, MATCH, bad cursors.

use std::collections::BTreeSet;

use super::resp::{bulk, err, Conn, R};

/// One family's commands; `{i}` in `add`/`remove` stands for the element's number.
pub struct Family {
    /// `SSCAN`, `HSCAN` or `ZSCAN`.
    pub scan: &'static str,
    pub add: &'static str,
    pub remove: &'static str,
    /// Items per element in a reply: 1 (members) or 2 (field/value, member/score).
    pub stride: usize,
    /// OBJECT ENCODING of the collection once big.
    pub encoding: &'static str,
}

impl Family {
    fn add(&self, c: &mut Conn, i: usize) {
        c.cmd(&self.add.replace("{i}", &i.to_string()));
    }

    fn fill(&self, c: &mut Conn, count: usize) {
        for i in 0..count {
            self.add(c, i);
        }
        assert_eq!(c.cmd("OBJECT ENCODING k"), bulk(self.encoding));
    }

    /// Runs the scan of `k` from cursor 0 until it comes back, calling `between` with the step
    /// number after each step. Returns the names returned (members or fields), the most elements
    /// one step returned, and the number of steps.
    fn iterate(
        &self,
        c: &mut Conn,
        options: &str,
        mut between: impl FnMut(&mut Conn, usize),
    ) -> (BTreeSet<String>, usize, usize) {
        let (mut names, mut longest, mut steps, mut cursor) =
            (BTreeSet::new(), 0, 0, "0".to_string());
        loop {
            let scan = format!("{} k {cursor} {options}", self.scan);
            let R::Array(reply) = c.cmd(scan.trim_end()) else {
                panic!("not an array");
            };
            let [R::Bulk(next), R::Array(items)] = &reply[..] else {
                panic!("not a scan reply: {reply:?}");
            };
            longest = longest.max(items.len() / self.stride);
            names.extend(items.iter().step_by(self.stride).map(|item| match item {
                R::Bulk(b) => String::from_utf8(b.clone()).unwrap(),
                other => panic!("not a name: {other:?}"),
            }));
            steps += 1;
            between(c, steps);
            cursor = String::from_utf8(next.clone()).unwrap();
            if cursor == "0" {
                return (names, longest, steps);
            }
            assert!(steps < 10_000, "the iteration ends");
        }
    }
}

/// A one-shot reply would return all 1000 elements in one step.
pub fn returns_about_count_per_step_and_every_element(c: &mut Conn, family: &Family) {
    family.fill(c, 1000);
    let (names, longest, steps) = family.iterate(c, "COUNT 10", |_, _| {});
    assert_eq!(names.len(), 1000);
    assert!(longest <= 20, "a step returned {longest} elements");
    assert!(steps >= 50, "only {steps} steps");
}

/// Each step removes one of the first 100 elements and adds 20 new ones, so the collection's
/// table grows and rehashes under the iteration.
pub fn returns_every_element_present_throughout(c: &mut Conn, family: &Family) {
    family.fill(c, 600);
    let (names, _, _) = family.iterate(c, "COUNT 10", |c, step| {
        if step <= 100 {
            c.cmd(&family.remove.replace("{i}", &(step - 1).to_string()));
        }
        for j in 0..20 {
            family.add(c, 10_000 + step * 20 + j);
        }
    });
    for i in 100..600 {
        assert!(names.contains(&format!("m{i}")), "m{i} was never returned");
    }
}

pub fn match_filters_each_step_and_a_bad_cursor_is_an_error(c: &mut Conn, family: &Family) {
    family.fill(c, 1000);
    let (names, longest, steps) = family.iterate(c, "MATCH m1?? COUNT 10", |_, _| {});
    let expected: BTreeSet<String> = (100..200).map(|i| format!("m{i}")).collect();
    assert_eq!(names, expected);
    assert!(longest <= 20 && steps >= 50, "{longest} {steps}");
    let scan = family.scan;
    assert_eq!(c.cmd(&format!("{scan} k x")), err("ERR invalid cursor"));
    assert_eq!(
        c.cmd(&format!("{scan} k 18446744073709551616")),
        err("ERR invalid cursor")
    );
    let R::Array(reply) = c.cmd(&format!("{scan} k 18446744073709551615 COUNT 10")) else {
        panic!("array");
    };
    assert_eq!(reply.len(), 2);
}
