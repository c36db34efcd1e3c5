//! openclaw-control-plane binary (being written)
fn main() {}
