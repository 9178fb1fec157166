//! Sample encryption (ISO/IEC 23001-7 §9, §10): the subsample map of a sample (which bytes stay
//! clear) and the AES-CTR (`cenc`) or pattern AES-CBC (`cbcs`) over the protected bytes.
//!
//! The map is a pure function of the sample and the layout ([`subsamples`]); the ciphers are
//! RustCrypto's `aes` + `ctr` + `cbc`. Rules, with their sections:
//!
//! - NAL-structured video (§10.2, as ISO/IEC 14496-15 and Shaka Packager): every NAL unit's
//!   length prefix and NAL header are clear, and the slice header too (parsed by `avc_slice`
//!   and `hevc_slice`); non-VCL NAL units (SPS, PPS, SEI, AUD) are clear; the rest of a coded
//!   slice is protected.
//! - `cenc` (§10.1, AES-CTR): a sample's protected ranges form one key stream (the counter
//!   runs on across ranges). Each range is cut to a multiple of 16 bytes, the remainder left
//!   clear after it (CMAF §8.2.2.2; where Shaka Packager leaves it), which hardware
//!   decryptors need. IV: 8 or 16 bytes per sample; the counter block is the IV (8 bytes:
//!   padded with 8 zero bytes) and its low 64 bits count blocks.
//! - `cbcs` (§10.4): AES-CBC with the constant IV, restarted at every subsample; in each
//!   protected range, `crypt` blocks encrypted then `skip` blocks clear, repeating (1:9 for
//!   video), the CBC chain running over the encrypted blocks only; a trailing partial block is
//!   clear. Audio (pattern 0:0) encrypts every whole block of the sample.
//! - Audio under both schemes: the whole sample is one protected range (no subsamples).

use aes::cipher::{BlockEncryptMut, KeyIvInit, StreamCipher};
use aes::Aes128;

use super::{EncryptError, SampleLayout, Scheme, TrackProtection};
use crate::track::Sample;

type Ctr = ctr::Ctr64BE<Aes128>;
type CbcEnc = cbc::Encryptor<Aes128>;

/// One subsample: clear bytes followed by protected bytes (an `senc` entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subsample {
    /// BytesOfClearData.
    pub clear: u16,
    /// BytesOfProtectedData.
    pub protected: u32,
}

/// The auxiliary information of one encrypted sample (its `senc` entry).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SampleAux {
    /// Per-sample IV (empty for `cbcs`, which uses the constant IV).
    pub iv: Vec<u8>,
    /// Subsamples (empty: the whole sample is protected).
    pub subsamples: Vec<Subsample>,
}

impl SampleAux {
    /// Size of the `senc` entry (what `saiz` lists).
    pub fn size(&self, with_subsamples: bool) -> usize {
        self.iv.len()
            + if with_subsamples {
                2 + 6 * self.subsamples.len()
            } else {
                0
            }
    }
}

/// The subsample map of one sample: `(clear, protected)` runs covering it exactly, or an
/// empty list for a whole-sample layout. Clear runs longer than 65,535 bytes are split into
/// several entries with 0 protected bytes. A malformed NAL length is an error.
pub fn subsamples(
    data: &[u8],
    layout: &SampleLayout,
    scheme: Scheme,
) -> Result<Vec<Subsample>, EncryptError> {
    let SampleLayout::Nal {
        length_size,
        header_size,
        is_vcl,
        slices,
    } = layout
    else {
        return Ok(Vec::new());
    };
    let (length_size, header_size) = (*length_size, *header_size);
    let mut out = Vec::new();
    let mut clear = 0usize;
    let mut pos = 0usize;
    while pos < data.len() {
        let Some(len_bytes) = data.get(pos..pos + length_size) else {
            return Err(EncryptError::Malformed(format!(
                "NAL length field cut at byte {pos} of a {}-byte sample",
                data.len()
            )));
        };
        let len = len_bytes.iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        let total = length_size + len;
        if pos + total > data.len() || len == 0 {
            return Err(EncryptError::Malformed(format!(
                "NAL unit of {len} bytes at byte {pos} overruns a {}-byte sample",
                data.len()
            )));
        }
        let header = data[pos + length_size];
        let nal = &data[pos + length_size..pos + total];
        // Clear: length, NAL header and (H.264) slice header.
        let head = length_size
            + slices
                .as_ref()
                .and_then(|s| s.slice_header_end(nal))
                .unwrap_or(header_size);
        if is_vcl(header) && total > head {
            let c = head;
            let mut p = total - head;
            // cenc: whole blocks only, the remainder clear after them (as Shaka).
            let tail = if scheme == Scheme::Cenc { p % 16 } else { 0 };
            p -= tail;
            if p == 0 {
                clear += total;
            } else {
                push_clear_run(&mut out, clear + c, p as u32);
                clear = tail;
            }
        } else {
            clear += total;
        }
        pos += total;
    }
    if clear > 0 {
        push_clear_run(&mut out, clear, 0);
    }
    Ok(out)
}

fn push_clear_run(out: &mut Vec<Subsample>, mut clear: usize, protected: u32) {
    while clear > u16::MAX as usize {
        out.push(Subsample {
            clear: u16::MAX,
            protected: 0,
        });
        clear -= u16::MAX as usize;
    }
    out.push(Subsample {
        clear: clear as u16,
        protected,
    });
}

/// The IV of the `index`-th sample of a track under `cenc`: the first IV plus `index`, added
/// to the 8-byte IV, or to the high 8 bytes of a 16-byte IV (the low 8 bytes are the block
/// counter), so that no two samples share counter blocks.
pub fn cenc_sample_iv(first: &[u8], index: u64) -> Vec<u8> {
    let mut iv = first.to_vec();
    let hi = u64::from_be_bytes(iv[..8].try_into().expect("IV has 8 or 16 bytes"));
    iv[..8].copy_from_slice(&hi.wrapping_add(index).to_be_bytes());
    iv
}

/// Encrypts one sample in place, returning its auxiliary information. `index` is the
/// sample's position in the track (it selects the `cenc` IV).
pub fn encrypt_sample(
    p: &TrackProtection,
    index: u64,
    data: &mut [u8],
) -> Result<SampleAux, EncryptError> {
    let subs = subsamples(data, &p.layout, p.scheme)?;
    // Protected ranges as (start, len).
    let ranges: Vec<(usize, usize)> = if subs.is_empty() {
        vec![(0, data.len())]
    } else {
        let mut pos = 0usize;
        subs.iter()
            .map(|s| {
                let start = pos + s.clear as usize;
                pos = start + s.protected as usize;
                (start, s.protected as usize)
            })
            .collect()
    };
    let iv = match p.scheme {
        Scheme::Cenc => {
            let iv = cenc_sample_iv(&p.iv, index);
            let mut block = [0u8; 16];
            block[..iv.len()].copy_from_slice(&iv);
            let mut c = Ctr::new(&p.key.key.into(), &block.into());
            for &(start, len) in &ranges {
                c.apply_keystream(&mut data[start..start + len]);
            }
            iv
        }
        Scheme::Cbcs => {
            let iv: [u8; 16] = p.iv[..]
                .try_into()
                .map_err(|_| EncryptError::Invalid("cbcs needs a 16-byte IV".into()))?;
            for &(start, len) in &ranges {
                cbcs_range(
                    &p.key.key,
                    &iv,
                    p.crypt_byte_block,
                    p.skip_byte_block,
                    &mut data[start..start + len],
                );
            }
            Vec::new()
        }
    };
    Ok(SampleAux {
        iv,
        subsamples: subs,
    })
}

/// `cbcs` over one protected range: the chain restarts from `iv`; `crypt` blocks encrypted,
/// `skip` blocks clear, repeating; 0:0 encrypts every whole block; a partial block stays clear.
fn cbcs_range(key: &[u8; 16], iv: &[u8; 16], crypt: u8, skip: u8, data: &mut [u8]) {
    let mut enc = CbcEnc::new(key.into(), iv.into());
    let (crypt, skip) = if crypt == 0 && skip == 0 {
        (1usize, 0usize)
    } else {
        (crypt as usize, skip as usize)
    };
    let blocks = data.len() / 16;
    let mut b = 0;
    while b < blocks {
        for _ in 0..crypt.min(blocks - b) {
            let block = &mut data[b * 16..(b + 1) * 16];
            enc.encrypt_block_mut(block.into());
            b += 1;
        }
        b += skip;
    }
}

/// Encrypts the samples of one segment (copies; the track keeps its clear samples), whose
/// first sample is the track's `first_index`-th. Returns the encrypted samples and their
/// auxiliary information, in order.
pub fn encrypt_samples(
    p: &TrackProtection,
    first_index: u64,
    samples: &[Sample],
) -> Result<(Vec<Sample>, Vec<SampleAux>), EncryptError> {
    let mut out = Vec::with_capacity(samples.len());
    let mut aux = Vec::with_capacity(samples.len());
    for (i, s) in samples.iter().enumerate() {
        let mut s = s.clone();
        aux.push(encrypt_sample(p, first_index + i as u64, &mut s.data)?);
        out.push(s);
    }
    Ok((out, aux))
}

/// Whether the AES block cipher itself is the standard one (FIPS-197 appendix C.1 vector);
/// used by the tests, kept here next to the cipher choice.
#[cfg(test)]
fn aes_known_answer() -> bool {
    use aes::cipher::{BlockEncrypt, KeyInit};
    let key: [u8; 16] = core::array::from_fn(|i| i as u8);
    let mut block: [u8; 16] = core::array::from_fn(|i| (i as u8) * 0x11);
    Aes128::new(&key.into()).encrypt_block((&mut block).into());
    block
        == [
            0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30, 0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4,
            0xc5, 0x5a,
        ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encrypt::ContentKey;

    fn avc() -> SampleLayout {
        SampleLayout::Nal {
            length_size: 4,
            header_size: 1,
            is_vcl: super::super::avc_is_vcl,
            slices: None,
        }
    }

    fn nal(kind: u8, len: usize) -> Vec<u8> {
        let mut v = (len as u32).to_be_bytes().to_vec();
        v.push(kind);
        v.extend((1..len).map(|i| (i * 7) as u8));
        v
    }

    fn protection(scheme: Scheme, layout: SampleLayout) -> TrackProtection {
        TrackProtection {
            scheme,
            key: ContentKey {
                key_id: [1; 16],
                key: *b"0123456789abcdef",
            },
            iv: if scheme == Scheme::Cenc {
                vec![0, 0, 0, 0, 0, 0, 0, 9]
            } else {
                (0..16).collect()
            },
            crypt_byte_block: if scheme == Scheme::Cbcs { 1 } else { 0 },
            skip_byte_block: if scheme == Scheme::Cbcs { 9 } else { 0 },
            layout,
        }
    }

    #[test]
    fn aes_is_fips_197() {
        assert!(aes_known_answer());
    }

    #[test]
    fn cenc_subsamples_keep_headers_clear_and_align_to_16() {
        // SEI (clear), IDR slice of 100 bytes (+4 length).
        let mut s = nal(6, 20);
        s.extend(nal(0x65, 100));
        let subs = subsamples(&s, &avc(), Scheme::Cenc).unwrap();
        // slice: 4 + 1 header clear, 99 protected -> 96 protected, the 3 after them clear.
        assert_eq!(
            subs,
            [
                Subsample {
                    clear: 24 + 5,
                    protected: 96
                },
                Subsample {
                    clear: 3,
                    protected: 0
                }
            ]
        );
        let covered: usize = subs
            .iter()
            .map(|s| s.clear as usize + s.protected as usize)
            .sum();
        assert_eq!(covered, s.len());
        // cbcs: no alignment.
        let subs = subsamples(&s, &avc(), Scheme::Cbcs).unwrap();
        assert_eq!(
            subs,
            [Subsample {
                clear: 29,
                protected: 99
            }]
        );
    }

    #[test]
    fn trailing_clear_and_long_clear_runs() {
        let mut s = nal(0x65, 50);
        s.extend(nal(6, 70_000));
        let subs = subsamples(&s, &avc(), Scheme::Cenc).unwrap();
        let covered: usize = subs
            .iter()
            .map(|s| s.clear as usize + s.protected as usize)
            .sum();
        assert_eq!(covered, s.len());
        assert_eq!(subs[0].protected, 48);
        assert!(subs[1..].iter().all(|s| s.protected == 0));
        assert!(subsamples(&s[..s.len() - 1], &avc(), Scheme::Cenc).is_err());
    }

    /// Known answer, computed independently of this module: AES-128-CTR of 16 zero bytes
    /// with this key and counter block 0000000000000009 0000000000000000 is the AES-ECB
    /// encryption of that counter block (checked with `openssl enc -aes-128-ecb`).
    #[test]
    fn cenc_whole_sample_known_answer() {
        let p = protection(Scheme::Cenc, SampleLayout::Whole);
        let mut data = [0u8; 16];
        let aux = encrypt_sample(&p, 0, &mut data).unwrap();
        assert_eq!(aux.iv, [0, 0, 0, 0, 0, 0, 0, 9]);
        assert!(aux.subsamples.is_empty());
        assert_eq!(hex(&data), CENC_KAT);
        // The next sample gets the next IV.
        let aux = encrypt_sample(&p, 1, &mut [0u8; 3]).unwrap();
        assert_eq!(aux.iv, [0, 0, 0, 0, 0, 0, 0, 10]);
    }

    const CENC_KAT: &str = "c354c2ac6f678af17f2bb64c82715e18";

    fn hex(b: &[u8]) -> String {
        crate::encrypt::hex(b)
    }

    /// Decrypts cbcs independently (block by block with the raw AES decryption), to check
    /// the pattern and chaining of the encryptor.
    fn cbcs_decrypt(key: &[u8; 16], iv: &[u8; 16], crypt: usize, skip: usize, data: &mut [u8]) {
        use aes::cipher::{BlockDecrypt, KeyInit};
        let aes = Aes128::new(key.into());
        let mut prev = *iv;
        let n = data.len() / 16;
        for b in 0..n {
            let in_crypt = crypt + skip == 0 || b % (crypt + skip) < crypt;
            if !in_crypt {
                continue;
            }
            let block = &mut data[b * 16..(b + 1) * 16];
            let ct: [u8; 16] = block.try_into().unwrap();
            aes.decrypt_block(block.into());
            for (x, p) in block.iter_mut().zip(prev) {
                *x ^= p;
            }
            prev = ct;
        }
    }

    #[test]
    fn cbcs_pattern_round_trip_and_clear_parts() {
        let p = protection(Scheme::Cbcs, avc());
        let sample = nal(0x41, 16 * 25 + 7);
        let mut enc = sample.clone();
        let aux = encrypt_sample(&p, 0, &mut enc).unwrap();
        assert!(aux.iv.is_empty());
        assert_eq!(
            aux.subsamples,
            [Subsample {
                clear: 5,
                protected: 16 * 25 + 7 - 1
            }]
        );
        let body = 5;
        // Block 0 encrypted, blocks 1..10 clear, block 10 encrypted, partial tail clear.
        assert_ne!(enc[body..body + 16], sample[body..body + 16]);
        assert_eq!(enc[body + 16..body + 160], sample[body + 16..body + 160]);
        assert_ne!(enc[body + 160..body + 176], sample[body + 160..body + 176]);
        let tail = enc.len() - ((enc.len() - body) % 16);
        assert_eq!(enc[tail..], sample[tail..]);
        assert_eq!(enc[..body], sample[..body]);
        let mut dec = enc.clone();
        let iv: [u8; 16] = p.iv[..].try_into().unwrap();
        cbcs_decrypt(&p.key.key, &iv, 1, 9, &mut dec[body..]);
        assert_eq!(dec, sample);
    }

    #[test]
    fn cbcs_audio_encrypts_every_whole_block() {
        let mut p = protection(Scheme::Cbcs, SampleLayout::Whole);
        p.crypt_byte_block = 0;
        p.skip_byte_block = 0;
        let sample: Vec<u8> = (0..100u8).collect();
        let mut enc = sample.clone();
        encrypt_sample(&p, 0, &mut enc).unwrap();
        assert_eq!(enc[96..], sample[96..]);
        for b in 0..6 {
            assert_ne!(enc[b * 16..b * 16 + 16], sample[b * 16..b * 16 + 16]);
        }
        let iv: [u8; 16] = p.iv[..].try_into().unwrap();
        cbcs_decrypt(&p.key.key, &iv, 0, 0, &mut enc);
        assert_eq!(enc, sample);
    }

    #[test]
    fn cenc_16_byte_iv_increments_high_half() {
        let iv: Vec<u8> = (0..16).collect();
        let next = cenc_sample_iv(&iv, 1);
        assert_eq!(next[..8], [0, 1, 2, 3, 4, 5, 6, 8]);
        assert_eq!(next[8..], iv[8..]);
    }
}
