//! (being written)
/// placeholder
pub struct Store;
/// placeholder
pub struct StoreError;
/// placeholder
pub struct StoredVersion;
/// placeholder
pub struct VersionMeta;
