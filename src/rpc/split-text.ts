/**
 * An answer too large to send as one frame without blocking the event loop: its
 * JSON text kept as the pieces it was written in (a sliced result's, between the
 * envelope's head and tail). The connection sends it in chunks of about CHUNK_CHARS,
 * as WebSocket fragments of one text message (RFC 6455 §5.4) or, on the line
 * transport, as one line written piece by piece, yielding to the event loop
 * between chunks. Joined, the chunks are exactly the answer's text.
 */

/** Answers at least this long (UTF-16 code units) are sent in chunks; shorter ones in one send. */
export const SPLIT_MIN_CHARS = 1024 * 1024;
/** About how much text one chunk (one fragment) carries. */
export const CHUNK_CHARS = 1024 * 1024;

export class SplitText {
  /** The text's length in UTF-16 code units, as the joined string's would be. */
  readonly length: number;

  constructor(readonly parts: readonly string[]) {
    let length = 0;
    for (const part of parts) length += part.length;
    this.length = length;
  }

  /** The whole text as one string (for a caller that needs one: processFrame, tests). */
  join(): string {
    return this.parts.join('');
  }

  /**
   * The text in chunks of about `size` code units, in order: small parts are joined
   * together, a part longer than `size` is cut, never between the two halves of a
   * surrogate pair (a lone half would not survive UTF-8 encoding).
   */
  *chunks(size: number = CHUNK_CHARS): Generator<string, void> {
    let group: string[] = [];
    let groupChars = 0;
    for (const part of this.parts) {
      if (part.length === 0) continue;
      if (groupChars > 0 && groupChars + part.length > size) {
        yield group.join('');
        group = [];
        groupChars = 0;
      }
      if (part.length <= size) {
        group.push(part);
        groupChars += part.length;
        continue;
      }
      let start = 0;
      while (part.length - start > size) {
        let end = start + size;
        if (isHighSurrogate(part.charCodeAt(end - 1))) end--;
        yield part.slice(start, end);
        start = end;
      }
      group.push(part.slice(start));
      groupChars = part.length - start;
    }
    if (groupChars > 0) yield group.join('');
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
