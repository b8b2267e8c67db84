//! Generates the protobuf message types from `proto/*.proto` with the pure-Rust
//! codegen (no `protoc` needed). The generated files carry inner attributes that
//! `include!` cannot take, so they are stripped here and re-stated in `src/proto.rs`.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR is set by cargo"));
    let gen = out.join("gen");
    fs::create_dir_all(&gen).expect("create OUT_DIR/gen");
    let inputs = ["proto/paddock.proto", "proto/replication.proto"];
    for input in inputs {
        println!("cargo:rerun-if-changed={input}");
    }
    protobuf_codegen_pure::Codegen::new()
        .out_dir(&gen)
        .inputs(inputs)
        .include("proto")
        .run()
        .expect("protobuf codegen");
    for name in ["paddock.rs", "replication.rs"] {
        let text = fs::read_to_string(gen.join(name)).expect("read generated file");
        let cleaned: String = text
            .lines()
            .filter(|l| !l.starts_with("#![") && !l.starts_with("//!"))
            .map(|l| format!("{l}\n"))
            .collect();
        fs::write(out.join(name), cleaned).expect("write cleaned file");
    }
}
