fn main() -> std::process::ExitCode {
    shaderfit::cli::main()
}
