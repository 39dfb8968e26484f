//! Where each run lies in a shard directory's journal, and reading one run back.
//!
//! The first reading of a journal checks every record and keeps, per run, only the LSNs of its
//! first and last record; the replay then reads each run again when its turn comes. So no more
//! than one journal segment per directory is in memory at a time.

use std::path::{Path, PathBuf};

use super::txns::TxnCensus;
use crate::journal::effect::{self, decode_epoch, decode_txn_tag};
use crate::journal::{JournalReader, Lsn, Record};

/// One run's records in a directory's journal: LSNs `first_lsn..=last_lsn`, none of them an
/// `EPOCH` record. A run that wrote nothing but its `EPOCH` record has no span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunSpan {
    pub epoch: u64,
    pub first_lsn: Lsn,
    pub last_lsn: Lsn,
}

/// What the first reading of a journal found.
pub struct Scanned {
    /// In LSN order.
    pub runs: Vec<RunSpan>,
    /// Records read (`EPOCH` records included) and their payload bytes.
    pub records: u64,
    pub bytes: u64,
}

/// Reads `reader` to its end, checking every record: the runs it holds (records before its first
/// `EPOCH` record belong to run `epoch`) and, into `txns`, the transaction parts it holds.
/// Where the journal ends (torn tail, corruption) is left to the reader's `finish`.
pub fn scan(
    dir: &Path,
    reader: &mut JournalReader,
    mut epoch: u64,
    txns: &mut TxnCensus,
) -> Result<Scanned, String> {
    let mut scanned = Scanned {
        runs: Vec::new(),
        records: 0,
        bytes: 0,
    };
    let mut open: Option<RunSpan> = None;
    for record in reader {
        let record = record.map_err(|e| e.to_string())?;
        scanned.records += 1;
        scanned.bytes += record.payload.len() as u64;
        if record.kind == effect::EPOCH {
            epoch = decode_epoch(record.payload.clone())
                .ok_or_else(|| bad_record(dir, &record, "bad EPOCH record"))?;
            scanned.runs.extend(open.take());
            continue;
        }
        if record.kind == effect::TXN_PART {
            let tag = decode_txn_tag(record.payload.clone())
                .ok_or_else(|| bad_record(dir, &record, "bad transaction part"))?;
            txns.count_part((epoch, tag.origin, tag.seq), tag.parts);
        }
        match &mut open {
            Some(run) => run.last_lsn = record.lsn,
            None => {
                open = Some(RunSpan {
                    epoch,
                    first_lsn: record.lsn,
                    last_lsn: record.lsn,
                })
            }
        }
    }
    scanned.runs.extend(open);
    Ok(scanned)
}

fn bad_record(dir: &Path, record: &Record, what: &str) -> String {
    format!(
        "journal {}: {what} at LSN {} (kind {})",
        dir.display(),
        record.lsn,
        record.kind
    )
}

/// Reads a directory's journal back run by run. It goes on from where the previous run ended
/// when the next run lies ahead (the usual case: runs are asked for in epoch order, and a
/// journal's runs are in epoch order), and reopens the journal at the run's first LSN otherwise.
pub struct RunReader {
    dir: PathBuf,
    reader: Option<JournalReader>,
    /// The LSN `reader` yields next.
    next_lsn: Lsn,
}

impl RunReader {
    pub fn new(dir: &Path) -> RunReader {
        RunReader {
            dir: dir.to_path_buf(),
            reader: None,
            next_lsn: 0,
        }
    }

    /// Lets go of the journal (and the segment in memory): for a directory with no run left.
    pub fn close(&mut self) {
        self.reader = None;
    }

    /// Calls `each` with every record of `run`, in LSN order.
    pub fn read(
        &mut self,
        run: &RunSpan,
        mut each: impl FnMut(Record) -> Result<(), String>,
    ) -> Result<(), String> {
        if self.reader.is_none() || self.next_lsn > run.first_lsn {
            let reader =
                JournalReader::open(&self.dir, run.first_lsn).map_err(|e| e.to_string())?;
            self.reader = Some(reader);
        }
        let reader = self.reader.as_mut().expect("opened");
        loop {
            // The first reading checked these records: missing or different ones mean the journal
            // changed under recovery.
            let changed = |what: String| {
                format!(
                    "journal {} changed during recovery: {what}",
                    self.dir.display()
                )
            };
            let record = match reader.next() {
                Some(record) => record.map_err(|e| changed(e.to_string()))?,
                None => return Err(changed(format!("it ends before LSN {}", run.last_lsn))),
            };
            self.next_lsn = record.lsn + 1;
            if record.lsn < run.first_lsn {
                continue;
            }
            if record.kind == effect::EPOCH {
                return Err(changed(format!("an EPOCH record at LSN {}", record.lsn)));
            }
            let last = record.lsn == run.last_lsn;
            each(record)?;
            if last {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::effect::{TxnPartEncoder, TxnTag};
    use crate::journal::{FsyncMode, Journal, JournalConfig};
    use crate::runtime::file::test_support::{run, TempDir};

    const SEGMENT_BYTES_SMALL: u64 = 64 * 1024;
    const PUT: u8 = effect::PUT;

    /// Writes `records` (kind, payload) as one shard's journal, in small segments.
    fn write_journal(dir: &Path, records: &[(u8, Vec<u8>)]) {
        let config = JournalConfig {
            segment_bytes: SEGMENT_BYTES_SMALL,
            ..JournalConfig::new(dir.to_path_buf(), 0, FsyncMode::Always)
        };
        let recovery = JournalReader::open(dir, 1).unwrap().finish().unwrap();
        run(async move {
            let journal = Journal::open(config, &recovery).await.unwrap();
            for (kind, payload) in records {
                let lsn = journal.append(0, 0, *kind, payload);
                journal.wait_durable(lsn).await.unwrap();
            }
        });
    }

    fn epoch(n: u64) -> (u8, Vec<u8>) {
        (effect::EPOCH, n.to_le_bytes().to_vec())
    }

    fn put(n: usize) -> (u8, Vec<u8>) {
        // Big enough that the runs span several segments.
        (PUT, format!("{n:0>2000}").into_bytes())
    }

    fn txn_part(seq: u64) -> (u8, Vec<u8>) {
        let tag = TxnTag {
            origin: 1,
            seq,
            parts: 2,
        };
        (effect::TXN_PART, TxnPartEncoder::new(tag).finish())
    }

    fn read_lsns(reader: &mut RunReader, run: &RunSpan) -> Vec<Lsn> {
        let mut lsns = Vec::new();
        reader
            .read(run, |record| {
                lsns.push(record.lsn);
                Ok(())
            })
            .unwrap();
        lsns
    }

    #[test]
    fn runs_are_located_and_read_back_in_any_order() {
        let dir = TempDir::new("recovery-runs");
        let mut records = vec![put(0), put(1)];
        records.push(epoch(3));
        records.extend((0..60).map(put));
        records.push(txn_part(9));
        records.push(epoch(4)); // A run that wrote nothing else.
        records.push(epoch(4));
        records.extend((0..40).map(put));
        write_journal(dir.path(), &records);

        let mut census = TxnCensus::default();
        let mut journal = JournalReader::open(dir.path(), 1).unwrap();
        let scanned = scan(dir.path(), &mut journal, 2, &mut census).unwrap();
        let expected = vec![
            RunSpan {
                epoch: 2,
                first_lsn: 1,
                last_lsn: 2,
            },
            RunSpan {
                epoch: 3,
                first_lsn: 4,
                last_lsn: 64,
            },
            RunSpan {
                epoch: 4,
                first_lsn: 67,
                last_lsn: 106,
            },
        ];
        assert_eq!(scanned.runs, expected);
        assert_eq!(scanned.records, records.len() as u64);
        assert_eq!(census.into_incomplete(), [(3, 1, 9)].into());

        let mut reader = RunReader::new(dir.path());
        assert_eq!(
            read_lsns(&mut reader, &expected[1]),
            (4..=64).collect::<Vec<_>>()
        );
        assert_eq!(
            read_lsns(&mut reader, &expected[2]),
            (67..=106).collect::<Vec<_>>()
        );
        // A run behind the reader: read again from its start.
        assert_eq!(read_lsns(&mut reader, &expected[0]), vec![1, 2]);
        assert_eq!(
            read_lsns(&mut reader, &expected[2]),
            (67..=106).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_journal_shortened_after_the_first_reading_is_an_error() {
        let dir = TempDir::new("recovery-runs-gone");
        write_journal(dir.path(), &[epoch(1), put(1), put(2)]);
        let mut reader = RunReader::new(dir.path());
        let beyond = RunSpan {
            epoch: 1,
            first_lsn: 2,
            last_lsn: 5,
        };
        let err = reader.read(&beyond, |_| Ok(())).unwrap_err();
        assert!(err.contains("ends before LSN 5"), "{err}");
    }
}
