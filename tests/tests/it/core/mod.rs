//! Business rules of SPEC.md, end to end through the public API of `turnstile-core`.
