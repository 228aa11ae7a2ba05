//! The Turnstile simulation engine (work in progress).
