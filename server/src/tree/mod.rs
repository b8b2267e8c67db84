//! The znode tree (placeholder; being written).
