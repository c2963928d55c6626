//! Log capture: what the process logged while a test ran.

use std::sync::{Arc, Mutex};

/// Log output captured from `tracing`: what the process logged at `info` and above since the
/// capture started.
///
/// One subscriber for the whole test binary, installed at the first capture and never removed:
/// thread-local subscribers that come and go while tests run in parallel race with `tracing`'s
/// process-wide interest cache and level hint, and a capture could miss a line. Lines of other
/// tests running meanwhile may appear too; assertions look for their own.
#[derive(Clone)]
pub struct CapturedLogs {
    buffer: Arc<Mutex<Vec<u8>>>,
    from: usize,
}

/// Keeps a capture's turn: captures of one test binary run one at a time.
pub struct CaptureGuard {
    _turn: std::sync::MutexGuard<'static, ()>,
}

/// Where the binary's subscriber writes.
#[derive(Clone)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    /// Starts capturing, once no other test of this binary is capturing.
    pub fn start() -> (Self, CaptureGuard) {
        let turn = CAPTURE_TURN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let buffer = CAPTURED
            .get_or_init(|| {
                let buffer = Arc::new(Mutex::new(Vec::new()));
                let sink = Sink(buffer.clone());
                let subscriber = tracing_subscriber::fmt()
                    .with_max_level(tracing::Level::INFO)
                    .with_ansi(false)
                    .with_writer(move || sink.clone())
                    .finish();
                tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber in tests");
                buffer
            })
            .clone();
        let from = buffer.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len();
        (Self { buffer, from }, CaptureGuard { _turn: turn })
    }

    /// The text since the capture started.
    pub fn text(&self) -> String {
        let all = self.buffer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        String::from_utf8_lossy(all.get(self.from..).unwrap_or_default()).into_owned()
    }
}

static CAPTURE_TURN: Mutex<()> = Mutex::new(());
static CAPTURED: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
