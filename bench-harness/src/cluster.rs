//! Redis Cluster key routing: CRC16 hash slots (with `{hash tags}`), the slot map read from
//! `CLUSTER SLOTS`, and `-MOVED`/`-ASK` redirect parsing.

use crate::limits::{CLUSTER_NODES_MAX, CONTROL_TIMEOUT_SECS};
use crate::resp::{blocking_command, Value};
use std::net::TcpStream;
use std::time::Duration;

/// Number of hash slots in a Redis cluster.
pub const SLOT_COUNT: usize = 16384;

/// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), the checksum Redis Cluster uses.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= (byte as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The hash slot of `key`: only the part inside the first non-empty `{...}` counts, if any.
pub fn hash_slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let close = key[open + 1..].iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &key[open + 1..open + 1 + close])
    });
    crc16(tagged.unwrap_or(key)) % SLOT_COUNT as u16
}

/// A node's address as `host:port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeAddr {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Which node owns each slot.
#[derive(Debug, Clone)]
pub struct SlotMap {
    pub nodes: Vec<NodeAddr>,
    /// Index into `nodes` for every slot.
    owner: Vec<u16>,
}

impl SlotMap {
    /// The node index that owns `slot`.
    pub fn owner(&self, slot: u16) -> usize {
        self.owner[slot as usize] as usize
    }

    /// Records that `slot` moved to `addr`, adding the node if new; returns its index.
    pub fn reassign(&mut self, slot: u16, addr: NodeAddr) -> Result<usize, String> {
        let index = self.index_of(addr)?;
        self.owner[slot as usize] = index as u16;
        Ok(index)
    }

    /// The index of `addr`, adding it if new.
    pub fn index_of(&mut self, addr: NodeAddr) -> Result<usize, String> {
        if let Some(i) = self.nodes.iter().position(|n| *n == addr) {
            return Ok(i);
        }
        if self.nodes.len() >= CLUSTER_NODES_MAX {
            return Err(format!(
                "cluster names more than CLUSTER_NODES_MAX={CLUSTER_NODES_MAX} nodes"
            ));
        }
        self.nodes.push(addr);
        Ok(self.nodes.len() - 1)
    }

    /// Builds the map from a `CLUSTER SLOTS` reply; a node announced with an empty host gets
    /// `seed_host` (Redis does this for the node that answered).
    pub fn from_cluster_slots(reply: &Value, seed_host: &str) -> Result<SlotMap, String> {
        let Value::Array(Some(ranges)) = reply else {
            return Err(format!("CLUSTER SLOTS: expected an array, got {reply:?}"));
        };
        let mut map = SlotMap {
            nodes: Vec::new(),
            owner: vec![u16::MAX; SLOT_COUNT],
        };
        for range in ranges {
            let (start, end, addr) = parse_range(range, seed_host)?;
            let index = map.index_of(addr)?;
            for slot in start..=end {
                map.owner[slot] = index as u16;
            }
        }
        if let Some(slot) = map.owner.iter().position(|&o| o == u16::MAX) {
            return Err(format!(
                "CLUSTER SLOTS leaves slot {slot} unassigned; is the cluster fully set up?"
            ));
        }
        Ok(map)
    }

    /// Asks the node at `seed` for `CLUSTER SLOTS` and builds the map.
    pub fn fetch(seed: &NodeAddr) -> Result<SlotMap, String> {
        let mut stream = connect_blocking(seed)?;
        let reply = blocking_command(&mut stream, &[b"CLUSTER", b"SLOTS"])
            .map_err(|e| format!("CLUSTER SLOTS on {seed}: {e}"))?;
        if let Value::Error(e) = &reply {
            return Err(format!("CLUSTER SLOTS on {seed} failed: {e}"));
        }
        SlotMap::from_cluster_slots(&reply, &seed.host)
    }
}

fn parse_range(range: &Value, seed_host: &str) -> Result<(usize, usize, NodeAddr), String> {
    let bad = || format!("CLUSTER SLOTS: malformed slot range {range:?}");
    let Value::Array(Some(items)) = range else {
        return Err(bad());
    };
    let (Some(Value::Integer(start)), Some(Value::Integer(end)), Some(Value::Array(Some(node)))) =
        (items.first(), items.get(1), items.get(2))
    else {
        return Err(bad());
    };
    let slots = 0..SLOT_COUNT as i64;
    if !slots.contains(start) || !slots.contains(end) || start > end {
        return Err(bad());
    }
    let host = node.first().and_then(Value::as_text).ok_or_else(bad)?;
    let Some(Value::Integer(port)) = node.get(1) else {
        return Err(bad());
    };
    let port = u16::try_from(*port).map_err(|_| bad())?;
    let host = if host.is_empty() || host == "?" {
        seed_host.to_string()
    } else {
        host
    };
    Ok((*start as usize, *end as usize, NodeAddr { host, port }))
}

/// A redirect parsed from an error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// The slot now lives on the node for good.
    Moved { slot: u16, addr: NodeAddr },
    /// Ask the node this once (after `ASKING`).
    Ask { addr: NodeAddr },
}

/// Parses `MOVED <slot> <host>:<port>` or `ASK <slot> <host>:<port>`; `None` for other errors.
/// An empty host (Redis 7 may send `:port`) becomes `seed_host`.
pub fn parse_redirect(error: &[u8], seed_host: &str) -> Option<Redirect> {
    let text = std::str::from_utf8(error).ok()?;
    let mut parts = text.split_ascii_whitespace();
    let kind = parts.next()?;
    let slot: u16 = parts.next()?.parse().ok()?;
    let (host, port) = parts.next()?.rsplit_once(':')?;
    let addr = NodeAddr {
        host: if host.is_empty() {
            seed_host.to_string()
        } else {
            host.to_string()
        },
        port: port.parse().ok()?,
    };
    match kind {
        "MOVED" if (slot as usize) < SLOT_COUNT => Some(Redirect::Moved { slot, addr }),
        "ASK" => Some(Redirect::Ask { addr }),
        _ => None,
    }
}

/// Opens a blocking control connection with connect/read/write timeouts.
pub fn connect_blocking(addr: &NodeAddr) -> Result<TcpStream, String> {
    use std::net::ToSocketAddrs;
    let timeout = Duration::from_secs(CONTROL_TIMEOUT_SECS);
    let resolved = (addr.host.as_str(), addr.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr} resolves to no address"))?;
    let stream = TcpStream::connect_timeout(&resolved, timeout)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream.set_read_timeout(Some(timeout)).ok();
    stream.set_write_timeout(Some(timeout)).ok();
    stream.set_nodelay(true).ok();
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_matches_the_cluster_spec_check_value() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn hash_tags_route_keys_together() {
        assert_eq!(hash_slot(b"{user1000}.following"), hash_slot(b"user1000"));
        assert_eq!(hash_slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") % 16384);
        assert_eq!(hash_slot(b"foo{{bar}}zap"), crc16(b"{bar") % 16384);
        assert_eq!(hash_slot(b"foo"), 12182);
    }

    #[test]
    fn redirects_parse_and_other_errors_do_not() {
        let moved = parse_redirect(b"MOVED 3999 127.0.0.1:6381", "h").unwrap();
        assert_eq!(
            moved,
            Redirect::Moved {
                slot: 3999,
                addr: NodeAddr {
                    host: "127.0.0.1".into(),
                    port: 6381
                }
            }
        );
        let ask = parse_redirect(b"ASK 1 :7000", "127.0.0.1").unwrap();
        assert!(matches!(ask, Redirect::Ask { addr } if addr.host == "127.0.0.1"));
        assert_eq!(parse_redirect(b"ERR unknown command", "h"), None);
    }

    #[test]
    fn slot_map_rejects_partial_coverage() {
        let node = Value::Array(Some(vec![
            Value::Bulk(Some(b"127.0.0.1".to_vec())),
            Value::Integer(7000),
        ]));
        let half = Value::Array(Some(vec![Value::Array(Some(vec![
            Value::Integer(0),
            Value::Integer(8000),
            node.clone(),
        ]))]));
        assert!(SlotMap::from_cluster_slots(&half, "x").is_err());
        let full = Value::Array(Some(vec![Value::Array(Some(vec![
            Value::Integer(0),
            Value::Integer(16383),
            node,
        ]))]));
        let map = SlotMap::from_cluster_slots(&full, "x").unwrap();
        assert_eq!(map.owner(16383), 0);
    }
}
