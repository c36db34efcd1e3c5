//! Generates the tonic/prost code from `proto/*.proto` with the vendored protoc (no system protoc needed).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/admin.proto", "proto/discovery.proto"];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // Resource bodies are encoded once per version and shared by every stream: `Bytes` clones are refcounts.
    config.bytes([".openclaw.discovery.v1.Resource.body"]);
    let descriptors =
        std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("openclaw_descriptor.bin");
    tonic_prost_build::configure()
        .file_descriptor_set_path(descriptors)
        .compile_with_config(config, &protos, &["proto"])?;
    Ok(())
}
