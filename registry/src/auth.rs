//! htpasswd authentication (bcrypt entries only, as distribution): HTTP Basic
//! credentials checked against the file read at start. Successful checks are
//! remembered (by a hash of the credentials) so that bcrypt's deliberate
//! slowness is paid once per client, not once per request.

use shared::sync::Locked;
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// The users of an htpasswd file.
pub struct Htpasswd {
    pub realm: String,
    users: HashMap<String, String>,
    verified: Mutex<HashSet<[u8; 32]>>,
}

impl Htpasswd {
    /// Parses htpasswd text; entries that are not bcrypt are skipped (with a warning).
    pub fn parse(realm: &str, text: &str) -> Htpasswd {
        let mut users = HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                continue;
            };
            if !(hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$")) {
                crate::log::warn(&format!(
                    "htpasswd: user {user:?} has no bcrypt password; ignored"
                ));
                continue;
            }
            users.insert(user.to_string(), hash.to_string());
        }
        Htpasswd {
            realm: realm.to_string(),
            users,
            verified: Mutex::new(HashSet::new()),
        }
    }

    /// Reads the file; when it does not exist, creates it with user `docker`
    /// and a random password that is logged, as distribution does.
    pub fn load(realm: &str, path: &Path) -> io::Result<Htpasswd> {
        match std::fs::read_to_string(path) {
            Ok(t) => Ok(Self::parse(realm, &t)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let password = crate::storage::random_hex(16);
                let hash = bcrypt::hash(&password, bcrypt::DEFAULT_COST)
                    .map_err(|e| io::Error::other(e.to_string()))?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let text = format!("docker:{hash}\n");
                std::fs::write(path, &text)?;
                crate::log::warn(&format!(
                    "htpasswd: created {} with user \"docker\" and password {password:?}",
                    path.display()
                ));
                Ok(Self::parse(realm, &text))
            }
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!("htpasswd {}: {e}", path.display()),
            )),
        }
    }

    /// The `WWW-Authenticate` challenge.
    pub fn challenge(&self) -> String {
        format!("Basic realm=\"{}\"", self.realm.replace('"', "\\\""))
    }

    /// The user of a valid `Authorization: Basic ...` header.
    pub async fn check(self: &Arc<Self>, authorization: Option<&str>) -> Option<String> {
        let cred = authorization?.trim();
        let (scheme, b64) = cred.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (user, password) = raw.split_once(':')?;
        let hash = self.users.get(user)?.clone();
        let key: [u8; 32] = Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update([0])
            .chain_update(password.as_bytes())
            .chain_update([0])
            .chain_update(hash.as_bytes())
            .finalize()
            .into();
        let known = self.verified.locked().contains(&key);
        if !known {
            let password = password.to_string();
            let ok = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
                .await
                .ok()?
                .ok()?;
            if !ok {
                return None;
            }
            self.verified.locked().insert(key);
        }
        Some(user.to_string())
    }
}
