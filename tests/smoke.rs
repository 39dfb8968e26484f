//! The server starts, answers, and routes keys across shards.

mod common;

use common::Server;
use redis::Commands;

#[test]
fn keys_on_every_shard_can_be_written_and_read_back() {
    let server = Server::start(3, &["--appendonly", "no"]);
    let mut con = server.client();
    for i in 0..300 {
        let _: () = con.set(format!("key:{i}"), i).unwrap();
    }
    for i in 0..300 {
        let v: i64 = con.get(format!("key:{i}")).unwrap();
        assert_eq!(v, i);
    }
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 300);
}
