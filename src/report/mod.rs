//! The post-mortem, derived from the timeline: a format-independent model
//! (`model.rs`) and one renderer per format (`markdown.rs`).

pub mod markdown;
pub mod model;

pub use model::Report;
