//! The `vqcodec` binary; everything lives in `vqcodec::cli`.
fn main() -> anyhow::Result<()> {
    vqcodec::cli::main()
}
