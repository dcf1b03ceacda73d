//! The `vqcodec` binary; everything lives in the `vqcodec_cli` library.
fn main() -> anyhow::Result<()> {
    vqcodec_cli::main()
}
