fn main() -> std::process::ExitCode {
    evalgit::cli::main()
}
