//! Closing shared connections when the process is interrupted. Masters run detached from
//! our process group (OpenSSH daemonizes them), so Ctrl-C does not reach them; a signal
//! thread closes every live executor on SIGINT, SIGTERM or SIGHUP, then lets the signal
//! take its default course. Normal exits and errors close them through `Drop`.

use std::sync::{Arc, Mutex, OnceLock, Weak};

pub(crate) trait Close: Send + Sync {
    fn close(&self);
}

static OPEN: Mutex<Vec<Weak<dyn Close>>> = Mutex::new(Vec::new());
static SIGNAL_THREAD: OnceLock<()> = OnceLock::new();

/// Closes `item` if a termination signal arrives while it is alive.
pub(crate) fn register(item: &Arc<dyn Close>) {
    SIGNAL_THREAD.get_or_init(start_signal_thread);
    let mut open = match OPEN.lock() {
        Ok(open) => open,
        Err(poisoned) => poisoned.into_inner(),
    };
    open.retain(|item| item.strong_count() > 0);
    open.push(Arc::downgrade(item));
}

fn start_signal_thread() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    // Without handlers the default action applies and only Drop-based cleanup is lost, so a
    // failure to register is not worth failing a deploy over.
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    // Lives as long as the process: it is the process's own reaction to signals.
    let _ = std::thread::Builder::new()
        .name("kamal-ssh-signals".to_string())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let items: Vec<Arc<dyn Close>> = match OPEN.lock() {
                    Ok(open) => open.iter().filter_map(Weak::upgrade).collect(),
                    Err(poisoned) => poisoned.into_inner().iter().filter_map(Weak::upgrade).collect(),
                };
                for item in items {
                    item.close();
                }
                let _ = signal_hook::low_level::emulate_default_handler(signal);
                std::process::exit(128 + signal);
            }
        });
}
