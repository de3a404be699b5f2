//! The `hudi-pg-sync` binary: see the library docs for the commands.

fn main() -> std::process::ExitCode {
    hudi_pg_sync::cli::main()
}
