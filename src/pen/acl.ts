import net from 'node:net';

/** One entry of an access list: an IPv4 address and mask, or an IPv6 prefix. */
interface AclEntry {
  permit: boolean;
  family: 4 | 6;
  address: bigint;
  mask: bigint;
  /** As `write` prints it. */
  text: string;
}

export const ACL_COUNT = 10;

function ipToBigInt(ip: string): { family: 4 | 6; value: bigint } | null {
  const plain = ip.startsWith('::ffff:') && net.isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
  if (net.isIPv4(plain)) return { family: 4, value: plain.split('.').reduce((acc, p) => (acc << 8n) | BigInt(Number(p)), 0n) };
  if (!net.isIPv6(plain)) return null;
  const [head = '', tail = ''] = plain.split('::');
  const parts = (s: string) => (s === '' ? [] : s.split(':'));
  const h = parts(head);
  const t = parts(tail);
  const groups = plain.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return { family: 6, value: groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n) };
}

export class AclError extends Error {}

/**
 * pen's access lists: entries in order, the first match wins; when none matches, the answer is
 * the opposite of the last entry's; an empty list permits. As in pen, the stored IPv4 address
 * is not masked.
 */
export class Acls {
  private readonly lists: AclEntry[][] = Array.from({ length: ACL_COUNT }, () => []);

  private index(n: string): number {
    const i = Number(n);
    if (!Number.isInteger(i) || i < 0 || i >= ACL_COUNT) throw new AclError(`acl number ${n} out of range 0..${ACL_COUNT - 1}`);
    return i;
  }

  clear(n: string): void {
    this.lists[this.index(n)] = [];
  }

  /** `acl N permit|deny ADDRESS [MASK]` or `ADDRESS6[/LEN]`. */
  add(n: string, verdict: string, address: string, mask?: string): void {
    const list = this.lists[this.index(n)]!;
    if (verdict !== 'permit' && verdict !== 'deny') throw new AclError(`acl verdict must be permit or deny, not "${verdict}"`);
    const [ip, len] = address.split('/');
    const parsed = ip ? ipToBigInt(ip) : null;
    if (!parsed) throw new AclError(`acl address "${address}" is not an IPv4 or IPv6 address`);
    let maskValue: bigint;
    let text: string;
    if (parsed.family === 4) {
      const m = ipToBigInt(mask ?? '255.255.255.255');
      if (!m || m.family !== 4) throw new AclError(`acl mask "${mask}" is not an IPv4 mask`);
      maskValue = m.value;
      text = `${ip} ${mask ?? '255.255.255.255'}`;
    } else {
      const bits = len === undefined ? 128 : Number(len);
      if (!Number.isInteger(bits) || bits < 0 || bits > 128) throw new AclError(`acl prefix length "${len}" must be 0..128`);
      maskValue = bits === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - bits)) - 1n);
      text = `${ip}/${bits}`;
    }
    list.push({ permit: verdict === 'permit', family: parsed.family, address: parsed.value, mask: maskValue, text });
  }

  permits(n: number, client: string): boolean {
    const list = this.lists[n];
    if (!list || list.length === 0) return true;
    const ip = ipToBigInt(client);
    if (ip) {
      for (const e of list) if (e.family === ip.family && (ip.value & e.mask) === e.address) return e.permit;
    }
    return !list[list.length - 1]!.permit;
  }

  /** The lines `write` emits: `no acl N` then each entry. */
  describe(): string[] {
    return this.lists.flatMap((list, n) => [`no acl ${n}`, ...list.map((e) => `acl ${n} ${e.permit ? 'permit' : 'deny'} ${e.text}`)]);
  }
}
