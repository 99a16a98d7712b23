//! Bearer tokens, issued and verified (any thread; pure, no IO).
//!
//! Bearer tokens: HS256 JWTs that name a player and a server-side session. The signature
//! proves who issued a token; the session (checked in the database) lets `logout` revoke it
//! at once, over HTTP and WebSocket alike.

use std::time::{SystemTime, UNIX_EPOCH};

use arcade_systems::model::PlayerId;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// How long a token is valid: 30 days.
pub const TOKEN_LIFETIME_SECONDS: u64 = 30 * 24 * 3600;

/// What a token says.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The player.
    pub sub: PlayerId,
    /// The session the token belongs to (revocable).
    pub sid: String,
    pub iat: u64,
    pub exp: u64,
    /// A guest's name, in the tokens of guests not (yet) written to the database: such a
    /// token is its own record, valid until it expires or its session is revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest: Option<String>,
}

/// Issues and verifies tokens with one secret.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Tokens {
    pub fn new(secret: &[u8]) -> Tokens {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        Tokens {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn issue(&self, player: PlayerId, session: &str) -> String {
        self.issue_claims(player, session, None)
    }

    /// A token for a guest that is not written to the database (see [`Claims::guest`]).
    pub fn issue_guest(&self, player: PlayerId, session: &str, name: &str) -> String {
        self.issue_claims(player, session, Some(name.to_owned()))
    }

    fn issue_claims(&self, player: PlayerId, session: &str, guest: Option<String>) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = Claims {
            sub: player,
            sid: session.to_owned(),
            iat: now,
            exp: now + TOKEN_LIFETIME_SECONDS,
            guest,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing does not fail")
    }

    /// The claims of a well-signed, unexpired token (the session is not checked here).
    pub fn verify(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_with_its_secret_only() {
        let tokens = Tokens::new(b"secret one");
        let token = tokens.issue(PlayerId(42), "s1");
        let claims = tokens.verify(&token).expect("valid");
        assert_eq!(claims.sub, PlayerId(42));
        assert_eq!(claims.sid, "s1");
        assert!(Tokens::new(b"secret two").verify(&token).is_none());
        assert!(tokens.verify("not.a.token").is_none());
    }
}
