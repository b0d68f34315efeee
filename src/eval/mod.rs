//! Offline evaluation (PROTOCOL.md sections 3-5): top-k selection, ranking and
//! rating metrics, and the parallel full-ranking evaluator.

pub mod evaluator;
pub mod metrics;
pub mod topk;
