//! Recycles the large per-batch f32 buffers: the dense table gradients
//! (2–9 MB each at MAL scale), which the optimizer hands back after its
//! step. Allocating them fresh every batch made the allocator map and unmap
//! pages constantly (~1.5 M page faults per epoch, a fifth of the run time).

use std::sync::Mutex;

static FREE: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());
/// Enough for one batch of either model; beyond that buffers are freed.
const MAX_BUFFERS: usize = 8;
/// Small buffers are cheap to allocate; not worth pooling.
const MIN_LEN: usize = 1 << 15;

/// The smallest pooled buffer that can hold `len` values, emptied.
fn take(len: usize) -> Option<Vec<f32>> {
    if len < MIN_LEN {
        return None;
    }
    let mut free = FREE.lock().ok()?;
    let k = (0..free.len())
        .filter(|&k| free[k].capacity() >= len)
        .min_by_key(|&k| free[k].capacity())?;
    let mut b = free.swap_remove(k);
    b.clear();
    Some(b)
}

/// `len` zeros.
pub(crate) fn take_zeroed(len: usize) -> Vec<f32> {
    match take(len) {
        Some(mut b) => {
            b.resize(len, 0.0);
            b
        }
        None => vec![0.0; len],
    }
}

/// Frees every pooled buffer (end of a training run).
pub(crate) fn clear() {
    if let Ok(mut free) = FREE.lock() {
        free.clear();
    }
}

/// Hands a buffer back for reuse.
pub(crate) fn give(b: Vec<f32>) {
    if b.capacity() < MIN_LEN {
        return;
    }
    if let Ok(mut free) = FREE.lock() {
        if free.len() < MAX_BUFFERS {
            free.push(b);
        }
    }
}
