//! The pub/sub directives' values: `notify-keyspace-events` (which keyspace events are published)
//! and `client-output-buffer-limit` (how much pushed output a client may have pending).

use super::directives::parse_memory;

/// `notify-keyspace-events` classes, as bits (Redis's `NOTIFY_*`).
pub mod notify {
    pub const KEYSPACE: u32 = 1 << 0; // K
    pub const KEYEVENT: u32 = 1 << 1; // E
    pub const GENERIC: u32 = 1 << 2; // g
    pub const STRING: u32 = 1 << 3; // $
    pub const LIST: u32 = 1 << 4; // l
    pub const SET: u32 = 1 << 5; // s
    pub const HASH: u32 = 1 << 6; // h
    pub const ZSET: u32 = 1 << 7; // z
    pub const EXPIRED: u32 = 1 << 8; // x
    pub const EVICTED: u32 = 1 << 9; // e
    pub const STREAM: u32 = 1 << 10; // t
    pub const KEY_MISS: u32 = 1 << 11; // m
    pub const MODULE: u32 = 1 << 12; // d
    pub const NEW: u32 = 1 << 13; // n
    /// `A`: every class but key-miss and new.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

    /// Class letters in the order Redis prints them (after `A` or the classes come K, E, m).
    pub const CLASS_LETTERS: &[(u32, char)] = &[
        (GENERIC, 'g'),
        (STRING, '$'),
        (LIST, 'l'),
        (SET, 's'),
        (HASH, 'h'),
        (ZSET, 'z'),
        (EXPIRED, 'x'),
        (EVICTED, 'e'),
        (STREAM, 't'),
        (MODULE, 'd'),
        (NEW, 'n'),
    ];
}

/// Parses Redis's flag letters; any other character is refused with Redis's text.
pub fn parse_notify_flags(text: &str) -> Result<u32, String> {
    let mut flags = 0;
    for c in text.chars() {
        flags |= match c {
            'A' => notify::ALL,
            'K' => notify::KEYSPACE,
            'E' => notify::KEYEVENT,
            'm' => notify::KEY_MISS,
            _ => notify::CLASS_LETTERS
                .iter()
                .find(|(_, letter)| *letter == c)
                .map(|(bit, _)| *bit)
                .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?,
        };
    }
    Ok(flags)
}

/// The canonical letters for `flags`, as `CONFIG GET` shows them.
pub fn format_notify_flags(flags: u32) -> String {
    let mut text = String::new();
    if flags & notify::ALL == notify::ALL {
        // Redis prints only `A` then, dropping `n` (CONFIG GET of "An" answers "A").
        text.push('A');
    } else {
        for (bit, letter) in notify::CLASS_LETTERS {
            if flags & bit != 0 {
                text.push(*letter);
            }
        }
    }
    for (bit, letter) in [
        (notify::KEYSPACE, 'K'),
        (notify::KEYEVENT, 'E'),
        (notify::KEY_MISS, 'm'),
    ] {
        if flags & bit != 0 {
            text.push(letter);
        }
    }
    text
}

/// The client classes `client-output-buffer-limit` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientClass {
    Normal = 0,
    Replica = 1,
    PubSub = 2,
}

/// One class's output limits: disconnect at `hard_bytes` pending, or after more than `soft_s`
/// seconds at or above `soft_bytes`. Zero turns a limit off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard_bytes: usize,
    pub soft_bytes: usize,
    pub soft_s: u64,
}

/// The limits of every class, indexed by `ClientClass`.
pub type OutputLimits = [OutputLimit; 3];

/// Redis's defaults: none for normal clients, 256mb/64mb/60 for replicas, 32mb/8mb/60 for pub/sub.
pub const DEFAULT_OUTPUT_LIMITS: OutputLimits = [
    OutputLimit {
        hard_bytes: 0,
        soft_bytes: 0,
        soft_s: 0,
    },
    OutputLimit {
        hard_bytes: 256 * 1024 * 1024,
        soft_bytes: 64 * 1024 * 1024,
        soft_s: 60,
    },
    OutputLimit {
        hard_bytes: 32 * 1024 * 1024,
        soft_bytes: 8 * 1024 * 1024,
        soft_s: 60,
    },
];

/// Applies `<class> <hard> <soft> <seconds>` groups (words, or one string of them) to `limits`;
/// nothing changes unless every group is valid.
pub fn parse_output_limits(values: &[String], limits: &mut OutputLimits) -> Result<(), String> {
    let words: Vec<&str> = values.iter().flat_map(|v| v.split_whitespace()).collect();
    if words.is_empty() || !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut parsed = *limits;
    for group in words.chunks(4) {
        let class = match group[0].to_ascii_lowercase().as_str() {
            "normal" => ClientClass::Normal,
            "replica" | "slave" => ClientClass::Replica,
            "pubsub" => ClientClass::PubSub,
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let bad = || "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
        parsed[class as usize] = OutputLimit {
            hard_bytes: parse_memory(group[1]).ok_or_else(bad)?,
            soft_bytes: parse_memory(group[2]).ok_or_else(bad)?,
            soft_s: group[3].parse().map_err(|_| bad())?,
        };
    }
    *limits = parsed;
    Ok(())
}

pub fn format_output_limits(limits: &OutputLimits) -> String {
    ["normal", "slave", "pubsub"]
        .iter()
        .zip(limits)
        .map(|(name, l)| format!("{name} {} {} {}", l.hard_bytes, l.soft_bytes, l.soft_s))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_flags_print_in_redis_canonical_order() {
        let f = |s| format_notify_flags(parse_notify_flags(s).unwrap());
        assert_eq!(f("KEA"), "AKE");
        assert_eq!(f("Kgx$lmn"), "g$lxnKm");
        assert_eq!(f("Ag$"), "A");
        assert_eq!(f("An"), "A");
        assert_eq!(f("Egn"), "gnE");
        assert_eq!(f(""), "");
        assert!(parse_notify_flags("Kq").is_err());
    }

    #[test]
    fn output_limits_parse_groups_and_refuse_bad_ones_whole() {
        let mut limits = DEFAULT_OUTPUT_LIMITS;
        parse_output_limits(&["normal 1k 0 0 pubsub 1 2 3".into()], &mut limits).unwrap();
        assert_eq!(
            format_output_limits(&limits),
            "normal 1000 0 0 slave 268435456 67108864 60 pubsub 1 2 3"
        );
        assert!(parse_output_limits(&["pubsub 32mb 8mb".into()], &mut limits).is_err());
        assert!(parse_output_limits(&["foo 1 1 1".into()], &mut limits).is_err());
        assert_eq!(limits[ClientClass::PubSub as usize].hard_bytes, 1);
    }
}
