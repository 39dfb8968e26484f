//! A binary-safe RESP client for tests that pin down replies byte for byte: it returns each reply
//! exactly as the server sent it (RESP2, and the RESP3 types the server uses).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::Server;

/// One decoded reply.
#[derive(Clone, Debug, PartialEq)]
pub enum R {
    Status(String),
    Err(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<R>),
    /// A RESP3 set (`~`).
    Set(Vec<R>),
    /// A RESP3 map (`%`).
    Map(Vec<(R, R)>),
    /// A RESP3 push (`>`): pub/sub messages.
    Push(Vec<R>),
    /// A RESP3 double (`,`), as the text the server sent.
    Double(String),
}

pub fn ok() -> R {
    R::Status("OK".into())
}

pub fn queued() -> R {
    R::Status("QUEUED".into())
}

/// MULTI, the commands (each must be QUEUED), EXEC's reply.
pub fn transaction(c: &mut Conn, commands: &[String]) -> R {
    assert_eq!(c.cmd("MULTI"), ok());
    for line in commands {
        assert_eq!(c.cmd(line), queued(), "{line}");
    }
    c.cmd("EXEC")
}

pub fn bulk(text: impl AsRef<[u8]>) -> R {
    R::Bulk(text.as_ref().to_vec())
}

pub fn err(text: &str) -> R {
    R::Err(text.into())
}

/// Redis's wrong-arity error for `command`.
pub fn arity(command: &str) -> R {
    R::Err(format!(
        "ERR wrong number of arguments for '{command}' command"
    ))
}

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const SYNTAX: &str = "ERR syntax error";

pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    pub fn new(server: &Server) -> Conn {
        Conn::at_port(server.port)
    }

    /// A connection to any RESP server on this host (e.g. a reference `redis-server`).
    pub fn at_port(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Conn {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
        }
    }

    /// Sends a command without reading its reply.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            let a = a.as_ref();
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&out).unwrap();
    }

    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> R {
        self.send(args);
        self.read()
    }

    /// `call` with space-separated words.
    pub fn cmd(&mut self, line: &str) -> R {
        self.call(&line.split(' ').collect::<Vec<_>>())
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        assert!(line.ends_with("\r\n"), "truncated reply line {line:?}");
        line.truncate(line.len() - 2);
        line
    }

    pub fn read(&mut self) -> R {
        let line = self.line();
        let (kind, rest) = line.split_at(1);
        let count = || rest.parse::<usize>().unwrap();
        match kind {
            "+" => R::Status(rest.into()),
            "-" => R::Err(rest.into()),
            ":" => R::Int(rest.parse().unwrap()),
            "_" => R::Nil,
            "," => R::Double(rest.into()),
            "$" | "*" if rest == "-1" => R::Nil,
            "$" => {
                let mut data = vec![0; count() + 2];
                self.reader.read_exact(&mut data).unwrap();
                data.truncate(data.len() - 2);
                R::Bulk(data)
            }
            "*" => R::Array((0..count()).map(|_| self.read()).collect()),
            "~" => R::Set((0..count()).map(|_| self.read()).collect()),
            ">" => R::Push((0..count()).map(|_| self.read()).collect()),
            "%" => R::Map((0..count()).map(|_| (self.read(), self.read())).collect()),
            _ => panic!("unexpected reply {line:?}"),
        }
    }
}

/// The shard that owns `key` when a node has `shards` shards (shard i owns the slots from
/// i * 16384 / shards).
pub fn shard_of(key: &str, shards: usize) -> usize {
    let slot = redis::cluster_routing::get_slot(key.as_bytes()) as usize;
    (0..shards)
        .rev()
        .find(|i| slot >= i * 16384 / shards)
        .unwrap()
}

/// One key per shard, named `{prefix}N`, in shard order.
pub fn key_per_shard(prefix: &str, shards: usize) -> Vec<String> {
    (0..shards)
        .map(|shard| {
            (0..)
                .map(|i| format!("{prefix}{i}"))
                .find(|k| shard_of(k, shards) == shard)
                .unwrap()
        })
        .collect()
}

/// A flat reply of bulk strings, as words.
pub fn words(reply: R) -> Vec<String> {
    match reply {
        R::Array(items) => items
            .into_iter()
            .map(|item| match item {
                R::Bulk(b) => String::from_utf8(b).unwrap(),
                other => panic!("not a bulk string: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

/// Words of a text, for comparing with `words`.
pub fn split(text: &str) -> Vec<String> {
    text.split_whitespace().map(String::from).collect()
}
