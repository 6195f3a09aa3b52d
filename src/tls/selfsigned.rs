//! A self-signed certificate made at startup (ECDSA P-256, for
//! `localhost`, 127.0.0.1 and ::1), so that the built-in server can speak
//! HTTPS with no files and no `openssl` at hand. The DER is written by hand:
//! a certificate is a handful of nested TLVs, and graviola (already the
//! crypto provider) makes the key and the signature.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use graviola::hashing::Sha256;
use graviola::key_agreement::p256::StaticPrivateKey;
use graviola::signing::ecdsa::{P256, SigningKey};

/// How long the certificate is valid, from one hour before it is made.
const VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// A certificate and its private key.
pub struct SelfSigned {
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// Its private key, PKCS#8 DER.
    pub key_der: Vec<u8>,
}

impl SelfSigned {
    /// The certificate in PEM, for `--cacert` on the client side.
    pub fn cert_pem(&self) -> String {
        pem("CERTIFICATE", &self.cert_der)
    }

    /// The private key in PEM.
    pub fn key_pem(&self) -> String {
        pem("PRIVATE KEY", &self.key_der)
    }

    /// The certificate as the built-in server presents it.
    pub fn identity(&self) -> super::ServerIdentity {
        super::ServerIdentity::Der { cert: self.cert_der.clone(), key: self.key_der.clone() }
    }
}

/// Makes a fresh key and a certificate for it, valid from an hour before
/// `now` for ten years. Fails only if the system's random source does.
pub fn self_signed(now: SystemTime) -> Result<SelfSigned, String> {
    let failed = |e: graviola::Error| format!("cannot make a self-signed certificate: {e:?}");
    let private_key = StaticPrivateKey::new_random().map_err(failed)?;
    let public_key = private_key.public_key_uncompressed();
    let key = SigningKey::<P256> { private_key };
    let mut serial = [0u8; 16];
    graviola::random::fill(&mut serial).map_err(failed)?;
    let serial = der_serial(serial);
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default().saturating_sub(Duration::from_secs(3600));
    let tbs = tbs_certificate(&serial, since, since + VALIDITY, &public_key);
    let mut signature = [0u8; 80];
    let signature = key.sign_asn1::<Sha256>(&[&tbs], &mut signature).map_err(failed)?;
    let cert_der = seq(&[&tbs, &seq(&[ECDSA_WITH_SHA256]), &bit_string(signature)]);
    let mut key_buf = [0u8; 256];
    let key_der = key.to_pkcs8_der(&mut key_buf).map_err(failed)?.to_vec();
    Ok(SelfSigned { cert_der, key_der })
}

/// A serial number's INTEGER content from 16 random bytes: positive (top
/// bit clear) and minimal (first byte not zero). Only clearing the top bit
/// left a leading zero byte in 1 of 128 certificates, 1 in 256 of them
/// followed by a byte below 0x80: DER that OpenSSL refuses ("illegal
/// padding"), so h2load and curl failed every handshake with that server.
fn der_serial(mut random: [u8; 16]) -> [u8; 16] {
    random[0] = (random[0] & 0x7f) | 0x40;
    random
}

/// DER of OID 1.2.840.10045.4.3.2 (ecdsa-with-SHA256).
const ECDSA_WITH_SHA256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
/// DER of OID 1.2.840.10045.2.1 (id-ecPublicKey).
const EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// DER of OID 1.2.840.10045.3.1.7 (prime256v1).
const PRIME256V1: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// DER of OID 2.5.4.3 (commonName).
const COMMON_NAME: &[u8] = &[0x06, 0x03, 0x55, 0x04, 0x03];
/// DER of OID 2.5.29.17 (subjectAltName).
const SUBJECT_ALT_NAME: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x11];

fn tbs_certificate(serial: &[u8], not_before: Duration, not_after: Duration, public_key: &[u8]) -> Vec<u8> {
    let version = tlv(0xa0, &tlv(0x02, &[2])); // [0] EXPLICIT v3
    let name = seq(&[&tlv(0x31, &seq(&[COMMON_NAME, &tlv(0x0c, b"vastar serve")]))]);
    let validity = seq(&[&time(not_before.as_secs()), &time(not_after.as_secs())]);
    let algorithm = seq(&[EC_PUBLIC_KEY, PRIME256V1]);
    let spki = seq(&[&algorithm, &bit_string(public_key)]);
    let names = seq(&[
        &tlv(0x82, b"localhost"),
        &tlv(0x87, &[127, 0, 0, 1]),
        &tlv(0x87, &std::net::Ipv6Addr::LOCALHOST.octets()),
    ]);
    let san = seq(&[SUBJECT_ALT_NAME, &tlv(0x04, &names)]);
    let extensions = tlv(0xa3, &seq(&[&san])); // [3] EXPLICIT
    seq(&[&version, &tlv(0x02, serial), &seq(&[ECDSA_WITH_SHA256]), &name, &validity, &name, &spki, &extensions])
}

/// A DER tag-length-value.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn bit_string(bytes: &[u8]) -> Vec<u8> {
    tlv(0x03, &[&[0u8][..], bytes].concat())
}

/// UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5).
fn time(unix_secs: u64) -> Vec<u8> {
    let (year, month, day) = civil_from_days((unix_secs / 86_400) as i64);
    let secs = unix_secs % 86_400;
    let clock = format!("{month:02}{day:02}{:02}{:02}{:02}Z", secs / 3600, secs / 60 % 60, secs % 60);
    if year < 2050 {
        tlv(0x17, format!("{:02}{clock}", year % 100).as_bytes())
    } else {
        tlv(0x18, format!("{year:04}{clock}").as_bytes())
    }
}

/// (year, month, day) of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// PEM: base64 in lines of 64 between BEGIN and END lines.
fn pem(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut base64 = String::new();
    for chunk in der.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            let c = if i <= chunk.len() { ALPHABET[(n >> (18 - 6 * i) & 63) as usize] } else { b'=' };
            base64.push(char::from(c));
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in base64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_encoded_as_rfc_5280_asks() {
        assert_eq!(time(0), tlv(0x17, b"700101000000Z"));
        assert_eq!(time(951_782_400), tlv(0x17, b"000229000000Z"), "2000-02-29");
        assert_eq!(time(2_524_607_999), tlv(0x17, b"491231235959Z"));
        assert_eq!(time(2_524_608_000), tlv(0x18, b"20500101000000Z"));
        assert_eq!(time(4_102_444_800 + 86_399), tlv(0x18, b"21000101235959Z"));
    }

    #[test]
    fn serials_are_positive_minimal_integers() {
        for first in [0x00, 0x01, 0x7f, 0x80, 0xff] {
            for second in [0x00, 0x7f, 0x80, 0xff] {
                let mut random = [0xa5; 16];
                (random[0], random[1]) = (first, second);
                let serial = der_serial(random);
                assert!((0x01..0x80).contains(&serial[0]), "{first:#x} {second:#x}: {:#x}", serial[0]);
                assert_eq!(serial[1..], random[1..]);
            }
        }
    }

    #[test]
    fn lengths_use_the_long_form_from_128_bytes() {
        assert_eq!(tlv(0x04, &[7; 127])[..2], [0x04, 127]);
        assert_eq!(tlv(0x04, &[7; 128])[..3], [0x04, 0x81, 128]);
        assert_eq!(tlv(0x04, &[7; 300])[..4], [0x04, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn pem_is_base64_in_lines_of_64() {
        assert_eq!(pem("X", b"Man"), "-----BEGIN X-----\nTWFu\n-----END X-----\n");
        assert_eq!(pem("X", b"Ma"), "-----BEGIN X-----\nTWE=\n-----END X-----\n");
        assert_eq!(pem("X", b"M"), "-----BEGIN X-----\nTQ==\n-----END X-----\n");
        let long = pem("X", &[0u8; 60]);
        assert_eq!(long.lines().nth(1).map(str::len), Some(64));
        assert_eq!(long.lines().nth(2).map(str::len), Some(16));
    }
}
