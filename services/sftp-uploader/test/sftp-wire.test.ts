/** The SFTP v3 wire format of the OpenSSH transport's client, without a server. */
import { describe, expect, it } from "vitest";
import { FieldReader, PACKET, PacketFramer, packet } from "../src/sftp-wire.ts";

describe("sftp packets", () => {
  it("frame the same packets however the byte stream is cut, whole ones and ones split anywhere", () => {
    const big = Buffer.alloc(300_000, 7);
    const packets = [
      packet(PACKET.STATUS, [{ u32: 1 }, { u32: 0 }, { str: "ok" }, { str: "" }]),
      packet(PACKET.DATA, [{ u32: 2 }, { str: big }]),
      packet(PACKET.HANDLE, [{ u32: 3 }, { str: Buffer.from([1, 2, 3]) }]),
    ];
    const stream = Buffer.concat(packets);
    for (const cut of [1, 3, 4, 5, 4096, 65536, stream.length]) {
      const seen: Buffer[] = [];
      const framer = new PacketFramer((p) => seen.push(Buffer.from(p)));
      for (let at = 0; at < stream.length; at += cut) framer.push(stream.subarray(at, at + cut));
      expect(
        seen.map((p) => p.length),
        `cut every ${cut} bytes`,
      ).toEqual(packets.map((p) => p.length - 4));
      const data = new FieldReader(seen[1]!, 1);
      expect(data.u32()).toBe(2);
      expect(data.bytes().equals(big)).toBe(true);
    }
  });

  it("write offsets past 4 GiB exactly, and refuse a packet length no server sends", () => {
    const offset = 5 * 1024 ** 3 + 123;
    const p = packet(PACKET.READ, [{ u32: 9 }, { str: "h" }, { u64: offset }, { u32: 1 }]);
    const r = new FieldReader(p, 5);
    expect([r.u32(), r.string(), r.u64(), r.u32()]).toEqual([9, "h", offset, 1]);
    const framer = new PacketFramer(() => undefined);
    expect(() => framer.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 1]))).toThrow(/sftp packet of \d+ bytes/);
  });
});
