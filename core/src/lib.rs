//! The Turnstile ticketing domain core (work in progress).
