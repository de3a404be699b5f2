//! The `hudi-pg-sync` binary: see the library docs for the commands.

/// The global allocator (see the workspace `Cargo.toml`: lower peak RSS than glibc's).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    hudi_pg_sync::cli::main()
}
