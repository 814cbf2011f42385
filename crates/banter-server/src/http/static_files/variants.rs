//! The bytes served for each file of the web client, in every encoding we
//! offer: built once per file on its first request (rewritten entry points,
//! brotli at its best quality, gzip at its best level, off the async
//! threads) and kept for the life of the process. The set of files is fixed
//! at compile time, so this cache is bounded by the embedded files' size
//! (at most three copies of each, compressed ones smaller than the original).

use std::{
    collections::HashMap,
    io::Write,
    sync::{Arc, LazyLock, Mutex},
};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use super::{encoding::Encoding, fingerprint, WebFiles};

/// One file ready to serve.
pub struct Variants {
    pub identity: Bytes,
    pub gzip: Option<Bytes>,
    pub brotli: Option<Bytes>,
    /// Hash of the identity bytes (the rewritten ones for the entry points),
    /// 32 hex digits; each encoding's ETag adds its suffix.
    pub hash: String,
}

impl Variants {
    /// The encodings held, in order of preference.
    pub fn available(&self) -> Vec<Encoding> {
        let mut out = Vec::with_capacity(3);
        if self.brotli.is_some() {
            out.push(Encoding::Brotli);
        }
        if self.gzip.is_some() {
            out.push(Encoding::Gzip);
        }
        out.push(Encoding::Identity);
        out
    }

    pub fn body(&self, encoding: Encoding) -> &Bytes {
        match encoding {
            Encoding::Brotli => self.brotli.as_ref().unwrap_or(&self.identity),
            Encoding::Gzip => self.gzip.as_ref().unwrap_or(&self.identity),
            Encoding::Identity => &self.identity,
        }
    }
}

type Slot = Arc<OnceCell<Arc<Variants>>>;
static CACHE: LazyLock<Mutex<HashMap<String, Slot>>> = LazyLock::new(Default::default);

/// The variants of the embedded file `name`, built on first use; `None` if
/// there is no such file.
pub async fn get(name: &str, compressible: bool) -> Option<Arc<Variants>> {
    let file = WebFiles::get(name)?;
    let slot = {
        let mut cache = CACHE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.entry(name.to_owned()).or_default().clone()
    };
    let name = name.to_owned();
    let variants = slot
        .get_or_init(|| async move {
            let data = file.data.into_owned();
            let build_name = name.clone();
            let built = tokio::task::spawn_blocking(move || build(&build_name, &data, compressible)).await;
            // The build panicked (it should not): serve the file uncompressed.
            built.unwrap_or_else(|_| {
                let data = WebFiles::get(&name).map(|f| f.data.into_owned()).unwrap_or_default();
                build(&name, &data, false)
            })
            .into()
        })
        .await;
    Some(variants.clone())
}

fn build(name: &str, data: &[u8], compressible: bool) -> Variants {
    let identity = fingerprint::rewrite(name, data);
    let hash = Sha256::digest(&identity)[..16].iter().map(|b| format!("{b:02x}")).collect();
    // A compressed copy is kept only when it is smaller.
    let smaller = |compressed: Option<Vec<u8>>| compressed.filter(|c| c.len() < identity.len()).map(Bytes::from);
    let (gzip, brotli) = if compressible { (smaller(gzip_compress(&identity)), smaller(brotli_compress(&identity))) } else { (None, None) };
    Variants { identity: Bytes::from(identity), gzip, brotli, hash }
}

fn gzip_compress(data: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).ok()?;
    encoder.finish().ok()
}

fn brotli_compress(data: &[u8]) -> Option<Vec<u8>> {
    const QUALITY: u32 = 11;
    const WINDOW_BITS: u32 = 22;
    let mut encoder = brotli::CompressorWriter::new(Vec::new(), 4096, QUALITY, WINDOW_BITS);
    encoder.write_all(data).ok()?;
    encoder.flush().ok()?;
    Some(encoder.into_inner())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[tokio::test]
    async fn compressed_copies_decode_to_the_original() {
        let v = get("app/client.js", true).await.expect("client.js is embedded");
        let original = WebFiles::get("app/client.js").expect("embedded").data;
        assert_eq!(&v.identity[..], &original[..]);

        let mut gunzipped = Vec::new();
        flate2::read::GzDecoder::new(&v.gzip.as_ref().expect("gzip is smaller")[..]).read_to_end(&mut gunzipped).expect("gzip");
        assert_eq!(gunzipped, &original[..]);

        let mut unbrotlied = Vec::new();
        brotli::Decompressor::new(&v.brotli.as_ref().expect("brotli is smaller")[..], 4096).read_to_end(&mut unbrotlied).expect("brotli");
        assert_eq!(unbrotlied, &original[..]);
    }

    #[tokio::test]
    async fn each_file_is_built_once() {
        let a = get("style.css", true).await.expect("embedded");
        let b = get("style.css", true).await.expect("embedded");
        assert!(Arc::ptr_eq(&a, &b));
    }

    #[tokio::test]
    async fn images_are_not_compressed() {
        let v = get("icons/icon-192.png", false).await.expect("embedded");
        assert_eq!(v.available(), vec![Encoding::Identity]);
    }
}
