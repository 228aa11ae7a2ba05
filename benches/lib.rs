//! Nothing lives here: the benchmarks are in `benches/`.
