//! Zero downtime under load: 50 alternating deploys while a bounded load generator runs.
//!
//! Asserts that no request fails and that no request reaches a target after the deploy that replaced it has
//! returned (that is, after its drain finished).

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use support::*;

const DEPLOYS: usize = 50;
const WORKERS: usize = 8;
const MAX_REQUESTS: usize = 200_000;
const MAX_TIME: Duration = Duration::from_secs(90);

/// An upstream that knows whether it is supposed to be receiving traffic right now.
struct Tracked {
    upstream: Upstream,
    active: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
    late: Arc<AtomicUsize>,
}

async fn tracked(name: &'static str) -> Tracked {
    let active = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let late = Arc::new(AtomicUsize::new(0));
    let upstream = Upstream::start(Arc::new({
        let (active, served, late) = (active.clone(), served.clone(), late.clone());
        move |request: Request<hyper::body::Incoming>| {
            let (active, served, late) = (active.clone(), served.clone(), late.clone());
            Box::pin(async move {
                if request.uri().path() != "/up" {
                    if !active.load(Ordering::SeqCst) {
                        late.fetch_add(1, Ordering::SeqCst);
                    }
                    served.fetch_add(1, Ordering::SeqCst);
                    // A little work, so requests are in flight when the switch happens.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                text(StatusCode::OK, name)
            })
        }
    }))
    .await;
    Tracked {
        upstream,
        active,
        served,
        late,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_alternating_deploys_under_load_lose_no_requests() {
    let proxy = Proxy::start().await;
    let pair = [tracked("blue").await, tracked("green").await];
    pair[0].active.store(true, Ordering::SeqCst);
    proxy
        .deploy(deploy_args("web", &[pair[0].upstream.target()], &[], &[]))
        .await
        .expect("first deploy");

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let deadline = tokio::time::Instant::now() + MAX_TIME;
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (stop, sent, failures) = (stop.clone(), sent.clone(), failures.clone());
            let url = proxy.url("/");
            tokio::spawn(async move {
                let client = http_client();
                while !stop.load(Ordering::SeqCst)
                    && sent.fetch_add(1, Ordering::SeqCst) < MAX_REQUESTS
                    && tokio::time::Instant::now() < deadline
                {
                    let request = Request::get(&url)
                        .header("host", "load.test")
                        .body(Full::new(Bytes::new()))
                        .expect("request");
                    match send(&client, request).await {
                        Ok(answer) if answer.status == StatusCode::OK => {}
                        Ok(answer) => failures
                            .lock()
                            .expect("lock")
                            .push(format!("status {}", answer.status)),
                        Err(error) => failures.lock().expect("lock").push(error),
                    }
                }
            })
        })
        .collect();

    // Let traffic start flowing before switching.
    assert!(
        eventually(Duration::from_secs(5), || async {
            pair[0].served.load(Ordering::SeqCst) > 20
        })
        .await
    );
    for deploy in 1..=DEPLOYS {
        let (next, previous) = (&pair[deploy % 2], &pair[(deploy + 1) % 2]);
        next.active.store(true, Ordering::SeqCst);
        let before = next.served.load(Ordering::SeqCst);
        proxy
            .deploy(deploy_args("web", &[next.upstream.target()], &[], &[]))
            .await
            .expect("deploy");
        // The deploy returned: the previous target has drained and must see no more traffic.
        previous.active.store(false, Ordering::SeqCst);
        // Wait for some traffic on the new target so every switch happens under load.
        assert!(
            eventually(Duration::from_secs(5), || async {
                next.served.load(Ordering::SeqCst) > before + 5
            })
            .await,
            "traffic reaches the new target after deploy {deploy}"
        );
    }
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.expect("worker");
    }

    let failures = failures.lock().expect("lock").clone();
    let served: usize = pair.iter().map(|t| t.served.load(Ordering::SeqCst)).sum();
    let late: usize = pair.iter().map(|t| t.late.load(Ordering::SeqCst)).sum();
    assert!(
        failures.is_empty(),
        "{} failed requests, first: {:?}",
        failures.len(),
        failures.first()
    );
    assert_eq!(late, 0, "requests served by a target after its drain finished");
    assert!(served > DEPLOYS * 5, "load was applied ({served} requests)");
}
