//! The `turnstile` command (work in progress).
fn main() {}
