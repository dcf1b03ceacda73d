//! The `vqcodec` binary; everything lives in the `vqcodec_cli` library.
fn main() -> anyhow::Result<()> {
    // a reader that stops early (`vqcodec info s.vqc | head`, `vqcodec decode s.vqc -o - | …`)
    // ends this process quietly, as it does any Unix tool, instead of a panic in `println!`
    #[cfg(unix)]
    // SAFETY: resetting a signal's disposition to its default before any thread starts
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    vqcodec_cli::main()
}
