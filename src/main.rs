// The journal and its runtime layer are not wired into the server yet.
#[allow(dead_code, unused_imports)]
mod journal;
#[allow(dead_code, unused_imports)]
mod runtime;

fn main() {}
