//! `DEBUG RELOAD`: a shard's keyspace written out in the snapshot format, emptied and read back
//! from the file, all at once (the shard serves nothing meanwhile, as Redis stops while it saves
//! and reloads its RDB). A round trip through the persistence format that changes nothing else:
//! the journal already holds what the keyspace holds, so the reload journals nothing.

use std::io::Write;
use std::path::Path;

use super::format::{self, Checked, Header};
use super::writer::SnapshotRun;
use crate::journal::effect::Effect;
use crate::keyspace::Keyspace;

/// Entries encoded between two writes to the file: bounds the buffer, not the file.
const ENTRIES_PER_WRITE: usize = 10_000;

/// Writes `keyspace`'s slots `header.slots` to `path`, empties them and loads them back from the
/// file, which is then deleted. Returns the keys loaded (expired ones are left out, as a restart
/// leaves them out). A failure to write or check the file leaves the keyspace as it was.
pub fn round_trip(
    keyspace: &mut Keyspace,
    header: Header,
    path: &Path,
    now_ms: u64,
) -> Result<u64, String> {
    let slots = header.slots.clone();
    let checked = match write(keyspace, header, path, now_ms).and_then(|()| format::check(path)) {
        Ok(checked) => checked,
        Err(e) => {
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
    };
    let tracking = keyspace.tracks_changes();
    keyspace.set_track_changes(false);
    for db in &mut keyspace.dbs {
        db.clear_slots(slots.clone());
    }
    let loaded = load(&checked, keyspace);
    keyspace.set_track_changes(tracking);
    let _ = std::fs::remove_file(path);
    loaded
}

fn write(keyspace: &mut Keyspace, header: Header, path: &Path, now_ms: u64) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(fail)?);
    let mut run = SnapshotRun::new(header);
    while !run.is_walked() {
        run.step(keyspace, ENTRIES_PER_WRITE, usize::MAX, now_ms);
        out.write_all(&run.take_chunk()).map_err(fail)?;
    }
    out.write_all(&run.finish()).map_err(fail)?;
    out.flush().map_err(fail)
}

/// Puts the keys of snapshot `checked` into `keyspace` (changes not recorded); returns how many.
pub fn load(checked: &Checked, keyspace: &mut Keyspace) -> Result<u64, String> {
    let path = checked.path.display();
    let mut keys = 0;
    checked.for_each_entry(|entry| {
        let Some(db) = keyspace.dbs.get_mut(entry.db as usize) else {
            return Err(format!("{path}: an entry of no database"));
        };
        match entry.effect {
            Effect::Put {
                key,
                value,
                expire_at_ms,
            } => {
                db.insert(&key, value.detached(), expire_at_ms);
                keys += 1;
            }
            // More of a big collection: nothing expires while the file is read (time 0).
            Effect::Delta { key, delta } => db
                .apply(&key, delta, 0)
                .map_err(|_| format!("{path}: a part of another type"))?,
            _ => return Err(format!("{path}: an entry is not a key")),
        }
        Ok(())
    })?;
    Ok(keys)
}
