"""Read Go struct facts for the Kubernetes API types out of a Go binary (kubectl).

Why: the Kubernetes protobuf marshaller writes every non-pointer scalar field,
even when it holds the zero value, while Go's JSON encoder drops such fields
when their tag says `omitempty`.  To turn a protobuf body into the JSON kubectl
would have sent we must know, per field, whether it is a Go pointer and whether
its JSON tag has `omitempty` or `,inline`.  Neither k8s-pb nor the OpenAPI
schema records that; the Go reflection data inside any kubectl binary does
(struct field names, tags and types survive stripping because reflection
needs them).

Only the ELF64 little-endian layout of Go >= 1.21 runtime type descriptors is
understood (abi.Type, abi.StructType, abi.Name).  Usage:

    python3 gofacts.py /usr/bin/kubectl > facts.tsv

Each output row: go_package, type, proto_number, json_name, flags, go_type
(flags: o = omitempty, p = pointer, i = inline).
"""
import re
import struct
import sys

# reflect.Kind values (abi.Kind) that matter here.
K_PTR, K_SLICE, K_ARRAY, K_CHAN, K_MAP, K_STRUCT = 22, 23, 17, 18, 21, 25
# Size of the kind-specific header before an uncommonType, per kind.
UNCOMMON_AT = {25: 80, 22: 56, 23: 56, 21: 88, 24: 48}


class Binary:
    def __init__(self, path):
        with open(path, 'rb') as f:
            self.data = f.read()
        d = self.data
        if d[:4] != b'\x7fELF' or d[4] != 2 or d[5] != 1:
            raise ValueError('%s: not a little-endian ELF64 file' % path)
        shoff, = struct.unpack_from('<Q', d, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from('<HHH', d, 0x3a)
        raw = [struct.unpack_from('<IIQQQQ', d, shoff + i * shentsize) for i in range(shnum)]
        stroff = raw[shstrndx][4]
        self.sections = {}
        for name, typ, _flags, addr, off, size in raw:
            sname = d[stroff + name:d.index(b'\0', stroff + name)].decode()
            if typ != 8:  # SHT_NOBITS has no file bytes
                self.sections[sname] = (addr, off, size)
        if '.typelink' not in self.sections or '.rodata' not in self.sections:
            raise ValueError('%s: no Go type links (not a Go binary?)' % path)
        # Go's moduledata.types starts at .rodata for internally linked ELF binaries.
        self.types_base = self.sections['.rodata'][0]

    def off(self, addr):
        for a, o, s in self.sections.values():
            if a and a <= addr < a + s:
                return o + addr - a
        raise KeyError(hex(addr))

    def u8(self, a):
        return self.data[self.off(a)]

    def u64(self, a):
        return struct.unpack_from('<Q', self.data, self.off(a))[0]

    def i32(self, a):
        return struct.unpack_from('<i', self.data, self.off(a))[0]

    def varint(self, o):
        v = shift = 0
        while True:
            b = self.data[o]
            o += 1
            v |= (b & 0x7f) << shift
            shift += 7
            if b < 0x80:
                return v, o

    def name(self, addr):
        """abi.Name: flags byte, uvarint length, bytes, then the tag if flag bit 1."""
        o = self.off(addr)
        flags = self.data[o]
        n, o = self.varint(o + 1)
        text = self.data[o:o + n].decode('utf-8', 'replace')
        o += n
        tag = ''
        if flags & 2:
            tl, o = self.varint(o)
            tag = self.data[o:o + tl].decode('utf-8', 'replace')
        return text, tag

    def kind(self, t):
        return self.u8(t + 23) & 0x1f

    def type_name(self, t):
        text, _ = self.name(self.types_base + self.i32(t + 40))
        if self.u8(t + 20) & 2:  # TFlagExtraStar: stored name has a leading '*'
            text = text[1:]
        return text

    def pkg_path(self, t):
        if not self.u8(t + 20) & 1:  # TFlagUncommon
            return ''
        at = UNCOMMON_AT.get(self.kind(t))
        if at is None:
            return ''
        off = struct.unpack_from('<I', self.data, self.off(t + at))[0]
        return self.name(self.types_base + off)[0]


def extract(path, prefixes=('k8s.io/',)):
    b = Binary(path)
    _, tl_off, tl_size = b.sections['.typelink']
    stack = [b.types_base + struct.unpack_from('<i', b.data, tl_off + 4 * i)[0]
             for i in range(tl_size // 4)]
    seen, structs = set(), {}
    while stack:
        t = stack.pop()
        if t in seen or t == 0:
            continue
        seen.add(t)
        try:
            k = b.kind(t)
            if k in (K_PTR, K_SLICE, K_ARRAY, K_CHAN):
                stack.append(b.u64(t + 48))
            elif k == K_MAP:
                stack += [b.u64(t + 48), b.u64(t + 56)]
            elif k == K_STRUCT:
                fp, fl = b.u64(t + 56), b.u64(t + 64)
                fields = [struct.unpack_from('<QQ', b.data, b.off(fp + 24 * i)) for i in range(fl)]
                stack += [typ for _, typ in fields]
                structs[t] = fields
        except (KeyError, IndexError, struct.error):
            continue  # an address outside the file: not a type we can read
    rows = set()
    for t, fields in structs.items():
        pkg = b.pkg_path(t)
        if not pkg.startswith(prefixes):
            continue
        tname = b.type_name(t).split('.')[-1]
        for name_addr, typ in fields:
            fname, tag = b.name(name_addr)
            pm = re.search(r'protobuf:"([^"]*)"', tag)
            if not pm:
                continue
            parts = pm.group(1).split(',')
            if len(parts) < 2 or not parts[1].isdigit():
                continue  # `protobuf:"-"`: marshalled by hand (Time, MicroTime)
            num = int(parts[1])
            jm = re.search(r'json:"([^"]*)"', tag)
            jparts = (jm.group(1) if jm else fname).split(',')
            flags = ''
            if 'omitempty' in jparts[1:]:
                flags += 'o'
            if b.kind(typ) == K_PTR:
                flags += 'p'
            if 'inline' in jparts[1:]:
                flags += 'i'
            rows.add((pkg, tname, num, jparts[0], flags, b.type_name(typ)))
    return sorted(rows)


if __name__ == '__main__':
    for row in extract(sys.argv[1]):
        print('\t'.join(map(str, row)))
