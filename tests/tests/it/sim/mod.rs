//! Proofs of the engine on its toy system (the reference workload).
