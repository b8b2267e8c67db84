//! Paddock SDK (being written).
pub mod codec;
pub mod error;
pub mod path;
pub mod proto;
pub mod types;

pub use error::{Code, Error, Result};
pub use types::{CreateMode, Op, OpResult, Stat};
