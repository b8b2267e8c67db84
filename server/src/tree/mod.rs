//! TEMPORARY stub of the znode tree API (replaced by the real module on merge).
#![allow(missing_docs, dead_code, unused_variables)]
use paddock::{Code, CreateMode, OpResult, Stat};
use std::collections::BTreeSet;

pub struct Txn { pub session_id: u64, pub xid: i64, pub time_ms: i64, pub op: TxnOp }
pub enum TxnOp {
    Create { path: String, data: Vec<u8>, mode: CreateMode, ttl_ms: i64 },
    Delete { path: String, version: i32 },
    SetData { path: String, data: Vec<u8>, version: i32 },
    Check { path: String, version: i32 },
    Multi(Vec<TxnOp>),
    CreateSession { session_id: u64, password: Vec<u8>, timeout_ms: u32 },
    CloseSession { session_id: u64 },
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Created { path: String, stat: Stat },
    Deleted,
    DataSet { stat: Stat },
    Checked,
    Multi(Vec<OpResult>),
    SessionCreated,
    SessionClosed,
}
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TxnError { pub code: Code, pub message: String, pub multi: Option<Vec<Option<Code>>> }
pub type TxnResult = Result<Output, TxnError>;
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind { NodeCreated, NodeDeleted, NodeDataChanged, NodeChildrenChanged }
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change { pub kind: ChangeKind, pub path: String }
pub struct Applied { pub result: TxnResult, pub changes: Vec<Change> }
pub struct SessionInfo { pub password: Vec<u8>, pub timeout_ms: u32, pub ephemerals: BTreeSet<String> }
#[derive(Debug, thiserror::Error)]
#[error("bad snapshot")]
pub struct SnapshotError;
#[derive(Default)]
pub struct DataTree { zxid: u64 }
impl DataTree {
    pub fn new() -> DataTree { DataTree::default() }
    pub fn apply(&mut self, zxid: u64, txn: &Txn) -> Applied { self.zxid = zxid; Applied { result: Ok(Output::Deleted), changes: vec![] } }
    pub fn applied_zxid(&self) -> u64 { self.zxid }
    pub fn get(&self, path: &str) -> Result<(&[u8], Stat), TxnError> { Err(TxnError { code: Code::NoNode, message: path.into(), multi: None }) }
    pub fn exists(&self, path: &str) -> Option<Stat> { None }
    pub fn children(&self, path: &str) -> Result<(Vec<String>, Stat), TxnError> { Err(TxnError { code: Code::NoNode, message: path.into(), multi: None }) }
    pub fn digest(&self) -> u64 { 0 }
    pub fn node_count(&self) -> usize { 1 }
    pub fn session(&self, id: u64) -> Option<&SessionInfo> { None }
    pub fn session_count(&self) -> usize { 0 }
    pub fn snapshot(&self) -> Vec<u8> { self.zxid.to_le_bytes().to_vec() }
    pub fn restore(bytes: &[u8]) -> Result<DataTree, SnapshotError> { Ok(DataTree::default()) }
}
