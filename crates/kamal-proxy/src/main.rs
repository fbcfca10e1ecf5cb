//! `kamal-proxy`: parse → run → exit code. Everything else lives in the library.

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let code = kamal_proxy::cli::main(arguments, &kamal_proxy::paths::ProcessEnvironment);
    std::process::exit(code);
}
