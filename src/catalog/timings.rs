//! `DBSPLIT_TIMINGS=1`: where a read command's time goes, phase by phase, on stderr
//! (`timing: relations: 12.3 ms (at 48.0 ms)`). The times are wall-clock milliseconds since
//! the previous phase ended and since the first phase began; a catalog query's phase covers its
//! round trip: the server's time, the transfer and the rows' decoding by the driver. Off (one
//! environment lookup, then nothing) unless the variable is set to anything but `0` or empty.

use std::sync::{Mutex, OnceLock};
use std::time::Instant;

struct Clock {
    start: Instant,
    last: Instant,
}

fn clock() -> Option<&'static Mutex<Clock>> {
    static CLOCK: OnceLock<Option<Mutex<Clock>>> = OnceLock::new();
    CLOCK
        .get_or_init(|| {
            let on = std::env::var_os("DBSPLIT_TIMINGS").is_some_and(|v| !v.is_empty() && v != "0");
            on.then(|| {
                let now = Instant::now();
                Mutex::new(Clock {
                    start: now,
                    last: now,
                })
            })
        })
        .as_ref()
}

/// Starts the clock (the first call does, wherever it is): the command's first phase begins.
pub fn start() {
    let _ = clock();
}

/// Ends the phase `name`: prints how long it took since the previous one ended.
pub fn phase(name: &str) {
    let Some(clock) = clock() else {
        return;
    };
    let now = Instant::now();
    let Ok(mut clock) = clock.lock() else {
        return;
    };
    let took = now - clock.last;
    let at = now - clock.start;
    clock.last = now;
    eprintln!(
        "timing: {name}: {:.1} ms (at {:.1} ms)",
        took.as_secs_f64() * 1e3,
        at.as_secs_f64() * 1e3
    );
}

/// Times `work` on its own (for work that overlaps other phases, such as the two sessions'
/// queries): prints its duration when it ends, without ending the current phase.
pub async fn span<T>(name: &str, work: impl std::future::Future<Output = T>) -> T {
    let Some(clock) = clock() else {
        return work.await;
    };
    let begun = Instant::now();
    let value = work.await;
    let now = Instant::now();
    let at = clock.lock().map(|c| now - c.start).unwrap_or_default();
    eprintln!(
        "timing:   {name}: {:.1} ms (ended at {:.1} ms)",
        (now - begun).as_secs_f64() * 1e3,
        at.as_secs_f64() * 1e3
    );
    value
}
