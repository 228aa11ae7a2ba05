//! The ticketing world: sweeps, snapshots, and each invariant broken on purpose.
