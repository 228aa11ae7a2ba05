//! Nothing lives here: the tests are in `tests/it/`, one integration binary
//! (`cargo test -p turnstile-tests --test it`).
