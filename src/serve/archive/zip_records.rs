//! The zip format's records, byte by byte (PKWARE APPNOTE.TXT 6.3.10; section numbers below
//! are its): the local file header, the data descriptor, the central directory header, the
//! zip64 and extended-timestamp extra fields, the end records and DOS times. No I/O here;
//! `zip.rs` decides what goes in them.

/// What a local header and its central directory record share.
#[derive(Debug, Clone)]
pub struct Record {
    /// The name as stored: a folder's ends in `/`.
    pub name: Vec<u8>,
    pub method: u16,
    /// The data descriptor follows the data (bit 3): CRC and sizes are zero in the local
    /// header (4.4.4) and known only in the descriptor and the central directory.
    pub descriptor: bool,
    /// Sizes as 64-bit values in a zip64 extra field in the local header, and so in the
    /// descriptor (4.3.9.2).
    pub zip64: bool,
    pub crc: u32,
    pub compressed: u64,
    pub uncompressed: u64,
    pub mtime: i64,
    /// `st_mode` with its file type bits, for the Unix external attributes.
    pub unix_mode: u32,
}

pub const METHOD_STORED: u16 = 0;
pub const METHOD_DEFLATE: u16 = 8;

const LOCAL_SIGNATURE: u32 = 0x0403_4b50;
const DESCRIPTOR_SIGNATURE: u32 = 0x0807_4b50;
const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;
const END_SIGNATURE: u32 = 0x0605_4b50;
const ZIP64_END_SIGNATURE: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIGNATURE: u32 = 0x0706_4b50;

/// 4.4.4: bit 3, sizes and CRC in the data descriptor.
const FLAG_DESCRIPTOR: u16 = 1 << 3;
/// 4.4.4: bit 11, the name is UTF-8 (APPNOTE appendix D).
const FLAG_UTF8: u16 = 1 << 11;

/// 4.4.2: made by Unix (3), spec 4.5, so that readers take the mode from the high 16 bits
/// of the external attributes.
const VERSION_MADE_BY: u16 = (3 << 8) | 45;
/// 4.4.3.2: 2.0 for folders and deflate, 4.5 for zip64.
const VERSION_NEEDED: u16 = 20;
const VERSION_NEEDED_ZIP64: u16 = 45;

/// 4.5.3: the zip64 extended information extra field.
const EXTRA_ZIP64: u16 = 0x0001;
/// Info-ZIP's extended timestamp (APPNOTE 4.6.1 lists it; proginfo/extrafld.txt lays it out):
/// seconds since the epoch, as a signed 32-bit value.
const EXTRA_TIMESTAMP: u16 = 0x5455;
/// Its flag byte: the modification time is present.
const TIMESTAMP_MTIME: u8 = 1;

/// A 32-bit field that overflowed into the zip64 extra field (4.4.8, 4.4.9, 4.4.16).
pub const U32_FULL: u64 = 0xFFFF_FFFF;
/// The 16-bit entry count that says "see the zip64 end record" (4.4.21, 4.4.22).
const U16_FULL: u64 = 0xFFFF;

/// The Unix file type bits of the external attributes.
pub const S_IFREG: u32 = 0o100_000;
pub const S_IFDIR: u32 = 0o040_000;
/// MS-DOS's directory attribute, in the low byte of the external attributes.
const DOS_DIRECTORY: u32 = 0x10;

impl Record {
    fn flags(&self) -> u16 {
        let utf8 = if self.name.is_ascii() { 0 } else { FLAG_UTF8 };
        let descriptor = if self.descriptor { FLAG_DESCRIPTOR } else { 0 };
        utf8 | descriptor
    }

    fn timestamp(&self) -> Option<i32> {
        i32::try_from(self.mtime).ok()
    }

    fn push_timestamp(&self, out: &mut Vec<u8>) {
        if let Some(seconds) = self.timestamp() {
            push16(out, EXTRA_TIMESTAMP);
            push16(out, 5);
            out.push(TIMESTAMP_MTIME);
            out.extend_from_slice(&seconds.to_le_bytes());
        }
    }

    /// The local header's length, known before its CRC and sizes are.
    pub fn local_len(&self) -> usize {
        let zip64 = if self.zip64 { 20 } else { 0 };
        let timestamp = if self.timestamp().is_some() { 9 } else { 0 };
        30 + self.name.len() + zip64 + timestamp
    }

    /// 4.3.7: the local file header.
    pub fn local(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.local_len());
        let (crc, compressed, uncompressed) = if self.descriptor {
            (0, 0, 0)
        } else {
            (self.crc, self.compressed, self.uncompressed)
        };
        push32(&mut out, LOCAL_SIGNATURE);
        push16(&mut out, self.version_needed(self.zip64));
        push16(&mut out, self.flags());
        push16(&mut out, self.method);
        let (time, date) = dos_datetime(self.mtime);
        push16(&mut out, time);
        push16(&mut out, date);
        push32(&mut out, crc);
        if self.zip64 {
            // 4.5.3: in a local header the zip64 field holds both sizes, and the 32-bit ones
            // say so with all ones
            push32(&mut out, U32_FULL as u32);
            push32(&mut out, U32_FULL as u32);
        } else {
            push32(&mut out, to_u32(compressed));
            push32(&mut out, to_u32(uncompressed));
        }
        push16(&mut out, to_u16(self.name.len()));
        push16(&mut out, to_u16(self.local_len() - 30 - self.name.len()));
        out.extend_from_slice(&self.name);
        if self.zip64 {
            push16(&mut out, EXTRA_ZIP64);
            push16(&mut out, 16);
            push64(&mut out, uncompressed);
            push64(&mut out, compressed);
        }
        self.push_timestamp(&mut out);
        debug_assert_eq!(out.len(), self.local_len());
        out
    }

    /// 4.3.9: the data descriptor, with its optional signature (every reader we test checks
    /// for it); 64-bit sizes when the local header had a zip64 field.
    pub fn descriptor(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24);
        push32(&mut out, DESCRIPTOR_SIGNATURE);
        push32(&mut out, self.crc);
        if self.zip64 {
            push64(&mut out, self.compressed);
            push64(&mut out, self.uncompressed);
        } else {
            push32(&mut out, to_u32(self.compressed));
            push32(&mut out, to_u32(self.uncompressed));
        }
        out
    }

    /// 4.3.12: the central directory header of this entry, whose local header is at
    /// `offset`. A zip64 field carries each value that does not fit 32 bits (4.5.3: in this
    /// order, and only those); an entry that was zip64 in its local header says both sizes
    /// there too, so that the two agree.
    pub fn push_central(&self, out: &mut Vec<u8>, offset: u64) {
        let big_sizes = self.zip64 || self.compressed >= U32_FULL || self.uncompressed >= U32_FULL;
        let big_offset = offset >= U32_FULL;
        let mut zip64 = Vec::new();
        if big_sizes {
            push64(&mut zip64, self.uncompressed);
            push64(&mut zip64, self.compressed);
        }
        if big_offset {
            push64(&mut zip64, offset);
        }
        let mut extra = Vec::new();
        if !zip64.is_empty() {
            push16(&mut extra, EXTRA_ZIP64);
            push16(&mut extra, to_u16(zip64.len()));
            extra.extend_from_slice(&zip64);
        }
        self.push_timestamp(&mut extra);

        let full = |big: bool, value: u64| if big { U32_FULL as u32 } else { to_u32(value) };
        let directory = self.unix_mode & S_IFDIR != 0;
        let external = (self.unix_mode << 16) | if directory { DOS_DIRECTORY } else { 0 };
        push32(out, CENTRAL_SIGNATURE);
        push16(out, VERSION_MADE_BY);
        push16(out, self.version_needed(!zip64.is_empty()));
        push16(out, self.flags());
        push16(out, self.method);
        let (time, date) = dos_datetime(self.mtime);
        push16(out, time);
        push16(out, date);
        push32(out, self.crc);
        push32(out, full(big_sizes, self.compressed));
        push32(out, full(big_sizes, self.uncompressed));
        push16(out, to_u16(self.name.len()));
        push16(out, to_u16(extra.len()));
        push16(out, 0); // comment length
        push16(out, 0); // disk number start
        push16(out, 0); // internal attributes
        push32(out, external);
        push32(out, full(big_offset, offset));
        out.extend_from_slice(&self.name);
        out.extend_from_slice(&extra);
    }

    fn version_needed(&self, zip64: bool) -> u16 {
        if zip64 {
            VERSION_NEEDED_ZIP64
        } else {
            VERSION_NEEDED
        }
    }
}

/// 4.3.14 to 4.3.16: the end records after a central directory of `entries` entries and
/// `size` bytes starting at `offset`. The zip64 end record and its locator come first when a
/// count or an offset does not fit the classic record, whose fields then say so.
pub fn push_end(out: &mut Vec<u8>, entries: u64, size: u64, offset: u64) {
    let zip64 = entries >= U16_FULL || size >= U32_FULL || offset >= U32_FULL;
    if zip64 {
        let record_at = offset + size;
        push32(out, ZIP64_END_SIGNATURE);
        push64(out, 44); // the size of the rest of this record
        push16(out, VERSION_MADE_BY);
        push16(out, VERSION_NEEDED_ZIP64);
        push32(out, 0); // this disk
        push32(out, 0); // the disk where the central directory starts
        push64(out, entries); // on this disk
        push64(out, entries);
        push64(out, size);
        push64(out, offset);
        push32(out, ZIP64_LOCATOR_SIGNATURE);
        push32(out, 0); // the disk with the zip64 end record
        push64(out, record_at);
        push32(out, 1); // disks in all
    }
    let count = if entries >= U16_FULL {
        U16_FULL as u16
    } else {
        entries as u16
    };
    let full = |value: u64| {
        if value >= U32_FULL {
            U32_FULL as u32
        } else {
            value as u32
        }
    };
    push32(out, END_SIGNATURE);
    push16(out, 0); // this disk
    push16(out, 0); // the disk where the central directory starts
    push16(out, count);
    push16(out, count);
    push32(out, full(size));
    push32(out, full(offset));
    push16(out, 0); // comment length
}

/// 4.4.6: MS-DOS time and date (2-second steps, 1980 to 2107), here in UTC, since the server
/// has no time zone and the extended timestamp, which readers prefer, is UTC anyway. Times
/// outside the range are clamped to it.
pub fn dos_datetime(mtime: i64) -> (u16, u16) {
    const FIRST: i64 = 315_532_800; // 1980-01-01T00:00:00Z
    const LAST: i64 = 4_354_819_198; // 2107-12-31T23:59:58Z
    let t = mtime.clamp(FIRST, LAST);
    let (year, month, day) = civil_from_days(t.div_euclid(86_400));
    let secs = t.rem_euclid(86_400);
    let time = ((secs / 3600) << 11) | ((secs % 3600 / 60) << 5) | ((secs % 60) / 2);
    let date = ((year - 1980) << 9) | (i64::from(month) << 5) | i64::from(day);
    (time as u16, date as u16)
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
// TODO(#17): the same as `http::date`'s private one; share it once that layer exports it.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
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

fn push16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn push32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn push64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn to_u32(v: u64) -> u32 {
    u32::try_from(v).expect("a value over 32 bits has a zip64 field")
}

fn to_u16(v: usize) -> u16 {
    u16::try_from(v).expect("names and extra fields are checked to fit 16 bits")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str) -> Record {
        Record {
            name: name.as_bytes().to_vec(),
            method: METHOD_STORED,
            descriptor: false,
            zip64: false,
            crc: 0x1234_5678,
            compressed: 10,
            uncompressed: 10,
            mtime: 1_700_000_000,
            unix_mode: S_IFREG | 0o644,
        }
    }

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([b[at], b[at + 1]])
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn dos_times_are_utc_in_two_second_steps_and_clamped() {
        // 2023-11-14T22:13:20Z
        let (time, date) = dos_datetime(1_700_000_000);
        assert_eq!((date >> 9) + 1980, 2023);
        assert_eq!((date >> 5) & 0xF, 11);
        assert_eq!(date & 0x1F, 14);
        assert_eq!(
            (time >> 11, (time >> 5) & 0x3F, (time & 0x1F) * 2),
            (22, 13, 20)
        );
        assert_eq!(dos_datetime(0), (0, 1 << 5 | 1), "before 1980: 1980-01-01");
        assert_eq!(dos_datetime(i64::MAX).1 >> 9, 2107 - 1980);
    }

    #[test]
    fn a_local_header_with_a_descriptor_has_no_crc_or_sizes() {
        let mut r = record("a.txt");
        r.descriptor = true;
        let h = r.local();
        assert_eq!(u16_at(&h, 6) & FLAG_DESCRIPTOR, FLAG_DESCRIPTOR);
        assert_eq!(&h[14..26], &[0; 12]);
        assert_eq!(r.descriptor().len(), 16);
        r.zip64 = true;
        assert_eq!(
            r.descriptor().len(),
            24,
            "64-bit sizes after a zip64 local header"
        );
    }

    #[test]
    fn non_ascii_names_set_the_utf8_flag() {
        assert_eq!(u16_at(&record("a").local(), 6) & FLAG_UTF8, 0);
        assert_eq!(u16_at(&record("é").local(), 6) & FLAG_UTF8, FLAG_UTF8);
    }

    #[test]
    fn the_central_record_takes_zip64_only_for_what_overflows() {
        let mut out = Vec::new();
        record("a").push_central(&mut out, 5);
        assert_eq!(u16_at(&out, 30), 9, "only the timestamp");
        out.clear();
        record("a").push_central(&mut out, U32_FULL);
        assert_eq!(u16_at(&out, 30), 9 + 4 + 8, "the offset alone");
        assert_eq!(u32_at(&out, 42), U32_FULL as u32);
        assert_eq!(u32_at(&out, 20), 10, "the sizes stay in 32 bits");
        assert_eq!(u16_at(&out, 6), VERSION_NEEDED_ZIP64);
    }

    #[test]
    fn the_end_records_go_zip64_at_65535_entries() {
        let mut out = Vec::new();
        push_end(&mut out, 65_534, 100, 200);
        assert_eq!(out.len(), 22);
        out.clear();
        push_end(&mut out, 65_535, 100, 200);
        assert_eq!(out.len(), 56 + 20 + 22);
        assert_eq!(u32_at(&out, 0), ZIP64_END_SIGNATURE);
        assert_eq!(u16_at(&out, 76 + 8), 0xFFFF);
        assert_eq!(u32_at(&out, 76 + 12), 100, "a size that fits stays");
    }
}
