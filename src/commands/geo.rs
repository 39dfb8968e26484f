//! Geo commands (Redis's geo.c) on top of sorted sets: GEOADD, GEOPOS, GEODIST, GEOHASH,
//! GEOSEARCH, GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER and their _RO forms.
//!
//! A position is stored as a sorted set score: Redis's 52-bit geohash (26 bits of latitude and 26
//! of longitude, interleaved), so that scores equal Redis's. Searches test every member's exact
//! distance; Redis first narrows to the 9 geohash boxes around the area, which selects the same
//! members (the boxes cover the area), only in a different unsorted order.

use bytes::Bytes;
use futures::future::LocalBoxFuture;

use super::spec::*;
use super::zsets::{
    pairs_of, parse_float, read_zset, score_arg, step_request, store, store_step_args, zadd,
    RANGE_STEP, STORE_STEP,
};
use super::{parse_i64, syntax_error, CommandSpec, Keys, Run};
use crate::keyspace::ZSet;
use crate::protocol::Reply;
use crate::router::slot::key_slot;
use crate::router::{exec_on_owner, Txn};
use crate::server::client::Client;
use crate::shard::Ctx;

const GEO_READ: &[&str] = &["@read", "@geo", "@slow"];
const GEO_WRITE: &[&str] = &["@write", "@geo", "@slow"];

const GEO: CommandSpec = CommandSpec {
    keys: KEY1,
    group: "geo",
    since: "3.2.0",
    complexity:
        "O(log(N)) for each item added, where N is the number of elements in the sorted set.",
    ..BASE
};

const SEARCH_COMPLEXITY: &str = "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape";

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "geoadd",
        arity: -5,
        flags: WRITE | DENYOOM,
        acl: GEO_WRITE,
        summary: "Adds one or more members to a geospatial index. The key is created if it doesn't exist.",
        run: keyed(geoadd),
        ..GEO
    },
    CommandSpec {
        name: "geopos",
        arity: -2,
        flags: READONLY,
        acl: GEO_READ,
        summary: "Returns the longitude and latitude of members from a geospatial index.",
        complexity: "O(1) for each member requested.",
        run: keyed(geopos),
        ..GEO
    },
    CommandSpec {
        name: "geodist",
        arity: -4,
        flags: READONLY,
        acl: GEO_READ,
        summary: "Returns the distance between two members of a geospatial index.",
        complexity: "O(1)",
        run: keyed(geodist),
        ..GEO
    },
    CommandSpec {
        name: "geohash",
        arity: -2,
        flags: READONLY,
        acl: GEO_READ,
        summary: "Returns members from a geospatial index as geohash strings.",
        complexity: "O(1) for each member requested.",
        run: keyed(geohash),
        ..GEO
    },
    CommandSpec {
        name: "geosearch",
        arity: -7,
        flags: READONLY,
        acl: GEO_READ,
        summary: "Queries a geospatial index for members inside an area of a box or a circle.",
        since: "6.2.0",
        complexity: SEARCH_COMPLEXITY,
        run: keyed(geosearch),
        ..GEO
    },
    CommandSpec {
        name: "geosearchstore",
        arity: -8,
        flags: WRITE | DENYOOM,
        keys: TWO_KEYS,
        acl: GEO_WRITE,
        summary: "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.",
        since: "6.2.0",
        complexity: SEARCH_COMPLEXITY,
        run: coordinated(geosearchstore, geosearchstore_across),
        ..GEO
    },
    CommandSpec {
        name: "georadius",
        arity: -6,
        flags: WRITE | DENYOOM | MOVABLEKEYS,
        keys: Keys::Parsed {
            first: 1,
            last: 1,
            step: 1,
            find: georadius_keys,
        },
        acl: GEO_WRITE,
        summary: "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.",
        complexity: SEARCH_COMPLEXITY,
        run: Run::Client(georadius_route),
        ..GEO
    },
    CommandSpec {
        name: "georadiusbymember",
        arity: -5,
        flags: WRITE | DENYOOM | MOVABLEKEYS,
        keys: Keys::Parsed {
            first: 1,
            last: 1,
            step: 1,
            find: georadius_keys,
        },
        acl: GEO_WRITE,
        summary: "Queries a geospatial index for members within a distance from a member, optionally stores the result.",
        complexity: SEARCH_COMPLEXITY,
        run: Run::Client(georadius_route),
        ..GEO
    },
    CommandSpec {
        name: "georadius_ro",
        arity: -6,
        flags: READONLY,
        acl: GEO_READ,
        summary: "Returns members from a geospatial index that are within a distance from a coordinate.",
        since: "3.2.10",
        complexity: SEARCH_COMPLEXITY,
        run: keyed(georadius_ro),
        ..GEO
    },
    CommandSpec {
        name: "georadiusbymember_ro",
        arity: -5,
        flags: READONLY,
        acl: GEO_READ,
        summary: "Returns members from a geospatial index that are within a distance from a member.",
        since: "3.2.10",
        complexity: SEARCH_COMPLEXITY,
        run: keyed(georadius_ro),
        ..GEO
    },
];

// ---------------------------------------------------------------------------------------------
// Geohash: positions as 52-bit scores, and distances (Redis's geohash.c / geohash_helper.c)

/// Bits of precision per coordinate.
const GEO_STEP: u32 = 26;
/// Latitudes Redis can index (the Web Mercator limits).
const LAT_MIN: f64 = -85.05112878;
const LAT_MAX: f64 = 85.05112878;
const LONG_MIN: f64 = -180.0;
const LONG_MAX: f64 = 180.0;
/// Standard geohash strings (GEOHASH) use the whole latitude range.
const STANDARD_LAT_MIN: f64 = -90.0;
const STANDARD_LAT_MAX: f64 = 90.0;
/// The Earth's radius Redis uses for distances.
const EARTH_RADIUS_METERS: f64 = 6372797.560856;
const GEOHASH_ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
const GEOHASH_CHARS: usize = 11;

/// The bits of `v` moved to the even positions of a u64.
fn spread(v: u32) -> u64 {
    let mut x = v as u64;
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// The even bits of `x`, packed (the inverse of `spread`).
fn squash(x: u64) -> u32 {
    let mut x = x & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    ((x | (x >> 16)) & 0x0000_0000_FFFF_FFFF) as u32
}

/// The 52-bit geohash of a position (latitude bits even, longitude bits odd), with latitudes
/// scaled over `lat_min..lat_max`.
fn encode(lon: f64, lat: f64, lat_min: f64, lat_max: f64) -> u64 {
    let cells = (1u64 << GEO_STEP) as f64;
    let lat_offset = (lat - lat_min) / (lat_max - lat_min) * cells;
    let lon_offset = (lon - LONG_MIN) / (LONG_MAX - LONG_MIN) * cells;
    spread(lat_offset as u32) | (spread(lon_offset as u32) << 1)
}

/// The center of a geohash cell, as (longitude, latitude), clamped to the indexable range.
fn decode(bits: u64) -> (f64, f64) {
    let cells = (1u64 << GEO_STEP) as f64;
    let (lat_cell, lon_cell) = (squash(bits) as f64, squash(bits >> 1) as f64);
    let center = |cell: f64, min: f64, max: f64| {
        let low = min + (cell / cells) * (max - min);
        let high = min + ((cell + 1.0) / cells) * (max - min);
        ((low + high) / 2.0).clamp(min, max)
    };
    (
        center(lon_cell, LONG_MIN, LONG_MAX),
        center(lat_cell, LAT_MIN, LAT_MAX),
    )
}

/// The position a member's score stands for.
fn position(score: f64) -> (f64, f64) {
    decode(score as u64)
}

fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_METERS * (lat2.to_radians() - lat1.to_radians()).abs()
}

/// The haversine distance in meters between two (longitude, latitude) positions.
fn distance((lon1, lat1): (f64, f64), (lon2, lat2): (f64, f64)) -> f64 {
    let (lat1r, lat2r) = (lat1.to_radians(), lat2.to_radians());
    let v = ((lon2.to_radians() - lon1.to_radians()) / 2.0).sin();
    // Same longitude: the cheaper latitude distance is exact.
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_METERS * a.sqrt().asin()
}

/// The standard 11-character geohash of a score (GEOHASH).
fn geohash_string(score: f64) -> String {
    let (lon, lat) = position(score);
    let bits = encode(lon, lat, STANDARD_LAT_MIN, STANDARD_LAT_MAX);
    (0..GEOHASH_CHARS)
        .map(|i| {
            // 52 bits make 10 characters and 2 bits; the last character is always '0'.
            let index = if i == GEOHASH_CHARS - 1 {
                0
            } else {
                (bits >> (52 - (i + 1) * 5)) & 0x1f
            };
            GEOHASH_ALPHABET[index as usize] as char
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Parsing and formatting

fn parse_lon_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), Reply> {
    let not_float = || Reply::error("ERR value is not a valid float");
    let lon = parse_float(lon).ok_or_else(not_float)?;
    let lat = parse_float(lat).ok_or_else(not_float)?;
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return Err(Reply::error(format!(
            "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
        )));
    }
    Ok((lon, lat))
}

/// Meters per unit.
fn parse_unit(arg: &[u8]) -> Result<f64, Reply> {
    match arg.to_ascii_lowercase().as_slice() {
        b"m" => Ok(1.0),
        b"km" => Ok(1000.0),
        b"ft" => Ok(0.3048),
        b"mi" => Ok(1609.34),
        _ => Err(Reply::error(
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        )),
    }
}

fn parse_distance(arg: &[u8]) -> Result<f64, Reply> {
    parse_float(arg).ok_or_else(|| Reply::error("ERR need numeric radius"))
}

/// A distance as Redis writes it: 4 decimals, a bulk string in both protocols.
fn distance_reply(meters: f64, unit: f64) -> Reply {
    Reply::Bulk(Bytes::from(format!("{:.4}", meters / unit)))
}

/// A coordinate as Redis writes it (`%.17Lf` without trailing zeros; a double in RESP3).
fn coordinate_reply(value: f64) -> Reply {
    let text = format!("{value:.17}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    Reply::DoubleText(text.to_string())
}

fn position_reply((lon, lat): (f64, f64)) -> Reply {
    Reply::Array(vec![coordinate_reply(lon), coordinate_reply(lat)])
}

// ---------------------------------------------------------------------------------------------
// GEOADD, GEOPOS, GEODIST, GEOHASH

/// GEOADD key [NX|XX] [CH] lon lat member ...: ZADD with the positions' geohashes as scores.
fn geoadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut zadd_args = vec![Bytes::from_static(b"zadd"), args[1].clone()];
    let (mut i, mut nx, mut xx) = (2, false, false);
    while let Some(arg) = args.get(i) {
        match arg.to_ascii_lowercase().as_slice() {
            b"nx" => nx = true,
            b"xx" => xx = true,
            b"ch" => {}
            _ => break,
        }
        zadd_args.push(arg.clone());
        i += 1;
    }
    let triples = &args[i..];
    if triples.is_empty() || !triples.len().is_multiple_of(3) || (nx && xx) {
        return syntax_error();
    }
    for triple in triples.chunks(3) {
        let (lon, lat) = attempt!(parse_lon_lat(&triple[0], &triple[1]));
        let bits = encode(lon, lat, LAT_MIN, LAT_MAX);
        zadd_args.push(score_arg(bits as f64));
        zadd_args.push(triple[2].clone());
    }
    zadd(ctx, &zadd_args)
}

fn geopos(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let zset = attempt!(read_zset(ctx.db(), &args[1], now));
    let pos = |m: &Bytes| {
        zset.and_then(|z| z.score(m))
            .map_or(Reply::NilArray, |s| position_reply(position(s)))
    };
    Reply::Array(args[2..].iter().map(pos).collect())
}

fn geodist(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let unit = match args {
        [_, _, _, _] => 1.0,
        [_, _, _, _, unit] => attempt!(parse_unit(unit)),
        _ => return syntax_error(),
    };
    let now = ctx.now_ms;
    let zset = attempt!(read_zset(ctx.db(), &args[1], now));
    let score = |m: &Bytes| zset.and_then(|z| z.score(m));
    match (score(&args[2]), score(&args[3])) {
        (Some(a), Some(b)) => distance_reply(distance(position(a), position(b)), unit),
        _ => Reply::Nil,
    }
}

fn geohash(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let zset = attempt!(read_zset(ctx.db(), &args[1], now));
    let hash = |m: &Bytes| {
        zset.and_then(|z| z.score(m))
            .map_or(Reply::Nil, |s| Reply::bulk_str(&geohash_string(s)))
    };
    Reply::Array(args[2..].iter().map(hash).collect())
}

// ---------------------------------------------------------------------------------------------
// Searches

#[derive(Clone)]
enum Center {
    Member(Bytes),
    Position(f64, f64),
}

#[derive(Clone, Copy)]
enum Shape {
    /// Radius in meters.
    Radius(f64),
    /// Width and height in meters.
    Box(f64, f64),
}

#[derive(Clone, Copy, PartialEq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// Which command's syntax a search is written in.
#[derive(Clone, Copy, PartialEq)]
enum Syntax {
    /// GEOSEARCH key FROMMEMBER|FROMLONLAT ... BYRADIUS|BYBOX ...
    Search,
    /// GEOSEARCHSTORE dst src ... [STOREDIST]
    SearchStore,
    /// GEORADIUS key lon lat radius unit ... [STORE key] [STOREDIST key]
    Radius { by_member: bool, read_only: bool },
}

impl Syntax {
    /// The keyspace event a store announces.
    fn store_event(self) -> &'static str {
        match self {
            Syntax::SearchStore => "geosearchstore",
            _ => "georadiusstore",
        }
    }
}

/// A parsed geo search.
struct GeoQuery {
    /// The keyspace event a store announces.
    store_event: &'static str,
    center: Option<Center>,
    shape: Option<Shape>,
    /// Meters per unit of the shape, for distances in replies and STOREDIST.
    unit: f64,
    sort: Sort,
    count: Option<usize>,
    any: bool,
    with_coord: bool,
    with_dist: bool,
    with_hash: bool,
    /// The destination, and whether distances (not positions) are stored.
    store: Option<(Bytes, bool)>,
}

/// One member found: its name, score (geohash), position and distance from the center.
struct Hit {
    member: Bytes,
    score: f64,
    position: (f64, f64),
    meters: f64,
}

impl GeoQuery {
    /// Parses a search; `args` start at the command name. Returns the query and the source key.
    fn parse(args: &[Bytes], syntax: Syntax) -> Result<(GeoQuery, Bytes), Reply> {
        let mut query = GeoQuery {
            store_event: syntax.store_event(),
            center: None,
            shape: None,
            unit: 1.0,
            sort: Sort::None,
            count: None,
            any: false,
            with_coord: false,
            with_dist: false,
            with_hash: false,
            store: None,
        };
        let (source, mut i) = match syntax {
            Syntax::Search => (args[1].clone(), 2),
            Syntax::SearchStore => (args[2].clone(), 3),
            Syntax::Radius { by_member, .. } => {
                let (center, next) = if by_member {
                    (Center::Member(args[2].clone()), 3)
                } else {
                    let (lon, lat) = parse_lon_lat(&args[2], &args[3])?;
                    (Center::Position(lon, lat), 4)
                };
                query.center = Some(center);
                query.shape = Some(query.parse_radius(&args[next..next + 2])?);
                (args[1].clone(), next + 2)
            }
        };
        if syntax == Syntax::SearchStore {
            query.store = Some((args[1].clone(), false));
        }
        while let Some(option) = args.get(i) {
            let rest = &args[i + 1..];
            i += 1 + query.parse_option(option, rest, syntax)?;
        }
        query.check(syntax)?;
        Ok((query, source))
    }

    fn parse_radius(&mut self, args: &[Bytes]) -> Result<Shape, Reply> {
        let radius = parse_distance(&args[0])?;
        if radius < 0.0 {
            return Err(Reply::error("ERR radius cannot be negative"));
        }
        self.unit = parse_unit(&args[1])?;
        Ok(Shape::Radius(radius * self.unit))
    }

    /// Applies one option; returns how many of the following arguments it took.
    fn parse_option(
        &mut self,
        option: &[u8],
        rest: &[Bytes],
        syntax: Syntax,
    ) -> Result<usize, Reply> {
        let search = matches!(syntax, Syntax::Search | Syntax::SearchStore);
        let storing = match syntax {
            Syntax::Radius { read_only, .. } => !read_only,
            _ => false,
        };
        let option = option.to_ascii_lowercase();
        Ok(match option.as_slice() {
            b"withdist" => {
                self.with_dist = true;
                0
            }
            b"withhash" => {
                self.with_hash = true;
                0
            }
            b"withcoord" => {
                self.with_coord = true;
                0
            }
            b"any" => {
                self.any = true;
                0
            }
            b"asc" => {
                self.sort = Sort::Asc;
                0
            }
            b"desc" => {
                self.sort = Sort::Desc;
                0
            }
            b"count" if !rest.is_empty() => {
                match parse_i64(&rest[0])? {
                    n if n <= 0 => return Err(Reply::error("ERR COUNT must be > 0")),
                    n => self.count = Some(n as usize),
                }
                1
            }
            b"store" | b"storedist" if storing && !rest.is_empty() => {
                self.store = Some((rest[0].clone(), option.as_slice() == b"storedist"));
                1
            }
            b"storedist" if syntax == Syntax::SearchStore => {
                self.store = self.store.take().map(|(dst, _)| (dst, true));
                0
            }
            b"frommember" if search && self.center.is_none() && !rest.is_empty() => {
                self.center = Some(Center::Member(rest[0].clone()));
                1
            }
            b"fromlonlat" if search && self.center.is_none() && rest.len() >= 2 => {
                let (lon, lat) = parse_lon_lat(&rest[0], &rest[1])?;
                self.center = Some(Center::Position(lon, lat));
                2
            }
            b"byradius" if search && self.shape.is_none() && rest.len() >= 2 => {
                self.shape = Some(self.parse_radius(&rest[..2])?);
                2
            }
            b"bybox" if search && self.shape.is_none() && rest.len() >= 3 => {
                let (width, height) = (parse_distance(&rest[0])?, parse_distance(&rest[1])?);
                if width < 0.0 || height < 0.0 {
                    return Err(Reply::error("ERR height or width cannot be negative"));
                }
                self.unit = parse_unit(&rest[2])?;
                self.shape = Some(Shape::Box(width * self.unit, height * self.unit));
                3
            }
            _ => return Err(syntax_error()),
        })
    }

    /// The checks Redis makes once every option is read.
    fn check(&self, syntax: Syntax) -> Result<(), Reply> {
        if self.store.is_some() && (self.with_dist || self.with_hash || self.with_coord) {
            let who = if syntax == Syntax::SearchStore {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            };
            return Err(Reply::error(format!(
                "ERR {who} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
            )));
        }
        let name = if syntax == Syntax::SearchStore {
            "geosearchstore"
        } else {
            "geosearch"
        };
        if self.center.is_none() {
            return Err(Reply::error(format!(
                "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
            )));
        }
        if self.shape.is_none() {
            return Err(Reply::error(format!(
                "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
            )));
        }
        if self.any && self.count.is_none() {
            return Err(Reply::error("ERR the ANY argument requires COUNT argument"));
        }
        Ok(())
    }

    /// The members inside the shape, in reply order.
    fn run(&self, zset: &ZSet) -> Result<Vec<Hit>, Reply> {
        let center = match self.center.as_ref().expect("checked at parse") {
            Center::Position(lon, lat) => (*lon, *lat),
            Center::Member(member) => match zset.score(member) {
                Some(score) => position(score),
                None => return Err(Reply::error("ERR could not decode requested zset member")),
            },
        };
        let shape = self.shape.expect("checked at parse");
        let limit = match (self.any, self.count) {
            (true, Some(n)) => n,
            _ => usize::MAX,
        };
        let mut hits: Vec<Hit> = zset
            .iter()
            .filter_map(|(member, score)| {
                let point = position(score);
                let meters = within(shape, center, point)?;
                Some(Hit {
                    member: Bytes::copy_from_slice(member),
                    score,
                    position: point,
                    meters,
                })
            })
            .take(limit)
            .collect();
        // COUNT without ANY takes the nearest: it sorts even when no order was asked.
        let sort = match (self.sort, self.count, self.any) {
            (Sort::None, Some(_), false) => Sort::Asc,
            (sort, _, _) => sort,
        };
        match sort {
            Sort::Asc => hits.sort_by(|a, b| a.meters.total_cmp(&b.meters)),
            Sort::Desc => hits.sort_by(|a, b| b.meters.total_cmp(&a.meters)),
            Sort::None => {}
        }
        hits.truncate(self.count.unwrap_or(usize::MAX));
        Ok(hits)
    }

    fn reply(&self, hits: Vec<Hit>) -> Reply {
        let plain = !(self.with_dist || self.with_hash || self.with_coord);
        let item = |hit: Hit| {
            if plain {
                return Reply::Bulk(hit.member);
            }
            let mut fields = vec![Reply::Bulk(hit.member)];
            if self.with_dist {
                fields.push(distance_reply(hit.meters, self.unit));
            }
            if self.with_hash {
                fields.push(Reply::Int(hit.score as i64));
            }
            if self.with_coord {
                fields.push(position_reply(hit.position));
            }
            Reply::Array(fields)
        };
        Reply::Array(hits.into_iter().map(item).collect())
    }

    /// What a store writes: each member with its geohash, or its distance (STOREDIST).
    fn stored(&self, hits: Vec<Hit>) -> Vec<(Bytes, f64)> {
        let by_distance = matches!(self.store, Some((_, true)));
        hits.into_iter()
            .map(|hit| {
                let score = if by_distance {
                    hit.meters / self.unit
                } else {
                    hit.score
                };
                (hit.member, score)
            })
            .collect()
    }
}

/// The distance in meters from `center` to `point` when the point is inside `shape`.
fn within(shape: Shape, center: (f64, f64), point: (f64, f64)) -> Option<f64> {
    match shape {
        Shape::Radius(radius) => {
            let meters = distance(center, point);
            (meters <= radius).then_some(meters)
        }
        Shape::Box(width, height) => {
            // Latitude first: it is the cheaper test.
            if lat_distance(point.1, center.1) > height / 2.0 {
                return None;
            }
            if distance((point.0, point.1), (center.0, point.1)) > width / 2.0 {
                return None;
            }
            Some(distance(center, point))
        }
    }
}

/// Runs a search on this shard: replies, or (with a destination) stores.
fn search_here(ctx: &mut Ctx, args: &[Bytes], syntax: Syntax) -> Reply {
    let (query, source) = attempt!(GeoQuery::parse(args, syntax));
    let now = ctx.now_ms;
    let db = ctx.db();
    let hits = match attempt!(read_zset(db, &source, now)) {
        Some(zset) => attempt!(query.run(zset)),
        None => Vec::new(),
    };
    match &query.store {
        Some((dst, _)) => {
            let dst = dst.clone();
            store(ctx, &dst, query.stored(hits), syntax.store_event())
        }
        None => query.reply(hits),
    }
}

fn geosearch(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search_here(ctx, args, Syntax::Search)
}

fn geosearchstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search_here(ctx, args, Syntax::SearchStore)
}

fn radius_syntax(name: &[u8], read_only: bool) -> Syntax {
    let name = name.to_ascii_lowercase();
    Syntax::Radius {
        by_member: name.starts_with(b"georadiusbymember"),
        read_only,
    }
}

fn georadius_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search_here(ctx, args, radius_syntax(&args[0], true))
}

/// GEORADIUS(BYMEMBER) without STORE, on the shard owning its key.
static RADIUS_STEP: CommandSpec = CommandSpec {
    name: "geo-radius-step",
    arity: -5,
    flags: READONLY,
    // The key follows the command's own name: `[step, GEORADIUS, key, ...]`. (No-dirty-reads
    // waits and routing read the key from here.)
    keys: Keys::Range {
        first: 2,
        last: 2,
        step: 1,
    },
    acl: GEO_READ,
    run: keyed(georadius_step),
    ..GEO
};

/// `geo-radius-step` carries the command's own arguments after its name.
fn georadius_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search_here(ctx, &args[1..], radius_syntax(&args[1], false))
}

/// GEORADIUS(BYMEMBER)'s keys: the source, and the destination of a STORE or STOREDIST option.
fn georadius_keys(args: &[Bytes]) -> Vec<usize> {
    let syntax = radius_syntax(&args[0], false);
    let least_args = match syntax {
        Syntax::Radius {
            by_member: true, ..
        } => 5,
        _ => 6,
    };
    let mut keys = vec![1];
    if args.len() < least_args {
        return keys;
    }
    let store = GeoQuery::parse(args, syntax)
        .ok()
        .and_then(|(q, _)| q.store);
    keys.extend(store.and_then(|(dst, _)| option_key(args, &[b"store", b"storedist"], &dst)));
    keys
}

/// GEORADIUS and GEORADIUSBYMEMBER may store into a key named anywhere among their options, which
/// the table's key ranges cannot say: without STORE they run on the source's shard; with it, as
/// a transaction over both keys.
fn georadius_route(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let syntax = radius_syntax(&args[0], false);
        let (query, source) = attempt!(GeoQuery::parse(&args, syntax));
        let Some((dst, _)) = query.store.clone() else {
            let mut step_args = vec![Bytes::from_static(b"geo-radius-step")];
            step_args.extend(args.iter().cloned());
            let req = step_request(&RADIUS_STEP, step_args, client.db(), client.resp3());
            let owner = client.shard.owner_of(&source);
            let reply = exec_on_owner(&client.shard, owner, vec![req]).await.pop();
            return reply.unwrap_or(Reply::error("ERR shard did not answer"));
        };
        if client.cluster_port && key_slot(&dst) != key_slot(&source) {
            return Reply::error("CROSSSLOT Keys in request don't hash to the same slot");
        }
        store_across(client, &query, &source, &dst).await
    })
}

fn geosearchstore_across(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let (query, source) = attempt!(GeoQuery::parse(&args, Syntax::SearchStore));
        store_across(client, &query, &source, &args[1]).await
    })
}

/// A search that stores, with both keys locked: the source is read on its shard, the search runs
/// here, and the result is written on the destination's shard.
async fn store_across(client: &Client, query: &GeoQuery, source: &Bytes, dst: &Bytes) -> Reply {
    let (shard, db, resp3) = (&client.shard, client.db(), client.resp3());
    let keys = [dst.clone(), source.clone()];
    let txn = Txn::lock(shard, db, &keys).await;
    let read_args = vec![
        Bytes::from_static(b"zset-range-step"),
        source.clone(),
        Bytes::from_static(b"0"),
        Bytes::from_static(b"-1"),
    ];
    let read = pairs_of(txn.run_for_key(source, &RANGE_STEP, read_args, resp3).await);
    let hits = read.and_then(|pairs| query.run(&ZSet::from_entries(false, pairs)));
    let hits = match hits {
        Ok(hits) => hits,
        Err(error) => {
            txn.finish().await;
            return error;
        }
    };
    let entries = query.stored(hits);
    let event = query.store_event;
    let write = step_request(&STORE_STEP, store_step_args(event, dst, entries), db, resp3);
    let mut replies = txn.run_and_finish(vec![(shard.owner_of(dst), write)]).await;
    replies
        .pop()
        .unwrap_or(Reply::error("ERR shard did not answer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_encode_to_redis_scores_and_decode_to_redis_coordinates() {
        let bits = encode(13.361389, 38.115556, LAT_MIN, LAT_MAX);
        assert_eq!(bits, 3479099956230698);
        let (lon, lat) = position(bits as f64);
        assert_eq!(format!("{lon:.17}"), "13.36138933897018433");
        assert_eq!(format!("{lat:.17}"), "38.11555639549629859");
        assert_eq!(geohash_string(bits as f64), "sqc8b49rny0");
        let catania = encode(15.087269, 37.502669, LAT_MIN, LAT_MAX);
        assert_eq!(catania, 3479447370796909);
        let meters = distance(position(bits as f64), position(catania as f64));
        assert_eq!(format!("{meters:.4}"), "166274.1516");
    }

    #[test]
    fn spread_and_squash_are_inverses() {
        for v in [0u32, 1, 0x3ff_ffff, 0x155_5555, 12345] {
            assert_eq!(squash(spread(v)), v);
            assert_eq!(squash(spread(v) << 1 >> 1), v);
        }
    }
}
