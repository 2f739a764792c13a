// Counts packets and bytes in a classic libpcap stream as QEMU's `filter-dump` writes it
// (net/dump.c). Push-based: feed any slice of the file as it grows; a record split across
// pushes is finished by the next push. Layout (https://wiki.wireshark.org/Development/LibpcapFileFormat):
//   file header, 24 bytes: magic u32 (0xa1b2c3d4 in the writer's byte order), version 2.4,
//                          thiszone, sigfigs, snaplen u32, linktype u32 (1 = Ethernet)
//   each record:           ts_sec u32, ts_usec u32, incl_len u32, orig_len u32, then incl_len bytes
// We add up orig_len, the frame's full length, so a filter-dump with maxlen=1 (one byte kept per
// packet) still counts every byte the NIC carried.
export const PCAP_FILE_HEADER_BYTES = 24;
export const PCAP_RECORD_HEADER_BYTES = 16;
const PCAP_MAGIC = 0xa1b2c3d4;
/** Larger than any frame QEMU dumps (its snaplen is at most 65535 + headers); more means corruption. */
export const PCAP_MAX_RECORD_BYTES = 256 * 1024;

export class PcapFormatError extends Error {
  readonly code = 'PCAP_FORMAT';
}

export class PcapCounter {
  packets = 0;
  bytes = 0;
  #head = Buffer.alloc(PCAP_FILE_HEADER_BYTES);
  #have = 0; // bytes of the current header (file or record) collected so far
  #inFileHeader = true;
  #little = true;
  #skip = 0; // captured bytes of the current record still to pass over

  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - i);
        this.#skip -= n;
        i += n;
        continue;
      }
      const want = this.#inFileHeader ? PCAP_FILE_HEADER_BYTES : PCAP_RECORD_HEADER_BYTES;
      const n = Math.min(want - this.#have, chunk.length - i);
      this.#head.set(chunk.subarray(i, i + n), this.#have);
      this.#have += n;
      i += n;
      if (this.#have < want) break;
      this.#have = 0;
      if (this.#inFileHeader) this.#fileHeader();
      else this.#record();
    }
  }

  #fileHeader(): void {
    if (this.#head.readUInt32LE(0) === PCAP_MAGIC) this.#little = true;
    else if (this.#head.readUInt32BE(0) === PCAP_MAGIC) this.#little = false;
    else throw new PcapFormatError(`not a pcap stream (magic 0x${this.#head.readUInt32LE(0).toString(16)})`);
    this.#inFileHeader = false;
  }

  #record(): void {
    const u32 = (at: number): number => (this.#little ? this.#head.readUInt32LE(at) : this.#head.readUInt32BE(at));
    const incl = u32(8);
    const orig = u32(12);
    if (incl > PCAP_MAX_RECORD_BYTES || orig > PCAP_MAX_RECORD_BYTES || incl > orig) {
      throw new PcapFormatError(`pcap record with incl_len ${incl}, orig_len ${orig}`);
    }
    this.packets += 1;
    this.bytes += orig;
    this.#skip = incl;
  }
}
