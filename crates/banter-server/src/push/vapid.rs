//! The server's VAPID key pair (RFC 8292): generated on first start, stored
//! as a server setting so every node (and every restart) signs with the same
//! key, which browsers bound their subscriptions to.

use banter_store::{Store, StoreError};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use web_push_native::jwt_simple::algorithms::{ECDSAP256PublicKeyLike, ES256KeyPair};

const SETTING: &str = "vapid_private_key";

/// Loads the VAPID key pair, creating it on first start.
pub async fn load_or_create(store: &dyn Store) -> Result<ES256KeyPair, StoreError> {
    let fresh = URL_SAFE_NO_PAD.encode(ES256KeyPair::generate().to_bytes());
    let stored = store.setting_or_init(SETTING, &fresh).await?;
    let bytes = URL_SAFE_NO_PAD
        .decode(stored.as_bytes())
        .map_err(|_| StoreError::Unavailable("stored VAPID key is not base64url".into()))?;
    ES256KeyPair::from_bytes(&bytes).map_err(|e| StoreError::Unavailable(format!("stored VAPID key is invalid: {e}")))
}

/// The public key as browsers want it for `applicationServerKey`: the
/// uncompressed P-256 point, base64url without padding.
pub fn public_key_base64url(key: &ES256KeyPair) -> String {
    URL_SAFE_NO_PAD.encode(key.public_key().public_key().to_bytes_uncompressed())
}
