//! The ticketing world (work in progress).
