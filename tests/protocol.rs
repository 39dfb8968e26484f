//! The wire protocol, over raw sockets against a 3-shard node: inline and multibulk requests,
//! pipelining, binary safety, limits, and Redis's exact protocol errors.

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{resp, Raw, Server};
use redis::Commands;

const SHARDS: usize = 3;
const MB: usize = 1024 * 1024;

fn server(extra: &[&str]) -> Server {
    let mut args = vec!["--appendonly", "no"];
    args.extend_from_slice(extra);
    Server::start(SHARDS, &args)
}

/// What the peer sent until it closed the connection, or `None` if it was still open after a few
/// seconds. A reset (the server closing with our bytes unread) counts as closed.
fn read_until_closed(stream: &mut TcpStream) -> Option<Vec<u8>> {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut all = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(all),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Some(all),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// Sends `bytes` (a write may fail once the server has closed) and expects `reply` then a close.
fn assert_reply_then_close(server: &Server, bytes: &[u8], reply: &str) {
    let mut raw = server.raw();
    let _ = raw.stream.write_all(bytes);
    let got = read_until_closed(&mut raw.stream)
        .unwrap_or_else(|| panic!("connection left open after {:?}", preview(bytes)));
    assert_eq!(
        String::from_utf8_lossy(&got),
        reply,
        "reply to {:?}",
        preview(bytes)
    );
}

fn preview(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(40)]).into_owned()
}

fn assert_still_serving(server: &Server) {
    let mut raw = server.raw();
    assert_eq!(raw.roundtrip(b"PING\r\n", 7), "+PONG\r\n");
}

/// One RESP2 reply, as text for simple types and raw bytes for bulk strings.
#[derive(Debug, PartialEq)]
enum Resp {
    Line(String),
    Bulk(Option<Vec<u8>>),
}

fn read_reply(reader: &mut impl BufRead) -> Resp {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line).unwrap();
    assert!(line.ends_with(b"\r\n"), "bad reply line {line:?}");
    let text = String::from_utf8_lossy(&line[..line.len() - 2]).into_owned();
    if !text.starts_with('$') {
        return Resp::Line(text);
    }
    let len: i64 = text[1..].parse().unwrap();
    if len < 0 {
        return Resp::Bulk(None);
    }
    let mut body = vec![0u8; len as usize + 2];
    reader.read_exact(&mut body).unwrap();
    body.truncate(len as usize);
    Resp::Bulk(Some(body))
}

#[test]
fn inline_commands_split_words_and_quotes_like_redis() {
    let server = server(&[]);
    let mut raw = server.raw();
    assert_eq!(raw.roundtrip(b"PING\r\n", 7), "+PONG\r\n");
    assert_eq!(raw.roundtrip(b"SET a b\r\n", 5), "+OK\r\n");
    assert_eq!(raw.roundtrip(&resp(&["GET", "a"]), 7), "$1\r\nb\r\n");
    // Double quotes take escapes, single quotes are literal; a bare `\n` ends a line too.
    assert_eq!(
        raw.roundtrip(b"SET \"key one\" \"v\\x41\\n\" \r\n", 5),
        "+OK\r\n"
    );
    assert_eq!(
        raw.roundtrip(&resp(&["GET", "key one"]), 9),
        "$3\r\nvA\n\r\n"
    );
    assert_eq!(raw.roundtrip(b"SET 'q k' 'it\\'s'\n", 5), "+OK\r\n");
    assert_eq!(raw.roundtrip(b"GET 'q k'\r\n", 10), "$4\r\nit's\r\n");
}

#[test]
fn pipeline_of_10000_commands_in_one_write_replies_in_order() {
    let server = server(&[]);
    let pairs = 5000;
    let mut batch = Vec::new();
    for i in 0..pairs {
        batch.extend_from_slice(&resp(&["SET", &format!("k:{i}"), &i.to_string()]));
        batch.extend_from_slice(&resp(&["GET", &format!("k:{i}")]));
    }
    // Keys of every shard are in the batch (slot ranges split 16384 in three).
    let slots: Vec<u16> = (0..pairs)
        .map(|i| redis::cluster_routing::get_slot(format!("k:{i}").as_bytes()))
        .collect();
    for shard in 0..SHARDS {
        let range = (shard * 16384 / SHARDS) as u16..((shard + 1) * 16384 / SHARDS) as u16;
        assert!(slots.iter().any(|s| range.contains(s)));
    }
    let mut raw = server.raw();
    let mut writer = raw.stream.try_clone().unwrap();
    // Write from another thread so that neither side can stall on a full socket buffer.
    let sender = std::thread::spawn(move || writer.write_all(&batch).unwrap());
    let mut reader = BufReader::new(&mut raw.stream);
    for i in 0..pairs {
        assert_eq!(read_reply(&mut reader), Resp::Line("+OK".into()), "SET {i}");
        assert_eq!(
            read_reply(&mut reader),
            Resp::Bulk(Some(i.to_string().into_bytes())),
            "GET {i}"
        );
    }
    sender.join().unwrap();
}

/// A pipeline's keys are warmed (prefetched) a few requests ahead of their commands, one shard
/// owning them all here. Requests that delete, retype or flush keys warmed ahead, switch the
/// database, or have no key at all must still be answered as if run one by one.
#[test]
fn pipeline_changing_the_keys_warmed_ahead_of_it_replies_as_run_one_by_one() {
    let server = Server::start(1, &["--appendonly", "no"]);
    let requests: &[&[&str]] = &[
        &["SET", "k1", "v1"],
        &["SET", "k2", "v2"],
        &["DEL", "k2"],
        &["GET", "k2"],
        &["PING"],
        &["SELECT", "1"],
        &["GET", "k1"],
        &["SET", "k1", "other"],
        &["SELECT", "0"],
        &["GET", "k1"],
        &["LPUSH", "k2", "x"],
        &["GET", "k2"],
        &["FLUSHDB"],
        &["GET", "k1"],
        &["ECHO", "hi"],
    ];
    let expected = [
        "+OK\r\n",
        "+OK\r\n",
        ":1\r\n",
        "$-1\r\n",
        "+PONG\r\n",
        "+OK\r\n",
        "$-1\r\n",
        "+OK\r\n",
        "+OK\r\n",
        "$2\r\nv1\r\n",
        ":1\r\n",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        "+OK\r\n",
        "$-1\r\n",
        "$2\r\nhi\r\n",
    ]
    .concat();
    let batch: Vec<u8> = requests.iter().flat_map(|args| resp(args)).collect();
    let mut raw = server.raw();
    assert_eq!(raw.roundtrip(&batch, expected.len()), expected);
    // Shorter pipelines than the warming's lead, too.
    for n in 2..5 {
        let batch: Vec<u8> = (0..n)
            .flat_map(|i| resp(&["INCR", &format!("n{n}:{}", i % 2)]))
            .collect();
        let expected: String = (0..n).map(|i| format!(":{}\r\n", i / 2 + 1)).collect();
        assert_eq!(
            raw.roundtrip(&batch, expected.len()),
            expected,
            "{n} requests"
        );
    }
}

#[test]
fn keys_and_values_are_binary_safe() {
    let server = server(&[]);
    let mut con = server.client();
    let all_bytes: Vec<u8> = (0..=255u8).collect();
    let keys: Vec<Vec<u8>> = vec![
        b"nul\0key".to_vec(),
        b"crlf\r\nkey".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x80],
        all_bytes.clone(),
        b"".to_vec(),
    ];
    for (i, key) in keys.iter().enumerate() {
        let mut value = all_bytes.clone();
        value.push(i as u8);
        let _: () = con.set(key, &value).unwrap();
    }
    for (i, key) in keys.iter().enumerate() {
        let got: Vec<u8> = con.get(key).unwrap();
        let mut value = all_bytes.clone();
        value.push(i as u8);
        assert_eq!(got, value, "key {key:?}");
    }
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, keys.len() as i64);
}

#[test]
fn a_ten_megabyte_argument_round_trips() {
    let server = server(&[]);
    let mut con = server.client();
    let value: Vec<u8> = (0..10 * MB).map(|i| (i % 251) as u8).collect();
    let _: () = con.set("big", &value).unwrap();
    let got: Vec<u8> = con.get("big").unwrap();
    assert!(got == value, "10 MB value came back changed");
}

#[test]
fn argument_over_proto_max_bulk_len_is_refused_and_only_that_connection_closed() {
    let server = server(&["--proto-max-bulk-len", "1mb"]);
    let mut bystander = server.raw();
    assert_eq!(bystander.roundtrip(b"SET by stander\r\n", 5), "+OK\r\n");
    // Exactly the limit is allowed.
    let mut at_limit = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048576\r\n".to_vec();
    at_limit.extend(std::iter::repeat_n(b'x', MB));
    at_limit.extend_from_slice(b"\r\n");
    assert_eq!(server.raw().roundtrip(&at_limit, 5), "+OK\r\n");
    assert_reply_then_close(
        &server,
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n",
        "-ERR Protocol error: invalid bulk length\r\n",
    );
    assert_eq!(
        bystander.roundtrip(&resp(&["GET", "by"]), 13),
        "$7\r\nstander\r\n"
    );
}

#[test]
fn malformed_requests_get_redis_protocol_errors_then_close() {
    let server = server(&[]);
    let cases: &[(&[u8], &str)] = &[
        (b"*x\r\n", "invalid multibulk length"),
        (b"*+1\r\n$4\r\nPING\r\n", "invalid multibulk length"),
        (b"*01\r\n$4\r\nPING\r\n", "invalid multibulk length"),
        (b"*2147483648\r\n", "invalid multibulk length"),
        (b"*99999999999999999999\r\n", "invalid multibulk length"),
        (b"*1\r\n+foo\r\n", "expected '$', got '+'"),
        (b"*1\r\nfoo\r\n", "expected '$', got 'f'"),
        (b"*2\r\n$3\r\nGET\r\n:3\r\n", "expected '$', got ':'"),
        (b"*1\r\n$x\r\n", "invalid bulk length"),
        (b"*1\r\n$-2\r\n", "invalid bulk length"),
        (b"*1\r\n$-1\r\n", "invalid bulk length"),
        (b"*1\r\n$+4\r\nPING\r\n", "invalid bulk length"),
        (b"SET a \"b\r\n", "unbalanced quotes in request"),
        (b"SET a 'b\r\n", "unbalanced quotes in request"),
        (b"SET 'a'b c\r\n", "unbalanced quotes in request"),
    ];
    for (input, reason) in cases {
        assert_reply_then_close(
            &server,
            input,
            &format!("-ERR Protocol error: {reason}\r\n"),
        );
    }
    let no_newline = [
        (b'x', "too big inline request"),
        (b'*', "too big mbulk count string"),
    ];
    for (first, reason) in no_newline {
        let mut input = vec![first];
        input.extend(std::iter::repeat_n(b'1', 70 * 1024));
        assert_reply_then_close(
            &server,
            &input,
            &format!("-ERR Protocol error: {reason}\r\n"),
        );
    }
    let mut long_bulk_count = b"*1\r\n$".to_vec();
    long_bulk_count.extend(std::iter::repeat_n(b'1', 70 * 1024));
    assert_reply_then_close(
        &server,
        &long_bulk_count,
        "-ERR Protocol error: too big bulk count string\r\n",
    );
    // Requests before the bad one are answered first.
    assert_reply_then_close(
        &server,
        b"PING\r\n*1\r\n$4\r\nPING\r\n*x\r\n",
        "+PONG\r\n+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n",
    );
    assert_still_serving(&server);
}

#[test]
fn bulk_shorter_than_its_declared_length_is_read_as_redis_reads_it() {
    // Redis takes exactly `$len` bytes and skips the next two without checking them.
    let server = server(&[]);
    let mut raw = server.raw();
    let expected = "-ERR unknown command 'PIN', with args beginning with: \r\n+PONG\r\n";
    assert_eq!(
        raw.roundtrip(b"*1\r\n$3\r\nPINGX\r\nPING\r\n", expected.len()),
        expected
    );
}

#[test]
fn unknown_commands_and_wrong_arity_get_redis_texts_and_keep_the_connection() {
    let server = server(&[]);
    let mut raw = server.raw();
    let cases: &[(&[u8], &str)] = &[
        (
            b"foo bar\r\n",
            "-ERR unknown command 'foo', with args beginning with: 'bar' \r\n",
        ),
        (
            b"*1\r\n$3\r\nfoo\r\n",
            "-ERR unknown command 'foo', with args beginning with: \r\n",
        ),
        (
            b"GET\r\n",
            "-ERR wrong number of arguments for 'get' command\r\n",
        ),
        (
            b"*3\r\n$3\r\nget\r\n$1\r\na\r\n$1\r\nb\r\n",
            "-ERR wrong number of arguments for 'get' command\r\n",
        ),
    ];
    for (input, reply) in cases {
        assert_eq!(raw.roundtrip(input, reply.len()), *reply);
    }
    assert_eq!(raw.roundtrip(b"PING\r\n", 7), "+PONG\r\n");
}

#[test]
fn command_names_in_any_case_or_near_a_known_one_resolve_each_on_its_own() {
    // The shard remembers the last name it found: names that differ from it in case, length or a
    // letter must still resolve as if looked up afresh.
    let server = server(&["--appendonly", "no"]);
    let requests: &[&[&str]] = &[
        &["SET", "k", "1"],
        &["set", "k", "2"],
        &["SETX", "k", "3"],
        &["SE", "k"],
        &["sEt", "k"],
        &["GET", "k"],
        &["GETX", "k"],
        &["gEt", "k"],
        &["SETNX", "k", "4"],
        &["SET", "k", "5"],
        &["GET", "k"],
    ];
    let expected = [
        "+OK\r\n",
        "+OK\r\n",
        "-ERR unknown command 'SETX', with args beginning with: 'k' '3' \r\n",
        "-ERR unknown command 'SE', with args beginning with: 'k' \r\n",
        "-ERR wrong number of arguments for 'set' command\r\n",
        "$1\r\n2\r\n",
        "-ERR unknown command 'GETX', with args beginning with: 'k' \r\n",
        "$1\r\n2\r\n",
        ":0\r\n",
        "+OK\r\n",
        "$1\r\n5\r\n",
    ]
    .concat();
    let batch: Vec<u8> = requests.iter().flat_map(|args| resp(args)).collect();
    let mut raw = server.raw();
    assert_eq!(raw.roundtrip(&batch, expected.len()), expected);
    // One request per read, too.
    for (args, reply) in [
        (&["GeT", "k"][..], "$1\r\n5\r\n"),
        (
            &["GETX", "k"][..],
            "-ERR unknown command 'GETX', with args beginning with: 'k' \r\n",
        ),
    ] {
        assert_eq!(raw.roundtrip(&resp(args), reply.len()), reply);
    }
}

#[test]
fn empty_lines_and_empty_multibulks_are_ignored() {
    let server = server(&[]);
    let mut raw = server.raw();
    raw.send(b"\r\n\n   \r\n*0\r\n*-1\r\nPING\r\n");
    assert_eq!(raw.read_exact(7), b"+PONG\r\n");
    // Nothing else came: the next reply is the next command's.
    assert_eq!(raw.roundtrip(b"PING x\r\n", 7), "$1\r\nx\r\n");
}

/// Raises this process's open-file limit to its hard limit, so it can hold many connections.
fn raise_fd_limit(needed: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < needed {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        }
    }
    assert!(
        limit.rlim_cur >= needed,
        "open file limit {} is below the {needed} this test needs",
        limit.rlim_cur
    );
}

#[test]
fn a_thousand_concurrent_connections_are_all_answered() {
    const CONNECTIONS: usize = 1000;
    raise_fd_limit(CONNECTIONS as u64 + 256);
    let server = server(&[]);
    let mut clients: Vec<Raw> = (0..CONNECTIONS).map(|_| server.raw()).collect();
    // Every connection sends before any reads: all of them are in flight at once.
    for (i, c) in clients.iter_mut().enumerate() {
        c.send(&resp(&["SET", &format!("conn:{i}"), &format!("v{i}")]));
    }
    for c in clients.iter_mut() {
        assert_eq!(c.read_exact(5), b"+OK\r\n");
    }
    for (i, c) in clients.iter_mut().enumerate() {
        c.send(&resp(&["GET", &format!("conn:{i}")]));
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let value = format!("v{i}");
        let expected = format!("${}\r\n{value}\r\n", value.len());
        assert_eq!(c.read_exact(expected.len()), expected.as_bytes());
    }
}

#[test]
fn a_client_disconnecting_mid_request_does_not_disturb_others() {
    let server = server(&[]);
    let mut steady = server.raw();
    assert_eq!(steady.roundtrip(b"SET steady 1\r\n", 5), "+OK\r\n");
    for partial in [
        &b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$5\r\nhe"[..],
        b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$1000000\r\nxxxx",
        b"SET half inline",
        b"*3\r\n$3\r\nSET\r\n$4\r\nhal",
    ] {
        let mut leaver = server.raw();
        leaver.send(partial);
        drop(leaver);
    }
    assert_eq!(
        steady.roundtrip(&resp(&["GET", "steady"]), 7),
        "$1\r\n1\r\n"
    );
    let mut con = server.client();
    let half: Option<String> = con.get("half").unwrap();
    assert_eq!(half, None, "an unfinished request never runs");
    let _: () = con.set("after", "ok").unwrap();
}

/// Every byte arriving on its own is a new edge for the shard's epoll-based reads: none may be
/// missed, on the shard that accepted a connection or on one it moved to (its keys' owner).
#[test]
fn requests_trickling_in_a_byte_at_a_time_on_many_connections_are_all_answered() {
    let server = server(&[]);
    let mut clients: Vec<Raw> = (0..12).map(|_| server.raw()).collect();
    for raw in &clients {
        raw.stream.set_nodelay(true).unwrap();
    }
    // Bytes a while apart (each read finds one), then ever closer (some come while a shard is
    // still busy with the previous one).
    for (round, pause_us) in [300, 20, 0].into_iter().enumerate() {
        // A SET then a GET of the key, so that the GET's bytes come while the SET runs (and,
        // before the connection moved, waits for the key's owner).
        let requests: Vec<Vec<u8>> = (0..clients.len())
            .map(|i| {
                let key = format!("trickle:{i}");
                let mut pair = resp(&["SET", &key, &format!("{round}-{i}")]);
                pair.extend(resp(&["GET", &key]));
                pair
            })
            .collect();
        let longest = requests.iter().map(Vec::len).max().unwrap();
        for at in 0..longest {
            for (raw, request) in clients.iter_mut().zip(&requests) {
                if let Some(&byte) = request.get(at) {
                    raw.send(&[byte]);
                }
            }
            std::thread::sleep(Duration::from_micros(pause_us));
        }
        for (i, raw) in clients.iter_mut().enumerate() {
            let value = format!("{round}-{i}");
            let expected = format!("+OK\r\n${}\r\n{value}\r\n", value.len());
            assert_eq!(
                String::from_utf8_lossy(&raw.read_exact(expected.len())),
                expected
            );
        }
        if round == 0 {
            // Enough commands for its key's owner that a connection moves there (steering).
            for (i, raw) in clients.iter_mut().enumerate() {
                let get = resp(&["GET", &format!("trickle:{i}")]);
                let value = format!("0-{i}");
                let reply = format!("${}\r\n{value}\r\n", value.len());
                raw.send(&get.repeat(300));
                assert_eq!(
                    raw.read_exact(reply.len() * 300),
                    reply.repeat(300).into_bytes()
                );
            }
        }
    }
    for (i, raw) in clients.iter_mut().enumerate() {
        let value = format!("2-{i}");
        let expected = format!("${}\r\n{value}\r\n", value.len());
        assert_eq!(
            raw.roundtrip(&resp(&["GET", &format!("trickle:{i}")]), expected.len()),
            expected
        );
    }
}

/// Input that arrives while a connection waits (blocked in BLPOP) is read once it is served.
#[test]
fn a_request_sent_while_blocked_is_answered_after_the_unblocking_reply() {
    let server = server(&[]);
    let mut blocked = server.raw();
    blocked.send(&resp(&["BLPOP", "trickle:queue", "0"]));
    std::thread::sleep(Duration::from_millis(100));
    blocked.send(&resp(&["PING"]));
    std::thread::sleep(Duration::from_millis(100));
    let mut con = server.client();
    let _: () = con.rpush("trickle:queue", "x").unwrap();
    let expected = "*2\r\n$13\r\ntrickle:queue\r\n$1\r\nx\r\n+PONG\r\n";
    assert_eq!(
        String::from_utf8_lossy(&blocked.read_exact(expected.len())),
        expected
    );
}

#[test]
fn query_buffer_limit_closes_clients_sending_oversized_unterminated_requests() {
    let server = server(&["--client-query-buffer-limit", "1mb"]);
    let mut bystander = server.raw();
    // A request under the limit is fine.
    let mut under = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$921600\r\n".to_vec();
    under.extend(std::iter::repeat_n(b'u', 900 * 1024));
    under.extend_from_slice(b"\r\n");
    assert_eq!(server.raw().roundtrip(&under, 5), "+OK\r\n");
    let mut bulk = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2097152\r\n".to_vec();
    bulk.extend(std::iter::repeat_n(b'b', 2 * MB - 100));
    let mut inline = b"SET k ".to_vec();
    inline.extend(std::iter::repeat_n(b'i', 2 * MB));
    for request in [bulk, inline] {
        let mut raw = server.raw();
        let _ = raw.stream.write_all(&request);
        let got = read_until_closed(&mut raw.stream);
        assert!(
            got.is_some(),
            "a 2 MB unterminated request closes the client"
        );
    }
    assert_eq!(bystander.roundtrip(b"PING\r\n", 7), "+PONG\r\n");
}
