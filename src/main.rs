// The journal and its runtime layer are not wired into the server yet.
#[allow(dead_code)]
mod journal;
#[allow(dead_code)]
mod runtime;

fn main() {}
