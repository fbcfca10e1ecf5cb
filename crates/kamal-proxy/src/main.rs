//! `kamal-proxy`: parse → run → exit code. Everything else lives in the library.

/// mimalloc: the request path allocates and frees small objects on every request, and glibc's malloc spent a
/// tenth of the proxy's CPU time on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let code = kamal_proxy::cli::main(arguments, &kamal_proxy::paths::ProcessEnvironment);
    std::process::exit(code);
}
