//! One step of SSCAN, HSCAN or ZSCAN over a big collection (`hashtable`, `skiplist`).
//!
//! The cursor is a position in a fixed order of the elements: the 64-bit hash of each element
//! (the member or field) under a hasher with constant seeds, never 0 (0 starts and ends an
//! iteration). A step returns the elements whose position is at or past the cursor, smallest
//! positions first, about `count` of them, and the position of the first element it left out as
//! the next cursor. Because the order depends only on the elements themselves (not on where a
//! table keeps them, nor on the process: the seeds are constants), an element present for the
//! whole iteration has a position no step skips, whatever is added, removed or rehashed between
//! steps, and cursors stay valid across restarts and on a replica. Elements may repeat only when
//! two share a position (a 64-bit collision).
//!
//! Why not Redis's reverse-binary bucket cursor: the collections live in std `HashMap`/`HashSet`
//! (open addressing), which expose neither their buckets nor a way to start iterating at one, so
//! a step cannot jump to a position: it reads every element's position, O(N) time and O(N)
//! memory of (position, reference) pairs, to select the `count` smallest in O(N) (no sort).
//! The reply stays O(count); a step on a million members costs milliseconds, not one huge reply.

/// Seeds of the position hasher: constants, so that a cursor means the same in every process.
const POSITION_SEEDS: [u64; 4] = [
    0x6b65_656c_5f73_6361,
    0x6e5f_706f_7369_7469,
    0x6f6e_5f73_6565_6431,
    0x9e37_79b9_7f4a_7c15,
];

/// An element's position in the scan order: its hash under constant seeds, never 0.
pub fn scan_position(element: &[u8]) -> u64 {
    let [a, b, c, d] = POSITION_SEEDS;
    ahash::RandomState::with_seeds(a, b, c, d)
        .hash_one(element)
        .max(1)
}

/// One step: of `items` (each with its `scan_position`), those at or past `cursor`, about the
/// `count` smallest positions, and the next cursor (0 when none is left). Elements sharing the
/// boundary position are left whole to the next step, unless they are all the step would return:
/// then the step returns that whole group, so that every step moves the cursor on.
pub fn scan_step<T>(
    items: impl Iterator<Item = (u64, T)>,
    cursor: u64,
    count: usize,
) -> (Vec<T>, u64) {
    let count = count.max(1);
    let mut found: Vec<(u64, T)> = items.filter(|(pos, _)| *pos >= cursor).collect();
    if found.len() <= count {
        return (found.into_iter().map(|(_, item)| item).collect(), 0);
    }
    found.select_nth_unstable_by_key(count, |(pos, _)| *pos);
    let mut boundary = found[count].0;
    if found[..count].iter().all(|(pos, _)| *pos == boundary) {
        // More than `count` elements share one position (64-bit collisions): take them all.
        boundary = found
            .iter()
            .map(|(pos, _)| *pos)
            .filter(|pos| *pos > boundary)
            .min()
            .unwrap_or(0);
        if boundary == 0 {
            return (found.into_iter().map(|(_, item)| item).collect(), 0);
        }
    }
    let step = found
        .into_iter()
        .filter(|(pos, _)| *pos < boundary)
        .map(|(_, item)| item)
        .collect();
    (step, boundary)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs whole iterations over `positions` (the items are their indexes); returns how often
    /// each index was returned and the longest step.
    fn iterate(positions: &[u64], count: usize) -> (Vec<usize>, usize) {
        let (mut seen, mut longest, mut cursor) = (vec![0; positions.len()], 0, 0);
        loop {
            let items = positions.iter().copied().zip(0..);
            let (step, next) = scan_step(items, cursor, count);
            longest = longest.max(step.len());
            step.into_iter().for_each(|i: usize| seen[i] += 1);
            if next == 0 {
                return (seen, longest);
            }
            assert!(next > cursor, "a step moves the cursor on");
            cursor = next;
        }
    }

    #[test]
    fn a_full_iteration_returns_each_element_once_in_steps_of_count() {
        let positions: Vec<u64> = (0..1000)
            .map(|i| scan_position(format!("m{i}").as_bytes()))
            .collect();
        let (seen, longest) = iterate(&positions, 10);
        assert!(seen.iter().all(|&n| n == 1));
        assert_eq!(longest, 10);
    }

    #[test]
    fn colliding_positions_are_returned_together_and_the_cursor_moves_on() {
        let positions = [5, 5, 5, 5, 7, 9, 9, 3];
        let (seen, longest) = iterate(&positions, 2);
        assert!(seen.iter().all(|&n| n == 1));
        assert_eq!(longest, 4);
    }

    #[test]
    fn positions_are_stable_and_never_zero() {
        assert_eq!(scan_position(b"member"), scan_position(b"member"));
        assert_ne!(scan_position(b"a"), scan_position(b"b"));
        assert_ne!(scan_position(b""), 0);
    }
}
