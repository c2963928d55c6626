//! Reading the ZIP archives some intermediaries wrap their documents in (MyPay's
//! `base64ZipAvviso` holds `avviso_<CF ente>_<IUV>.pdf`): the entries are found through the
//! central directory, stored or deflated entries are read, and each entry's CRC-32 is checked.

/// One file of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its name in the archive.
    pub name: String,
    /// Its bytes, uncompressed.
    pub data: Vec<u8>,
}

/// Largest entry this reader inflates (a notice PDF is far smaller).
pub const MAX_ENTRY: usize = 16 * 1024 * 1024;

fn u16_at(bytes: &[u8], at: usize) -> Result<usize, String> {
    bytes.get(at..at + 2).map(|b| usize::from(u16::from_le_bytes([b[0], b[1]]))).ok_or_else(truncated)
}

fn u32_at(bytes: &[u8], at: usize) -> Result<usize, String> {
    bytes.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize).ok_or_else(truncated)
}

fn truncated() -> String {
    "the archive is truncated".to_owned()
}

/// Every file of a ZIP archive, in central-directory order.
pub fn entries(bytes: &[u8]) -> Result<Vec<Entry>, String> {
    // The end-of-central-directory record: the last `PK\x05\x06` within the final 64 KiB + 22.
    let search_from = bytes.len().saturating_sub(65_557);
    let eocd = (search_from..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| bytes[i..].starts_with(b"PK\x05\x06"))
        .ok_or_else(|| "not a ZIP archive (no end of central directory)".to_owned())?;
    let count = u16_at(bytes, eocd + 10)?;
    let mut at = u32_at(bytes, eocd + 16)?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        if !bytes.get(at..).is_some_and(|b| b.starts_with(b"PK\x01\x02")) {
            return Err("bad central directory entry".to_owned());
        }
        let method = u16_at(bytes, at + 10)?;
        let crc = u32_at(bytes, at + 16)?;
        let compressed = u32_at(bytes, at + 20)?;
        let size = u32_at(bytes, at + 24)?;
        let (name_len, extra_len, comment_len) =
            (u16_at(bytes, at + 28)?, u16_at(bytes, at + 30)?, u16_at(bytes, at + 32)?);
        let local = u32_at(bytes, at + 42)?;
        let name = bytes.get(at + 46..at + 46 + name_len).ok_or_else(truncated)?;
        let name = String::from_utf8_lossy(name).into_owned();
        at += 46 + name_len + extra_len + comment_len;
        if !bytes.get(local..).is_some_and(|b| b.starts_with(b"PK\x03\x04")) {
            return Err(format!("{name}: bad local header"));
        }
        let start = local + 30 + u16_at(bytes, local + 26)? + u16_at(bytes, local + 28)?;
        let raw = bytes.get(start..start + compressed).ok_or_else(truncated)?;
        if size > MAX_ENTRY {
            return Err(format!("{name}: {size} bytes is more than this reader inflates"));
        }
        let data = match method {
            0 => raw.to_vec(),
            8 => miniz_oxide::inflate::decompress_to_vec_with_limit(raw, MAX_ENTRY)
                .map_err(|e| format!("{name}: cannot inflate: {e:?}"))?,
            other => return Err(format!("{name}: compression method {other} is not supported")),
        };
        if data.len() != size || crc32(&data) as usize != crc {
            return Err(format!("{name}: size or CRC-32 does not match"));
        }
        out.push(Entry { name, data });
    }
    Ok(out)
}

/// CRC-32 (IEEE 802.3), as ZIP uses it.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A ZIP archive of `files`, deflated: for fakes and tests that must produce what an
/// intermediary sends.
pub fn write(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in files {
        let packed = miniz_oxide::deflate::compress_to_vec(data, 6);
        let header = |signature: &[u8], central: bool| {
            let mut h = signature.to_vec();
            if central {
                h.extend_from_slice(&20u16.to_le_bytes()); // made by
            }
            h.extend_from_slice(&20u16.to_le_bytes()); // needed to extract
            h.extend_from_slice(&0u16.to_le_bytes()); // flags
            h.extend_from_slice(&8u16.to_le_bytes()); // deflate
            h.extend_from_slice(&[0, 0, 0x21, 0]); // time, date (1980-01-01)
            h.extend_from_slice(&crc32(data).to_le_bytes());
            h.extend_from_slice(&(packed.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // extra
            h
        };
        let offset = out.len() as u32;
        out.extend(header(b"PK\x03\x04", false));
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&packed);
        central.extend(header(b"PK\x01\x02", true));
        central.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
        central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let start = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&start.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_it_writes() {
        let pdf = b"%PDF-1.4 a notice, repeated repeated repeated repeated".to_vec();
        let archive = write(&[("avviso_80001234568_01000000000123468.pdf", &pdf), ("empty.txt", b"")]);
        let files = entries(&archive).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].name, "avviso_80001234568_01000000000123468.pdf");
        assert_eq!(files[0].data, pdf);
        assert!(files[1].data.is_empty());
    }

    #[test]
    fn refuses_what_is_not_an_intact_archive() {
        assert!(entries(b"%PDF-1.4").is_err());
        let mut archive = write(&[("a.pdf", b"%PDF-1.4 hello")]);
        let at = archive.windows(5).position(|w| w == b"a.pdf").unwrap() + 5;
        archive[at] ^= 0xff; // corrupt the deflated data
        assert!(entries(&archive).is_err());
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }
}
