//! Secret key files: how they are written (encrypted with a passphrase, or in the clear), read,
//! and destroyed.
//!
//! A key file's plain text is the secret key in hex on its first line and the holder's name on
//! its second. Encrypted, the same text is an [age](https://age-encryption.org/v1) file for a
//! passphrase (scrypt recipient: a memory-hard KDF), ASCII-armored, so it starts with
//! `-----BEGIN AGE ENCRYPTED FILE-----`; reading recognises that header (or age's binary one) and
//! asks for the passphrase only then.
//!
//! Where the passphrase comes from (an environment variable, a file, a terminal prompt), and how
//! a face tells its user of a key kept in the clear, is the face's business: it gives a
//! [`KeyFiles`] with its passphrase source and its notice hook to [`crate::Home::with_keys`].

use std::fmt;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use age::secrecy::SecretString;

use crate::error::{AppError, AppResult};

/// The scrypt work factor (log2 of N, with r = 8, p = 1) of the key files dossier writes:
/// 2^17 × 1 KiB = 128 MiB of memory per attempt, a fraction of a second here.
pub const WORK_FACTOR: u8 = 17;

/// The largest work factor accepted when reading a key file (2^22: 4 GiB, age's own bound for
/// files it did not write): a file asking for more is refused rather than tried.
pub const MAX_WORK_FACTOR: u8 = 22;

/// The first line of an ASCII-armored age file.
const ARMOR_HEADER: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";
/// The first line of a binary age file.
const BINARY_HEADER: &[u8] = b"age-encryption.org/v1";

/// A source of the passphrase: called when a key file is encrypted or decrypted. It returns the
/// passphrase, `Ok(None)` when none is available (no variable, no terminal), or why reading it
/// failed.
pub type PassphraseSource =
    Arc<dyn Fn(PassphraseUse) -> Result<Option<SecretString>, String> + Send + Sync + 'static>;

/// What a passphrase is asked for (a prompt asks twice for a new one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassphraseUse {
    /// Encrypting a new key file.
    Encrypt,
    /// Decrypting a key file.
    Decrypt,
}

/// Told of every [`KeyNotice`].
pub type NoticeHook = Arc<dyn Fn(&KeyNotice) + Send + Sync + 'static>;

/// Something about key files a face may want to tell its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyNotice {
    /// A secret key was written unencrypted to this file.
    WrittenInClear(PathBuf),
    /// A secret key was read from this unencrypted file.
    LoadedInClear(PathBuf),
    /// The secret of a revoked key was overwritten and removed.
    Destroyed {
        /// The key id.
        key: String,
        /// Where the ledger records its revocation.
        revoked_seq: u64,
    },
}

/// How a data directory's secret key files are written and read.
#[derive(Clone, Default)]
pub struct KeyFiles {
    passphrase: Option<PassphraseSource>,
    encrypt: bool,
    notices: Option<NoticeHook>,
}

impl fmt::Debug for KeyFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFiles")
            .field("passphrase", &self.passphrase.as_ref().map(|_| "…"))
            .field("encrypt", &self.encrypt)
            .finish_non_exhaustive()
    }
}

impl KeyFiles {
    /// Key files in the clear, no passphrase, no notices.
    pub fn new() -> KeyFiles {
        KeyFiles::default()
    }

    /// Where the passphrase comes from when a key file must be encrypted or decrypted.
    #[must_use]
    pub fn passphrase(mut self, source: PassphraseSource) -> KeyFiles {
        self.passphrase = Some(source);
        self
    }

    /// Whether new key files are encrypted (with the passphrase, which must then be available).
    #[must_use]
    pub fn encrypt(mut self, on: bool) -> KeyFiles {
        self.encrypt = on;
        self
    }

    /// Whether new key files are encrypted.
    pub fn encrypts(&self) -> bool {
        self.encrypt
    }

    /// Called with every [`KeyNotice`].
    #[must_use]
    pub fn notices(mut self, hook: NoticeHook) -> KeyFiles {
        self.notices = Some(hook);
        self
    }

    pub(crate) fn notify(&self, notice: &KeyNotice) {
        if let Some(hook) = &self.notices {
            hook(notice);
        }
    }

    fn get_passphrase(&self, path: &Path, purpose: PassphraseUse) -> AppResult<SecretString> {
        let got = match &self.passphrase {
            Some(source) => source(purpose).map_err(|what| AppError::Passphrase {
                path: path.to_owned(),
                what,
            })?,
            None => None,
        };
        got.ok_or_else(|| AppError::NoPassphrase {
            path: path.to_owned(),
        })
    }

    /// The bytes of a key file holding `plain`: encrypted if new key files are, else `plain`.
    pub(crate) fn seal(&self, path: &Path, plain: &[u8]) -> AppResult<Vec<u8>> {
        if !self.encrypt {
            self.notify(&KeyNotice::WrittenInClear(path.to_owned()));
            return Ok(plain.to_vec());
        }
        let passphrase = self.get_passphrase(path, PassphraseUse::Encrypt)?;
        encrypt(plain, passphrase).map_err(|e| AppError::Key {
            what: format!("encrypting {}", path.display()),
            source: Some(Box::new(e)),
        })
    }

    /// Writes a new secret file `path` (mode 0600; it must not exist) holding `plain`,
    /// encrypted if new key files are — for secrets kept outside a data directory's `keys/`
    /// (a witness's key).
    ///
    /// # Errors
    /// [`AppError::NoPassphrase`] if it is to be encrypted and no passphrase is given; if the
    /// file exists or cannot be written.
    pub fn write_new(&self, path: &Path, plain: &[u8]) -> AppResult<()> {
        let bytes = self.seal(path, plain)?;
        let mut f = crate::home::create_private(path)
            .map_err(|e| AppError::io(format!("creating key file {}", path.display()), e))?;
        f.write_all(&bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| AppError::io(format!("writing {}", path.display()), e))
    }

    /// The plain text of the secret file `path`, decrypted with the passphrase if it is
    /// encrypted.
    ///
    /// # Errors
    /// [`AppError::Key`] if it cannot be read; [`AppError::NoPassphrase`] or
    /// [`AppError::WrongPassphrase`] for an encrypted file.
    pub fn read(&self, path: &Path) -> AppResult<Vec<u8>> {
        let bytes = std::fs::read(path).map_err(|e| AppError::Key {
            what: format!("reading {}", path.display()),
            source: Some(Box::new(e)),
        })?;
        self.open(path, bytes)
    }

    /// `plain` encrypted with the passphrase, whether or not new key files are encrypted (a
    /// backup is always encrypted).
    ///
    /// # Errors
    /// [`AppError::NoPassphrase`] without a passphrase; if encryption fails.
    pub fn encrypt_always(&self, path: &Path, plain: &[u8]) -> AppResult<Vec<u8>> {
        let passphrase = self.get_passphrase(path, PassphraseUse::Encrypt)?;
        encrypt(plain, passphrase).map_err(|e| AppError::Key {
            what: format!("encrypting {}", path.display()),
            source: Some(Box::new(e)),
        })
    }

    /// The plain text of a key file's bytes, decrypting them if they are an age file.
    ///
    /// # Errors
    /// [`AppError::NoPassphrase`] or [`AppError::WrongPassphrase`] for an encrypted file; if
    /// decryption fails.
    pub fn open(&self, path: &Path, bytes: Vec<u8>) -> AppResult<Vec<u8>> {
        if !is_encrypted(&bytes) {
            self.notify(&KeyNotice::LoadedInClear(path.to_owned()));
            return Ok(bytes);
        }
        let passphrase = self.get_passphrase(path, PassphraseUse::Decrypt)?;
        decrypt(&bytes, passphrase).map_err(|e| match e {
            age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
                AppError::WrongPassphrase {
                    path: path.to_owned(),
                }
            }
            e => AppError::Key {
                what: format!("decrypting {}", path.display()),
                source: Some(Box::new(e)),
            },
        })
    }
}

/// Whether a key file's bytes are an age file (armored or binary).
pub fn is_encrypted(bytes: &[u8]) -> bool {
    let start = bytes.trim_ascii_start();
    start.starts_with(ARMOR_HEADER) || start.starts_with(BINARY_HEADER)
}

fn encrypt(plain: &[u8], passphrase: SecretString) -> Result<Vec<u8>, age::EncryptError> {
    let mut recipient = age::scrypt::Recipient::new(passphrase);
    recipient.set_work_factor(WORK_FACTOR);
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))?;
    let mut out = Vec::new();
    let armored = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)?;
    let mut writer = encryptor.wrap_output(armored)?;
    writer.write_all(plain)?;
    writer.finish()?.finish()?;
    Ok(out)
}

fn decrypt(bytes: &[u8], passphrase: SecretString) -> Result<Vec<u8>, age::DecryptError> {
    let decryptor = age::Decryptor::new(age::armor::ArmoredReader::new(bytes))?;
    let mut identity = age::scrypt::Identity::new(passphrase);
    identity.set_max_work_factor(MAX_WORK_FACTOR);
    let mut reader = decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity))?;
    let mut plain = Vec::new();
    reader.read_to_end(&mut plain)?;
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(passphrase: &str) -> KeyFiles {
        let p = passphrase.to_owned();
        KeyFiles::new()
            .encrypt(true)
            .passphrase(Arc::new(move |_| Ok(Some(SecretString::from(p.clone())))))
    }

    #[test]
    fn an_encrypted_key_file_is_armored_hides_the_secret_and_opens_only_with_its_passphrase() {
        let path = Path::new("k.key");
        let plain = b"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\nalice\n";
        let sealed = with("correct horse").seal(path, plain).expect("encrypts");
        assert!(sealed.starts_with(ARMOR_HEADER));
        assert!(is_encrypted(&sealed));
        assert!(
            !sealed
                .windows(16)
                .any(|w| plain.windows(16).any(|p| p == w)),
            "no 16 bytes of the plain text appear in the file"
        );
        assert_eq!(
            with("correct horse")
                .open(path, sealed.clone())
                .expect("opens"),
            plain
        );
        assert!(matches!(
            with("wrong").open(path, sealed.clone()),
            Err(AppError::WrongPassphrase { .. })
        ));
        assert!(matches!(
            KeyFiles::new().open(path, sealed),
            Err(AppError::NoPassphrase { .. })
        ));
    }

    #[test]
    fn a_plain_key_file_is_read_as_it_is_with_a_notice() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let files = KeyFiles::new().notices(Arc::new(move |n: &KeyNotice| {
            s.lock().expect("lock").push(n.clone());
        }));
        let path = Path::new("k.key");
        assert_eq!(
            files.open(path, b"ab\nx\n".to_vec()).expect("plain"),
            b"ab\nx\n"
        );
        assert_eq!(files.seal(path, b"ab\nx\n").expect("plain"), b"ab\nx\n");
        assert_eq!(
            *seen.lock().expect("lock"),
            [
                KeyNotice::LoadedInClear(path.to_owned()),
                KeyNotice::WrittenInClear(path.to_owned())
            ]
        );
    }
}
