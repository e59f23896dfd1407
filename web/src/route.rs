//! Which page the location hash asks for. Routing lives in the hash so that the
//! server needs one fallback (`index.html`) and the session token never reaches it
//! in a request line or a `Referer`.

use shared::playground::routes;

/// A page of the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The landing page (any hash that is not a session link).
    Landing,
    /// A session, opened by its creator or through a shared link.
    Session { id: String, token: String },
    /// A trainer opening a workshop (`#/trainer`).
    Trainer,
    /// A trainer's workshop (`#/w/{id}/{token}`).
    Workshop { id: String, token: String },
}

impl Route {
    /// The route for `location.hash` (with or without its `#`).
    pub fn from_hash(hash: &str) -> Route {
        let path = hash.trim_start_matches('#');
        if path == "/trainer" {
            return Route::Trainer;
        }
        if let Some(rest) = path.strip_prefix("/w/") {
            let mut parts = rest.split('/');
            if let (Some(id), Some(token), None) = (parts.next(), parts.next(), parts.next()) {
                let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
                if ok(id) && ok(token) {
                    return Route::Workshop {
                        id: id.to_string(),
                        token: token.to_string(),
                    };
                }
            }
        }
        match routes::parse_share_fragment(hash) {
            Some((id, token)) => Route::Session { id, token },
            None => Route::Landing,
        }
    }

    /// The hash that leads here (`#/s/{id}/{token}` or empty).
    pub fn to_hash(&self) -> String {
        match self {
            Route::Landing => String::new(),
            Route::Session { id, token } => routes::share_path(id, token)
                .trim_start_matches('/')
                .to_string(),
            Route::Trainer => "#/trainer".to_string(),
            Route::Workshop { id, token } => format!("#/w/{id}/{token}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_hashes_round_trip() {
        let r = Route::Session {
            id: "abc".into(),
            token: "tok".into(),
        };
        assert_eq!(r.to_hash(), "#/s/abc/tok");
        assert_eq!(Route::from_hash(&r.to_hash()), r);
    }

    #[test]
    fn trainer_hashes_round_trip() {
        assert_eq!(Route::from_hash("#/trainer"), Route::Trainer);
        assert_eq!(Route::Trainer.to_hash(), "#/trainer");
        let w = Route::Workshop {
            id: "ab12".into(),
            token: "cd34".into(),
        };
        assert_eq!(w.to_hash(), "#/w/ab12/cd34");
        assert_eq!(Route::from_hash(&w.to_hash()), w);
        assert_eq!(Route::from_hash("#/w/ab12"), Route::Landing);
        assert_eq!(Route::from_hash("#/w/a/b/c"), Route::Landing);
        assert_eq!(Route::from_hash("#/w/a/<b>"), Route::Landing);
    }

    #[test]
    fn anything_else_is_the_landing_page() {
        assert_eq!(Route::from_hash(""), Route::Landing);
        assert_eq!(Route::from_hash("#/about"), Route::Landing);
        assert_eq!(Route::from_hash("#/s/abc"), Route::Landing);
        assert_eq!(Route::Landing.to_hash(), "");
    }
}
