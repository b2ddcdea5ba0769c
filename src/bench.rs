//! `gpuwatch bench ingest`: filled in below.
pub async fn ingest(_d: std::time::Duration) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
