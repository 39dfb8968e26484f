//! RESP, the Redis serialization protocol: requests in (multibulk and inline), replies out (RESP2 or
//! RESP3, chosen per connection by `HELLO`).

mod reply;
mod request;

pub use reply::{format_double, Reply};
pub use request::{parse_request, ParseLimits};
