//! The command line: the only module that knows clap. (Being wired up by the lead.)

pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
