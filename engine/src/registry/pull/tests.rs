use super::*;
use std::io::Write;

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn sha(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

fn read_all(blob: &[u8], digest: String, size: u64) -> io::Result<Vec<u8>> {
    let mut r = LayerReader::new(blob, digest, size)?;
    let mut out = Vec::new();
    r.read_to_end(&mut out)?;
    Ok(out)
}

#[test]
fn layers_decompress_by_their_bytes_and_verify_their_digest() {
    let tar = vec![7u8; 10_000];
    let g = gz(&tar);
    let z = zstd::encode_all(&tar[..], 3).unwrap();
    for blob in [&g, &z, &tar] {
        let out = read_all(blob, sha(blob), blob.len() as u64).unwrap();
        assert_eq!(out, tar);
    }
}

#[test]
fn a_wrong_byte_or_size_fails_before_the_end() {
    let tar = vec![1u8; 5000];
    // One byte changed in an uncompressed layer: it reads, the blob
    // digest does not match.
    let mut bad = tar.clone();
    bad[100] = 2;
    let e = read_all(&bad, sha(&tar), 5000).unwrap_err();
    assert!(
        e.to_string()
            .contains("filesystem layer verification failed"),
        "{e}"
    );
    // A corrupted gzip stream fails too.
    let mut g = gz(&tar);
    let last = g.len() - 1;
    g[last] ^= 0xff;
    assert!(read_all(&g, sha(&gz(&tar)), g.len() as u64).is_err());
    let g = gz(&tar);
    let (d, n) = (sha(&g), g.len() as u64);
    let e = read_all(&g[..g.len() - 3], d, n).unwrap_err();
    assert!(!e.to_string().is_empty());
    let e = read_all(&g, sha(&g), n - 1).unwrap_err();
    assert!(e.to_string().contains("more than"), "{e}");
}

#[test]
fn the_store_keeps_a_layer_only_under_the_diff_id_the_config_names() {
    crate::testing::require_root!();
    let dir = tempfile::tempdir().unwrap();
    let st = ImageStore::open(dir.path(), "default").unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "f", &b"abc"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let g = gz(&tar);
    let other = parse_digest(&sha(b"other")).unwrap();
    let mut r = LayerReader::new(&g[..], sha(&g), g.len() as u64).unwrap();
    let e = st.register_layer_as(&mut r, Some(&other)).unwrap_err();
    assert!(e.to_string().contains("layer verification failed"), "{e}");
    let right = parse_digest(&sha(&tar)).unwrap();
    assert!(!st.blobs().exists(&right) && !st.blobs().exists(&other));
    let mut r = LayerReader::new(&g[..], sha(&g), g.len() as u64).unwrap();
    let info = st.register_layer_as(&mut r, Some(&right)).unwrap();
    assert_eq!(info.diff_id, right);
    assert!(has_layer(&st, &right));
}
