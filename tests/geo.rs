//! Geo commands on sorted sets, with Redis 7's scores, coordinates, distances and errors (the
//! expected values are Redis's own answers), on 3 shards so that stores cross shards.

mod common;

use common::resp::R::{self, Int, Nil};
use common::resp::{bulk, err, key_per_shard, split, words, Conn, SYNTAX, WRONGTYPE};
use common::Server;

const SHARDS: usize = 3;
const PALERMO: &str = "13.361389 38.115556 Palermo";
const CATANIA: &str = "15.087269 37.502669 Catania";

fn server_with(key: &str) -> (Server, Conn) {
    let server = Server::start(SHARDS, &["--appendonly", "no"]);
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd(&format!("GEOADD {key} {PALERMO} {CATANIA}")), Int(2));
    (server, c)
}

fn pos(lon: &str, lat: &str) -> R {
    R::Array(vec![bulk(lon), bulk(lat)])
}

#[test]
fn positions_are_redis_geohash_scores_and_decode_like_redis() {
    let (_server, mut c) = server_with("g");
    assert_eq!(c.cmd("ZSCORE g Palermo"), bulk("3479099956230698"));
    assert_eq!(c.cmd("ZSCORE g Catania"), bulk("3479447370796909"));
    assert_eq!(c.cmd("TYPE g"), R::Status("zset".into()));
    assert_eq!(
        c.cmd("GEOPOS g Palermo nosuch"),
        R::Array(vec![
            pos("13.36138933897018433", "38.11555639549629859"),
            Nil
        ])
    );
    assert_eq!(c.cmd("GEODIST g Palermo Catania"), bulk("166274.1516"));
    assert_eq!(c.cmd("GEODIST g Palermo Catania km"), bulk("166.2742"));
    assert_eq!(c.cmd("GEODIST g Palermo nosuch"), Nil);
    assert_eq!(
        c.cmd("GEOHASH g Palermo Catania nosuch"),
        R::Array(vec![bulk("sqc8b49rny0"), bulk("sqdtr74hyu0"), Nil])
    );
    assert_eq!(c.cmd("GEOADD g CH 13.361389 38.115556 Palermo"), Int(0));
    assert_eq!(c.cmd("GEOADD g XX CH 13.5 38.1 Palermo 1 1 New"), Int(1));
    assert_eq!(c.cmd("ZCARD g"), Int(2));
    assert_eq!(c.cmd("GEOADD g -180 -85.05112878 sw 0 0 zero"), Int(2));
    assert_eq!(
        c.cmd("GEOPOS g sw zero"),
        R::Array(vec![
            pos("-179.99999731779098511", "-85.05112751263942528"),
            pos("0.00000268220901489", "0.00000126736058093"),
        ])
    );
}

/// Redis 7's RESP3 shapes: coordinates are doubles, distances stay bulk strings.
#[test]
fn resp3_sends_coordinates_as_doubles_and_distances_as_bulk_strings() {
    let (_server, mut c) = server_with("g");
    assert!(matches!(c.cmd("HELLO 3"), R::Map(_)));
    let double = |text: &str| R::Double(text.into());
    assert_eq!(
        c.cmd("GEOPOS g Palermo nowhere"),
        R::Array(vec![
            R::Array(vec![
                double("13.36138933897018433"),
                double("38.11555639549629859")
            ]),
            Nil
        ])
    );
    assert_eq!(c.cmd("GEODIST g Palermo Catania"), bulk("166274.1516"));
    assert_eq!(
        c.cmd("GEOSEARCH g FROMMEMBER Palermo BYRADIUS 1 km WITHDIST WITHCOORD"),
        R::Array(vec![R::Array(vec![
            bulk("Palermo"),
            bulk("0.0000"),
            R::Array(vec![
                double("13.36138933897018433"),
                double("38.11555639549629859")
            ])
        ])])
    );
}

#[test]
fn geoadd_and_geodist_errors_match_redis() {
    let (_server, mut c) = server_with("g");
    for (line, error) in [
        (
            "GEOADD g 200 100 x",
            "ERR invalid longitude,latitude pair 200.000000,100.000000",
        ),
        (
            "GEOADD g 1 86 x",
            "ERR invalid longitude,latitude pair 1.000000,86.000000",
        ),
        ("GEOADD g NX XX 1 1 x", SYNTAX),
        ("GEOADD g 1 1 x 2", SYNTAX),
        ("GEOADD g a 1 x", "ERR value is not a valid float"),
        (
            "GEODIST g Palermo Catania foo",
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        ),
    ] {
        assert_eq!(c.cmd(line), err(error), "{line}");
    }
    c.cmd("SET s v");
    assert_eq!(c.cmd("GEOADD s 1 1 x"), err(WRONGTYPE));
    assert_eq!(c.cmd("GEOPOS s x"), err(WRONGTYPE));
    assert_eq!(
        c.cmd("GEOSEARCH s FROMLONLAT 1 1 BYRADIUS 1 km"),
        err(WRONGTYPE)
    );
}

#[test]
fn geosearch_by_radius_and_box_sorts_counts_and_adds_fields() {
    let (_server, mut c) = server_with("g");
    assert_eq!(
        c.cmd("GEOSEARCH g FROMMEMBER Palermo BYRADIUS 200 km ASC WITHCOORD WITHDIST WITHHASH"),
        R::Array(vec![
            R::Array(vec![
                bulk("Palermo"),
                bulk("0.0000"),
                Int(3479099956230698),
                pos("13.36138933897018433", "38.11555639549629859"),
            ]),
            R::Array(vec![
                bulk("Catania"),
                bulk("166.2742"),
                Int(3479447370796909),
                pos("15.08726745843887329", "37.50266842333162032"),
            ]),
        ])
    );
    assert_eq!(
        words(c.cmd("GEOSEARCH g FROMLONLAT 15 37 BYBOX 400 400 km DESC COUNT 1")),
        split("Palermo")
    );
    assert_eq!(
        words(c.cmd("GEOSEARCH g FROMLONLAT 15 37 BYBOX 400 400 km ASC")),
        split("Catania Palermo")
    );
    assert_eq!(
        words(c.cmd("GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 100 km")),
        split("Catania")
    );
    assert_eq!(
        c.cmd("GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 200 km COUNT 1 WITHDIST"),
        R::Array(vec![R::Array(vec![bulk("Catania"), bulk("56.4413")])]),
        "COUNT without ANY takes the nearest"
    );
    assert_eq!(
        words(c.cmd("GEORADIUSBYMEMBER g Palermo 100 km")),
        split("Palermo")
    );
    assert_eq!(
        c.cmd("GEORADIUSBYMEMBER_RO g Catania 200 mi WITHDIST DESC COUNT 1"),
        R::Array(vec![R::Array(vec![bulk("Palermo"), bulk("103.3182")])])
    );
    assert_eq!(
        words(c.cmd("GEORADIUS_RO g 15 37 200 km ASC")),
        split("Catania Palermo")
    );
    assert_eq!(
        words(c.cmd("GEOSEARCH missing FROMLONLAT 15 37 BYRADIUS 10 km")),
        split("")
    );
    assert_eq!(words(c.cmd("GEORADIUSBYMEMBER missing x 10 km")), split(""));
}

#[test]
fn geosearch_errors_match_redis() {
    let (_server, mut c) = server_with("g");
    for (line, error) in [
        ("GEOSEARCH g FROMMEMBER nosuch BYRADIUS 10 km", "ERR could not decode requested zset member"),
        ("GEOSEARCH g FROMLONLAT 15 37 BYRADIUS -1 km", "ERR radius cannot be negative"),
        ("GEOSEARCH g FROMLONLAT 15 37 BYBOX -1 1 km", "ERR height or width cannot be negative"),
        ("GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 10 km COUNT 0", "ERR COUNT must be > 0"),
        ("GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 10 km ANY", "ERR the ANY argument requires COUNT argument"),
        ("GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 10 km STORE x", SYNTAX),
        ("GEOSEARCH g FROMMEMBER Palermo FROMLONLAT 1 1 BYRADIUS 1 km", SYNTAX),
        ("GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 1 km BYBOX 1 1 km", SYNTAX),
        ("GEOSEARCH g FROMLONLAT 200 37 BYRADIUS 1 km", "ERR invalid longitude,latitude pair 200.000000,37.000000"),
        ("GEOSEARCH g FROMLONLAT 15 37 ASC COUNT 1", "ERR exactly one of BYRADIUS and BYBOX can be specified for geosearch"),
        ("GEOSEARCH g BYRADIUS 15 km ASC COUNT 1", "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for geosearch"),
        ("GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 10 km WITHDIST foo", SYNTAX),
        ("GEORADIUS g 15 37 200 km WITHDIST STORE x", "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options"),
        ("GEOSEARCHSTORE d g FROMLONLAT 15 37 BYRADIUS 200 km WITHDIST", "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options"),
        ("GEORADIUS_RO g 15 37 200 km STORE x", SYNTAX),
        ("GEORADIUS g 15 37 10 foo", "ERR unsupported unit provided. please use M, KM, FT, MI"),
    ] {
        assert_eq!(c.cmd(line), err(error), "{line}");
    }
}

#[test]
fn stores_write_geohashes_or_distances_to_a_key_on_another_shard() {
    let keys = key_per_shard("geo", SHARDS);
    let (src, dst, dst2) = (&keys[0], &keys[1], &keys[2]);
    let (_server, mut c) = server_with(src);
    c.cmd(&format!("SET {dst} old"));
    assert_eq!(
        c.cmd(&format!("GEORADIUS {src} 15 37 200 km STORE {dst}")),
        Int(2)
    );
    assert_eq!(
        words(c.cmd(&format!("ZRANGE {dst} 0 -1 WITHSCORES"))),
        split("Palermo 3479099956230698 Catania 3479447370796909")
    );
    assert_eq!(
        c.cmd(&format!(
            "GEORADIUSBYMEMBER {src} Palermo 200 km STOREDIST {dst2}"
        )),
        Int(2)
    );
    assert_eq!(
        words(c.cmd(&format!("ZRANGE {dst2} 0 -1 WITHSCORES"))),
        split("Palermo 0 Catania 166.27415156960032")
    );
    assert_eq!(
        c.cmd(&format!(
            "GEOSEARCHSTORE {dst} {src} FROMLONLAT 15 37 BYRADIUS 100 km STOREDIST"
        )),
        Int(1)
    );
    assert_eq!(
        words(c.cmd(&format!("ZRANGE {dst} 0 -1"))),
        split("Catania")
    );
    assert_eq!(
        c.cmd(&format!(
            "GEOSEARCHSTORE {dst} missing FROMLONLAT 15 37 BYRADIUS 100 km"
        )),
        Int(0)
    );
    assert_eq!(c.cmd(&format!("EXISTS {dst}")), Int(0));
    assert_eq!(
        c.cmd(&format!(
            "GEOSEARCHSTORE {dst} {src} FROMMEMBER nosuch BYRADIUS 1 km"
        )),
        err("ERR could not decode requested zset member")
    );
    // Same shard.
    c.cmd(&format!("GEOADD {{t}}src {PALERMO}"));
    assert_eq!(c.cmd("GEORADIUS {t}src 15 37 200 km STORE {t}dst"), Int(1));
    assert_eq!(
        c.cmd("GEOSEARCHSTORE {t}dst {t}src FROMLONLAT 15 37 BYBOX 1 1 km"),
        Int(0)
    );
    assert_eq!(c.cmd("EXISTS {t}dst"), Int(0));
}
