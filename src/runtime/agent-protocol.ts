/**
 * Framing of the agent channel (see src/agent/sandboxd_agent.py): every frame is
 * u32 length (of what follows) | u8 kind | u32 channel | payload, big-endian.
 */
import { AgentFrame } from "./frame-kinds.js";

/** The agent channel's kinds, from the one table (frame-kinds.json). */
export const FrameKind = AgentFrame;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

export interface Frame {
  kind: number;
  channel: number;
  payload: Buffer;
}

const headerSize = 9;
/** A frame bigger than this means a corrupted channel, not a big message. */
const maxFrameBytes = 64 * 1024 * 1024;

export function encodeFrame(kind: number, channel: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const out = Buffer.allocUnsafe(headerSize + payload.byteLength);
  out.writeUInt32BE(payload.byteLength + 5, 0);
  out.writeUInt8(kind, 4);
  out.writeUInt32BE(channel, 5);
  out.set(payload, headerSize);
  return out;
}

/** Incremental decoder: feed chunks, get whole frames. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes the frame being gathered needs in all (0: not known yet). */
  private needed = 0;

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    // A frame arriving in many chunks is joined once, when it is whole (not at every chunk).
    if (this.buffered < 4 || this.buffered < this.needed) return frames;
    let buf = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.buffered);
    let pos = 0;
    while (buf.length - pos >= 4) {
      const length = buf.readUInt32BE(pos);
      if (length < 5 || length > maxFrameBytes) throw new Error(`corrupt agent frame (length ${length})`);
      if (buf.length - pos < 4 + length) break;
      frames.push({
        kind: buf.readUInt8(pos + 4),
        channel: buf.readUInt32BE(pos + 5),
        payload: buf.subarray(pos + headerSize, pos + 4 + length),
      });
      pos += 4 + length;
    }
    buf = buf.subarray(pos);
    this.chunks = buf.length > 0 ? [buf] : [];
    this.buffered = buf.length;
    this.needed = buf.length >= 4 ? 4 + buf.readUInt32BE(0) : 0;
    return frames;
  }
}
