//! Raw ids (MAL user and anime ids) and the dense indices models use.

use std::collections::HashMap;

/// Raw id → dense index for ids listed in dense order (`ids[dense] = raw`).
pub(crate) fn dense_index(ids: &[u32]) -> HashMap<u32, u32> {
    ids.iter()
        .enumerate()
        .map(|(dense, &raw)| (raw, dense as u32))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn inverts_the_dense_order() {
        let m = super::dense_index(&[40, 7, 1000]);
        assert_eq!((m[&40], m[&7], m[&1000]), (0, 1, 2));
        assert_eq!(m.len(), 3);
    }
}
