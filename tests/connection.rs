//! Connection commands and CLIENT: replies as Redis 7 gives them, RESP3 switching, and clients
//! seen and killed across shards.

mod common;

use std::io::Read;

use common::{resp, Raw, Server};

fn start() -> Server {
    Server::start(3, &["--appendonly", "no"])
}

/// Reads one whole RESP2/RESP3 reply from the socket and returns its bytes as text.
fn read_reply(raw: &mut Raw) -> String {
    let mut out = Vec::new();
    read_value(raw, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn read_line(raw: &mut Raw, out: &mut Vec<u8>) -> String {
    let start = out.len();
    let mut byte = [0u8; 1];
    while !out.ends_with(b"\r\n") || out.len() - start < 2 {
        raw.stream.read_exact(&mut byte).expect("reply line");
        out.push(byte[0]);
    }
    String::from_utf8_lossy(&out[start..out.len() - 2]).into_owned()
}

fn read_value(raw: &mut Raw, out: &mut Vec<u8>) {
    let line = read_line(raw, out);
    let (kind, rest) = line.split_at(1);
    let n: i64 = rest.parse().unwrap_or(0);
    match kind {
        "$" | "=" | "!" if n >= 0 => out.extend(raw.read_exact(n as usize + 2)),
        "*" | "~" | ">" => (0..n).for_each(|_| read_value(raw, out)),
        "%" => (0..2 * n).for_each(|_| read_value(raw, out)),
        _ => {}
    }
}

/// Sends one command on a raw socket and reads its reply.
fn call(raw: &mut Raw, args: &[&str]) -> String {
    raw.send(&resp(args));
    read_reply(raw)
}

/// The shard a client id belongs to (ids are `seq * SHARDS_MAX + shard + 1`).
fn shard_of(id: i64) -> i64 {
    (id - 1) % 1024
}

fn client_id(raw: &mut Raw) -> i64 {
    let reply = call(raw, &["CLIENT", "ID"]);
    reply.trim()[1..].parse().unwrap()
}

#[test]
fn ping_echo_and_select_answer_as_redis() {
    let server = start();
    let mut raw = server.raw();
    assert_eq!(call(&mut raw, &["PING"]), "+PONG\r\n");
    assert_eq!(call(&mut raw, &["PING", "hi"]), "$2\r\nhi\r\n");
    assert_eq!(call(&mut raw, &["ECHO", "hello"]), "$5\r\nhello\r\n");
    assert_eq!(
        call(&mut raw, &["ECHO"]),
        "-ERR wrong number of arguments for 'echo' command\r\n"
    );
    assert_eq!(call(&mut raw, &["SELECT", "1"]), "+OK\r\n");
    assert_eq!(call(&mut raw, &["SET", "k", "in-db1"]), "+OK\r\n");
    assert_eq!(call(&mut raw, &["SELECT", "0"]), "+OK\r\n");
    assert_eq!(call(&mut raw, &["GET", "k"]), "$-1\r\n");
    assert_eq!(
        call(&mut raw, &["SELECT", "16"]),
        "-ERR DB index is out of range\r\n"
    );
    assert_eq!(
        call(&mut raw, &["SELECT", "x"]),
        "-ERR value is not an integer or out of range\r\n"
    );
}

#[test]
fn hello_3_switches_the_connection_to_resp3() {
    let server = start();
    let mut raw = server.raw();
    let hello = call(&mut raw, &["HELLO", "3"]);
    assert!(hello.starts_with("%7\r\n"), "{hello}");
    for part in [
        "$6\r\nserver\r\n$5\r\nredis\r\n",
        "$7\r\nversion\r\n$5\r\n7.2.4\r\n",
        "$5\r\nproto\r\n:3\r\n",
        "$4\r\nmode\r\n$10\r\nstandalone\r\n",
        "$4\r\nrole\r\n$6\r\nmaster\r\n",
        "$7\r\nmodules\r\n*0\r\n",
    ] {
        assert!(hello.contains(part), "{part:?} missing in {hello:?}");
    }
    assert_eq!(call(&mut raw, &["GET", "missing"]), "_\r\n");
    assert!(call(&mut raw, &["CONFIG", "GET", "maxclients"]).starts_with("%1\r\n"));
    let back = call(&mut raw, &["HELLO", "2"]);
    assert!(back.starts_with("*14\r\n"), "{back}");
    assert_eq!(call(&mut raw, &["GET", "missing"]), "$-1\r\n");
}

#[test]
fn hello_without_version_keeps_the_protocol_and_reports_the_id() {
    let server = start();
    let mut raw = server.raw();
    let id = client_id(&mut raw);
    let hello = call(&mut raw, &["HELLO"]);
    assert!(hello.starts_with("*14\r\n"), "{hello}");
    assert!(hello.contains("$5\r\nproto\r\n:2\r\n"));
    assert!(hello.contains(&format!("$2\r\nid\r\n:{id}\r\n")), "{hello}");
}

#[test]
fn hello_refuses_bad_versions_options_and_users_without_switching() {
    let server = start();
    let mut raw = server.raw();
    assert_eq!(
        call(&mut raw, &["HELLO", "4"]),
        "-NOPROTO unsupported protocol version\r\n"
    );
    assert_eq!(
        call(&mut raw, &["HELLO", "x"]),
        "-ERR Protocol version is not an integer or out of range\r\n"
    );
    assert_eq!(
        call(&mut raw, &["HELLO", "3", "foo"]),
        "-ERR Syntax error in HELLO option 'foo'\r\n"
    );
    assert_eq!(
        call(&mut raw, &["HELLO", "3", "AUTH", "bob", "pw"]),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(
        call(&mut raw, &["HELLO", "3", "SETNAME", "bad name"]),
        "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
    );
    assert_eq!(call(&mut raw, &["GET", "missing"]), "$-1\r\n");
    let hello = call(
        &mut raw,
        &["HELLO", "3", "AUTH", "default", "any", "SETNAME", "app"],
    );
    assert!(hello.starts_with("%7\r\n"), "{hello}");
    assert_eq!(call(&mut raw, &["CLIENT", "GETNAME"]), "$3\r\napp\r\n");
}

#[test]
fn auth_acts_as_the_nopass_default_user() {
    let server = start();
    let mut raw = server.raw();
    assert_eq!(
        call(&mut raw, &["AUTH", "secret"]),
        "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"
    );
    assert_eq!(call(&mut raw, &["AUTH", "default", "anything"]), "+OK\r\n");
    assert_eq!(
        call(&mut raw, &["AUTH", "bob", "pw"]),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(
        call(&mut raw, &["AUTH", "a", "b", "c"]),
        "-ERR syntax error\r\n"
    );
}

#[test]
fn quit_replies_ok_then_closes_the_connection() {
    let server = start();
    let mut raw = server.raw();
    raw.send(&resp(&["QUIT"]));
    assert_eq!(raw.read_to_close(), "+OK\r\n");
}

#[test]
fn reset_returns_to_resp2_db0_and_no_name() {
    let server = start();
    let mut raw = server.raw();
    call(&mut raw, &["HELLO", "3", "SETNAME", "before"]);
    assert_eq!(call(&mut raw, &["SELECT", "2"]), "+OK\r\n");
    assert_eq!(call(&mut raw, &["SET", "k", "v"]), "+OK\r\n");
    assert_eq!(call(&mut raw, &["RESET"]), "+RESET\r\n");
    assert_eq!(call(&mut raw, &["GET", "k"]), "$-1\r\n");
    assert_eq!(call(&mut raw, &["CLIENT", "GETNAME"]), "$-1\r\n");
}

#[test]
fn client_name_info_and_flags() {
    let server = start();
    let mut raw = server.raw();
    let id = client_id(&mut raw);
    assert_eq!(call(&mut raw, &["CLIENT", "GETNAME"]), "$-1\r\n");
    assert_eq!(
        call(&mut raw, &["CLIENT", "SETNAME", "a b"]),
        "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
    );
    assert_eq!(call(&mut raw, &["CLIENT", "SETNAME", "worker"]), "+OK\r\n");
    assert_eq!(call(&mut raw, &["CLIENT", "GETNAME"]), "$6\r\nworker\r\n");
    assert_eq!(
        call(&mut raw, &["CLIENT", "SETINFO", "lib-name", "keel-test"]),
        "+OK\r\n"
    );
    assert_eq!(
        call(&mut raw, &["CLIENT", "SETINFO", "lib-ver", "1 2"]),
        "-ERR lib-ver cannot contain spaces, newlines or special characters.\r\n"
    );
    assert_eq!(
        call(&mut raw, &["CLIENT", "SETINFO", "color", "red"]),
        "-ERR Unrecognized option 'color'\r\n"
    );
    assert_eq!(call(&mut raw, &["CLIENT", "NO-EVICT", "on"]), "+OK\r\n");
    assert_eq!(
        call(&mut raw, &["CLIENT", "NO-TOUCH", "maybe"]),
        "-ERR syntax error\r\n"
    );
    let info = call(&mut raw, &["CLIENT", "INFO"]);
    for field in [
        format!("id={id} "),
        "name=worker ".into(),
        "flags=e ".into(),
        "cmd=client|info ".into(),
        "lib-name=keel-test ".into(),
    ] {
        assert!(info.contains(&field), "{field} missing in {info}");
    }
    assert!(info.ends_with("\n\r\n"));
    assert_eq!(
        call(&mut raw, &["CLIENT", "NOSUCH"]),
        "-ERR unknown subcommand 'NOSUCH'. Try CLIENT HELP.\r\n"
    );
    assert!(call(&mut raw, &["CLIENT", "HELP"]).contains("+CLIENT <subcommand>"));
}

/// Most connections a test opens while waiting for the kernel to hand some to another shard.
const CONNECTIONS_MAX: usize = 100;

/// Opens at least `count` connections, and more until they span at least two shards (which
/// shard accepts a connection is up to the kernel); returns them with their ids.
fn clients_on_several_shards(server: &Server, count: usize) -> Vec<(Raw, i64)> {
    let mut clients: Vec<(Raw, i64)> = Vec::new();
    let mut shards = std::collections::BTreeSet::new();
    while clients.len() < count || shards.len() < 2 {
        assert!(
            clients.len() < CONNECTIONS_MAX,
            "all connections on one shard"
        );
        let mut raw = server.raw();
        let id = client_id(&mut raw);
        shards.insert(shard_of(id));
        clients.push((raw, id));
    }
    clients
}

#[test]
fn client_list_shows_the_clients_of_every_shard() {
    let server = start();
    let mut clients = clients_on_several_shards(&server, 9);
    let ids: Vec<i64> = clients.iter().map(|(_, id)| *id).collect();
    let list = call(&mut clients[0].0, &["CLIENT", "LIST"]);
    for id in &ids {
        assert!(
            list.contains(&format!("id={id} ")),
            "id {id} missing: {list}"
        );
    }
    let listed: Vec<i64> = list
        .lines()
        .filter_map(|l| l.split_once("id=")?.1.split(' ').next()?.parse().ok())
        .collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "CLIENT LIST is in id order");

    let some = call(
        &mut clients[0].0,
        &[
            "CLIENT",
            "LIST",
            "ID",
            &ids[1].to_string(),
            &ids[2].to_string(),
        ],
    );
    assert_eq!(some.matches("id=").count(), 2, "{some}");
    let normal = call(&mut clients[0].0, &["CLIENT", "LIST", "TYPE", "normal"]);
    assert!(normal.matches("id=").count() >= ids.len());
    assert_eq!(
        call(&mut clients[0].0, &["CLIENT", "LIST", "TYPE", "pubsub"]),
        "$0\r\n\r\n"
    );
    assert_eq!(
        call(&mut clients[0].0, &["CLIENT", "LIST", "TYPE", "bogus"]),
        "-ERR Unknown client type 'bogus'\r\n"
    );
    assert_eq!(
        call(&mut clients[0].0, &["CLIENT", "LIST", "ID", "x"]),
        "-ERR Invalid client ID\r\n"
    );
}

#[test]
fn client_kill_id_closes_a_connection_on_another_shard() {
    let server = start();
    let mut clients = clients_on_several_shards(&server, 9);
    let (mut killer, killer_id) = clients.remove(0);
    let index = clients
        .iter()
        .position(|(_, id)| shard_of(*id) != shard_of(killer_id))
        .expect("a client on another shard");
    let (mut victim, victim_id) = clients.remove(index);
    assert_eq!(
        call(
            &mut killer,
            &["CLIENT", "KILL", "ID", &victim_id.to_string()]
        ),
        ":1\r\n"
    );
    assert_eq!(victim.read_to_close(), "");
    let list = call(&mut killer, &["CLIENT", "LIST"]);
    assert!(!list.contains(&format!("id={victim_id} ")), "{list}");
    assert_eq!(
        call(
            &mut killer,
            &["CLIENT", "KILL", "ID", &victim_id.to_string()]
        ),
        ":0\r\n"
    );
    assert_eq!(
        call(&mut killer, &["CLIENT", "KILL", "ID", "0"]),
        "-ERR client-id should be greater than 0\r\n"
    );
}

#[test]
fn client_kill_by_address_and_skipme() {
    let server = start();
    let mut clients = clients_on_several_shards(&server, 6);
    let (mut killer, killer_id) = clients.remove(0);
    let (mut victim, _) = clients.remove(0);
    let victim_addr = victim.stream.local_addr().unwrap().to_string();
    assert_eq!(
        call(&mut killer, &["CLIENT", "KILL", &victim_addr]),
        "+OK\r\n"
    );
    assert_eq!(victim.read_to_close(), "");
    assert_eq!(
        call(&mut killer, &["CLIENT", "KILL", &victim_addr]),
        "-ERR No such client\r\n"
    );
    assert_eq!(
        call(&mut killer, &["CLIENT", "KILL", "ADDR", "1.2.3.4:5"]),
        ":0\r\n"
    );
    assert_eq!(
        call(&mut killer, &["CLIENT", "KILL", "ID", "1", "FOO", "bar"]),
        "-ERR syntax error\r\n"
    );
    let own = killer_id.to_string();
    // SKIPME defaults to yes: a client does not kill itself unless asked to.
    assert_eq!(call(&mut killer, &["CLIENT", "KILL", "ID", &own]), ":0\r\n");
    killer.send(&resp(&["CLIENT", "KILL", "ID", &own, "SKIPME", "no"]));
    assert_eq!(killer.read_to_close(), ":1\r\n");
    // The others are untouched.
    let (mut other, _) = clients.remove(0);
    assert_eq!(call(&mut other, &["PING"]), "+PONG\r\n");
}

#[test]
fn quit_in_a_pipeline_answers_what_came_before_it_then_closes() {
    let server = Server::start(3, &["--appendonly", "no"]);
    let mut raw = server.raw();
    raw.send(b"PING\r\nSET k v\r\nQUIT\r\nSET after quit\r\n");
    assert_eq!(raw.read_to_close(), "+PONG\r\n+OK\r\n+OK\r\n");
    let mut con = server.client();
    let after: Option<String> = redis::cmd("GET").arg("after").query(&mut con).unwrap();
    assert_eq!(after, None, "nothing after QUIT may run");
}

/// The `CLIENT LIST` line of client `id`, as `observer` sees it.
fn line_of(observer: &mut Raw, id: i64) -> String {
    call(observer, &["CLIENT", "LIST", "ID", &id.to_string()])
}

#[test]
fn client_list_shows_transactions_and_blocked_clients_on_any_shard() {
    let server = start();
    let mut clients = clients_on_several_shards(&server, 4);
    let (mut observer, observer_id) = clients.remove(0);
    let other = clients
        .iter()
        .position(|(_, id)| shard_of(*id) != shard_of(observer_id))
        .expect("a client on another shard");
    let (mut txn, txn_id) = clients.remove(other);
    let (mut blocked, blocked_id) = clients.remove(0);
    let idle = line_of(&mut observer, txn_id);
    assert!(
        idle.contains(" flags=N ") && idle.contains(" multi=-1 watch=0 "),
        "{idle}"
    );

    assert_eq!(call(&mut txn, &["WATCH", "a", "b"]), "+OK\r\n");
    assert_eq!(call(&mut txn, &["MULTI"]), "+OK\r\n");
    let empty = line_of(&mut observer, txn_id);
    assert!(
        empty.contains(" flags=x ") && empty.contains(" multi=0 watch=2 "),
        "{empty}"
    );
    assert_eq!(call(&mut txn, &["SET", "a", "1"]), "+QUEUED\r\n");
    assert_eq!(call(&mut txn, &["GET", "a"]), "+QUEUED\r\n");
    let queued = line_of(&mut observer, txn_id);
    assert!(
        queued.contains(" flags=x ") && queued.contains(" multi=2 watch=2 "),
        "{queued}"
    );
    call(&mut txn, &["EXEC"]);
    let done = line_of(&mut observer, txn_id);
    assert!(
        done.contains(" flags=N ") && done.contains(" multi=-1 watch=0 "),
        "{done}"
    );

    blocked.send(&resp(&["BLPOP", "nothing", "0"]));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !line_of(&mut observer, blocked_id).contains(" flags=b ") {
        assert!(std::time::Instant::now() < deadline, "never shown blocked");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    call(&mut observer, &["RPUSH", "nothing", "x"]);
    assert_eq!(
        read_reply(&mut blocked),
        "*2\r\n$7\r\nnothing\r\n$1\r\nx\r\n"
    );
    let served = line_of(&mut observer, blocked_id);
    assert!(served.contains(" flags=N "), "{served}");
}

#[test]
fn subscribers_are_pubsub_clients_for_client_list_and_kill() {
    let server = start();
    let mut clients = clients_on_several_shards(&server, 4);
    let (mut observer, _) = clients.remove(0);
    let (mut subscriber, sub_id) = clients.remove(0);
    let (mut plain, plain_id) = clients.remove(0);
    call(&mut subscriber, &["SUBSCRIBE", "news"]);
    let pubsub = call(&mut observer, &["CLIENT", "LIST", "TYPE", "pubsub"]);
    assert_eq!(pubsub.matches("id=").count(), 1, "{pubsub}");
    assert!(pubsub.contains(&format!("id={sub_id} ")) && pubsub.contains(" flags=P "));
    let normal = call(&mut observer, &["CLIENT", "LIST", "TYPE", "normal"]);
    assert!(!normal.contains(&format!("id={sub_id} ")), "{normal}");
    assert!(normal.contains(&format!("id={plain_id} ")), "{normal}");
    assert_eq!(
        call(&mut observer, &["CLIENT", "KILL", "TYPE", "master"]),
        ":0\r\n"
    );
    assert_eq!(
        call(&mut observer, &["CLIENT", "KILL", "TYPE", "pubsub"]),
        ":1\r\n"
    );
    assert_eq!(subscriber.read_to_close(), "");
    assert_eq!(call(&mut plain, &["PING"]), "+PONG\r\n");
}

// ---- CLIENT REPLY ---------------------------------------------------------------------------

/// Keys named `{prefix}N`, one per shard of a 3-shard node, so a pipeline crosses shards.
fn keys_on_shards(prefix: &str) -> Vec<String> {
    let slot = |k: &str| redis::cluster_routing::get_slot(k.as_bytes()) as usize;
    (0..3)
        .map(|shard| {
            (0..)
                .map(|i| format!("{prefix}{i}"))
                .find(|k| slot(k) * 3 / 16384 == shard)
                .unwrap()
        })
        .collect()
}

/// One pipeline over keys of every shard: SKIP hides exactly the next reply, OFF hides every
/// reply until ON, whose own +OK is written; the commands still run.
#[test]
fn client_reply_skip_off_on_in_one_pipeline_across_shards() {
    let server = start();
    let mut raw = server.raw();
    let k = keys_on_shards("reply");
    let mut pipeline = Vec::new();
    for args in [
        vec!["SET", &k[0], "a"],
        vec!["CLIENT", "REPLY", "SKIP"],
        vec!["SET", &k[1], "b"],
        vec!["GET", &k[1]],
        vec!["CLIENT", "REPLY", "OFF"],
        vec!["GET", &k[0]],
        vec!["INCR", &k[2]],
        vec!["CLIENT", "REPLY", "SKIP"],
        vec!["NOSUCHCOMMAND"],
        vec!["INCR", &k[2]],
        vec!["CLIENT", "REPLY", "ON"],
        vec!["GET", &k[2]],
    ] {
        pipeline.extend(resp(&args));
    }
    raw.send(&pipeline);
    let mut replies = Vec::new();
    for _ in 0..4 {
        replies.push(read_reply(&mut raw));
    }
    assert_eq!(
        replies,
        ["+OK\r\n", "$1\r\nb\r\n", "+OK\r\n", "$1\r\n2\r\n"]
    );
    // Nothing else was written before the next command's reply.
    assert_eq!(call(&mut raw, &["PING"]), "+PONG\r\n");
}

/// The mode lasts across separate writes until ON (or RESET); a bad mode is a syntax error, and a
/// CLIENT REPLY queued in MULTI changes nothing.
#[test]
fn client_reply_off_lasts_across_requests_until_on() {
    let server = start();
    let mut raw = server.raw();
    assert_eq!(
        call(&mut raw, &["CLIENT", "REPLY", "maybe"]),
        "-ERR syntax error\r\n"
    );
    raw.send(&resp(&["CLIENT", "REPLY", "OFF"]));
    raw.send(&resp(&["SET", "k", "1"]));
    std::thread::sleep(std::time::Duration::from_millis(50));
    raw.send(&resp(&["INCR", "k"]));
    assert_eq!(call(&mut raw, &["CLIENT", "REPLY", "ON"]), "+OK\r\n");
    assert_eq!(call(&mut raw, &["GET", "k"]), "$1\r\n2\r\n");
    raw.send(&resp(&["CLIENT", "REPLY", "SKIP"]));
    std::thread::sleep(std::time::Duration::from_millis(50));
    raw.send(&resp(&["GET", "k"]));
    assert_eq!(call(&mut raw, &["ECHO", "x"]), "$1\r\nx\r\n");
    raw.send(&resp(&["CLIENT", "REPLY", "OFF"]));
    assert_eq!(call(&mut raw, &["RESET"]), "+RESET\r\n");
    assert_eq!(call(&mut raw, &["MULTI"]), "+OK\r\n");
    assert_eq!(call(&mut raw, &["CLIENT", "REPLY", "OFF"]), "+QUEUED\r\n");
    assert_eq!(call(&mut raw, &["EXEC"]), "*1\r\n+OK\r\n");
    assert_eq!(call(&mut raw, &["PING"]), "+PONG\r\n");
}
