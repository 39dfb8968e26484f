//! Main-port connections whose commands keep going to one other shard move to that shard.

mod common;

use common::resp::shard_of;
use common::Server;

const SHARDS: usize = 3;

fn owner(key: &str) -> usize {
    shard_of(key, SHARDS)
}

/// Which shard serves the connection: client ids are `seq * 1024 + shard + 1`.
fn serving_shard(con: &mut redis::Connection) -> usize {
    let id: u64 = redis::cmd("CLIENT").arg("ID").query(con).unwrap();
    ((id - 1) % 1024) as usize
}

fn clients_per_shard(con: &mut redis::Connection) -> Vec<usize> {
    let info: String = redis::cmd("INFO").arg("shards").query(con).unwrap();
    (0..SHARDS)
        .map(|i| {
            let line = info
                .lines()
                .find(|l| l.starts_with(&format!("shard_{i}:")))
                .unwrap();
            let field = line.split(',').find(|f| f.starts_with("clients=")).unwrap();
            field["clients=".len()..].parse().unwrap()
        })
        .collect()
}

/// A key owned by a shard other than `shard`.
fn key_elsewhere(shard: usize) -> String {
    (0..)
        .map(|i| format!("k{i}"))
        .find(|k| owner(k) != shard)
        .unwrap()
}

#[test]
fn a_connection_whose_commands_all_go_to_another_shard_moves_there_and_keeps_its_state() {
    let server = Server::start(SHARDS, &["--appendonly", "no"]);
    let mut con = server.client();
    let id_before: u64 = redis::cmd("CLIENT").arg("ID").query(&mut con).unwrap();
    let home = serving_shard(&mut con);
    let key = key_elsewhere(home);
    let target = owner(&key);
    let _: () = redis::cmd("SELECT").arg(2).query(&mut con).unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("mover")
        .query(&mut con)
        .unwrap();
    for i in 0..600 {
        let _: () = redis::cmd("SET").arg(&key).arg(i).query(&mut con).unwrap();
    }
    let clients = clients_per_shard(&mut con);
    assert_eq!(
        clients[target], 1,
        "the connection serves from the key's shard now: {clients:?}"
    );
    assert_eq!(clients[home], 0, "{clients:?}");
    let id_after: u64 = redis::cmd("CLIENT").arg("ID").query(&mut con).unwrap();
    assert_eq!(
        id_after, id_before,
        "CLIENT ID does not change when the connection moves"
    );
    let name: String = redis::cmd("CLIENT").arg("GETNAME").query(&mut con).unwrap();
    assert_eq!(name, "mover");
    let value: i64 = redis::cmd("GET").arg(&key).query(&mut con).unwrap();
    assert_eq!(value, 599);
    let _: () = redis::cmd("SELECT").arg(0).query(&mut con).unwrap();
    let in_db0: Option<i64> = redis::cmd("GET").arg(&key).query(&mut con).unwrap();
    assert_eq!(
        in_db0, None,
        "the selected database moved with the connection"
    );
}

#[test]
fn with_steering_off_connections_stay_where_they_were_accepted() {
    let server = Server::start(SHARDS, &["--appendonly", "no", "--steer-connections", "no"]);
    let mut con = server.client();
    let home = serving_shard(&mut con);
    let key = key_elsewhere(home);
    for i in 0..600 {
        let _: () = redis::cmd("SET").arg(&key).arg(i).query(&mut con).unwrap();
    }
    assert_eq!(clients_per_shard(&mut con)[home], 1);
}
