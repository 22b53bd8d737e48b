// Writes tests/data/ref_mixed.safetensors with the reference serializer: the Rust crate of
// huggingface/safetensors (tag v0.6.2), whose serialize_to_file is what the Python
// safetensors.torch.save_file calls. tests/test_safetensors.c writes the same tensors and
// metadata and compares the bytes.
//
// Run once by hand; the output is committed and the tests need no Rust. Offline recipe used
// (Debian 12): apt-get install librust-serde-json-dev librust-serde-derive-dev; take the crate's
// safetensors/ directory at v0.6.2 (drop its dev-dependencies, benches and the optional
// hashbrown); make a binary crate with this file as src/main.rs and the dependency
//     safetensors = { path = "../safetensors" }
// and a .cargo/config.toml that replaces crates-io by the directory /usr/share/cargo/registry;
// then `cargo run -- tests/data/ref_mixed.safetensors`.
//
// One metadata pair only: the reference keeps metadata in a HashMap, whose order is random
// for several pairs. The note's value exercises every escape the reference writes.
use safetensors::tensor::TensorView;
use safetensors::{serialize_to_file, Dtype};
use std::collections::HashMap;

fn le<T: Copy, const N: usize>(v: &[T], f: fn(T) -> [u8; N]) -> Vec<u8> {
    v.iter().flat_map(|&x| f(x)).collect()
}

fn main() {
    let out = std::env::args().nth(1).expect("output path");
    let weight = le(&[0.0f32, -0.0, 1.5, -2.25, 3.4e38, 1e-45], f32::to_le_bytes);
    let bias = le(&[1.0f32, 2.0, 3.0], f32::to_le_bytes);
    let upper = le(&[-1.0f32], f32::to_le_bytes);
    let scale = le(&[0.1f64, -1e-300], f64::to_le_bytes);
    let half = le(&[0x3c00u16, 0xc000, 0x7bff, 0x0001], u16::to_le_bytes);
    let step = le(&[1234567890123i64], i64::to_le_bytes);
    let counts = le(&[1i32, -2, i32::MAX, i32::MIN], i32::to_le_bytes);
    let empty: Vec<u8> = Vec::new();
    let tensors = vec![
        ("encoder.weight", TensorView::new(Dtype::F32, vec![2, 3], &weight).unwrap()),
        ("encoder.bias", TensorView::new(Dtype::F32, vec![3], &bias).unwrap()),
        ("Upper", TensorView::new(Dtype::F32, vec![1], &upper).unwrap()),
        ("emulator.scale", TensorView::new(Dtype::F64, vec![2], &scale).unwrap()),
        ("half", TensorView::new(Dtype::F16, vec![4], &half).unwrap()),
        ("step", TensorView::new(Dtype::I64, vec![], &step).unwrap()),
        ("counts", TensorView::new(Dtype::I32, vec![2, 2], &counts).unwrap()),
        ("empty", TensorView::new(Dtype::F32, vec![0, 3], &empty).unwrap()),
    ];
    let mut metadata = HashMap::new();
    metadata.insert(
        "note".to_string(),
        "a \"q\" \\ line\nnext\ttab \u{1} \u{7f} \u{3b8} \u{8}\u{c}\r/".to_string(),
    );
    serialize_to_file(tensors, Some(metadata), std::path::Path::new(&out)).unwrap();
}
