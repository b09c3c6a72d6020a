import { posix } from "node:path";

/**
 * What the artifact store needs to know about file formats: the format of a name, its MIME
 * type, and an image's size. Pure functions, no state.
 */
const mimeTypes: Record<string, string> = {
  png: "image/png",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  svg: "image/svg+xml",
  pdf: "application/pdf",
  eps: "application/postscript",
  html: "text/html",
  csv: "text/csv",
  tsv: "text/tab-separated-values",
  txt: "text/plain",
  md: "text/markdown",
  json: "application/json",
  xml: "application/xml",
  parquet: "application/vnd.apache.parquet",
  xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  zip: "application/zip",
  gz: "application/gzip",
  mp4: "video/mp4",
};

/** format (png, jpeg, html, ...) of a file name, from its extension. */
export function formatOf(name: string): string {
  const ext = posix.extname(name).slice(1).toLowerCase();
  return ({ jpg: "jpeg", htm: "html", svgz: "svg", text: "txt" } as Record<string, string>)[ext] ?? ext;
}

export function mimeOf(format: string): string {
  return mimeTypes[format] ?? "application/octet-stream";
}

/** Width and height from a PNG's IHDR chunk (0 when it is not a PNG). */
export function pngSize(data: Uint8Array): { width: number; height: number } {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (b.length < 24 || b.readUInt32BE(0) !== 0x89504e47 || b.toString("latin1", 12, 16) !== "IHDR") return { width: 0, height: 0 };
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}
